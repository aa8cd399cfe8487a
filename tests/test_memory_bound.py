"""`--max-memory` bounds the whole process, measured (issue 11, items 12, 13 and 16).

Each run is a child process that writes its own peak resident memory (VmHWM of
/proc/self/status) when it exits: getrusage's ru_maxrss is not used, because Linux carries
the forking parent's (pytest's) peak into the child's across exec. The bound is the limit plus 80 MiB: the interpreter with NumPy, click and
pydantic loaded is about 50 MiB before any data. Before the fix, `--random` drew its whole
input in float64 and cast it (3x the input), and the printed output, an `.npz` input and a
float64 file's chunks were not counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from builder.cli import cli

MiB = 2**20
ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = str(ROOT / "configs" / "seed_cnn.yaml")
FEATURES = 784


def relu_config(folder: Path) -> Path:
    path = folder / "relu.yaml"
    path.write_text(f"input_shape: [{FEATURES}]\nlayers:\n  - ReLU: {{}}\n")
    return path


REPORT_PEAK = """
import atexit, sys

path = sys.argv[1]

def report():  # VmHWM: this process's peak resident set since its exec, in kB
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            with open(path, "w") as out:
                out.write(line.split()[1])

atexit.register(report)
sys.argv = ["builder", *sys.argv[2:]]
from builder.cli import main
main()
"""


def peak_rss(folder: Path, *args: str) -> tuple[int, str, int]:
    """(exit status, stderr, peak resident bytes) of `builder ARGS` in a child process."""
    report = folder / "peak.txt"
    done = subprocess.run(
        [sys.executable, "-c", REPORT_PEAK, str(report), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        check=False,
    )
    peak = int(report.read_text()) * 1024
    report.unlink()
    return done.returncode, done.stderr.decode(), peak


@pytest.mark.parametrize(
    ("case", "limit_mib"),
    [
        ("random printed", 210),  # the output (194 MiB) is held; chunks fit the rest
        ("random to npy", 100),
        ("float64 npy to npy", 100),  # each chunk read as float64, then cast
        ("npz printed", 150),  # the 60 MiB input and the output are held
    ],
)
def test_peak_memory_stays_under_the_limit(tmp_path: Path, case: str, limit_mib: int) -> None:
    config = relu_config(tmp_path)
    rng = np.random.default_rng(0)
    if case == "random printed":
        source = ["--random", "65000"]
    elif case == "random to npy":
        source = ["--random", "130000", "--output", str(tmp_path / "y.npy")]
    elif case == "float64 npy to npy":
        np.save(tmp_path / "x.npy", rng.standard_normal((30000, FEATURES)))
        source = ["--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]
    else:
        x = rng.standard_normal((20000, FEATURES)).astype(np.float32)
        np.savez(tmp_path / "x.npz", x=x)
        del x
        source = ["--input", str(tmp_path / "x.npz")]
    status, stderr, peak = peak_rss(
        tmp_path, "run", str(config), *source, "--max-memory", f"{limit_mib}MiB"
    )
    assert status == 0, stderr
    assert peak < (limit_mib + 80) * MiB, f"{case}: peak {peak / MiB:.0f} MiB"
    if "--output" in source:
        y = np.load(tmp_path / "y.npy", mmap_mode="r")
        assert y.dtype == np.float32 and y.shape[1:] == (FEATURES,)
        assert float(np.min(y[:1000])) == 0.0  # ReLU of normal draws: zeros and positives


def test_weights_initialisation_counts(tmp_path: Path) -> None:
    # A 4000x4000 float32 kernel (61 MiB) drawn from a truncated normal: before the fix the
    # whole draw existed in float64 with |x| and a mask beside it (peak 305 MiB).
    config = tmp_path / "dense.yaml"
    config.write_text(
        "input_shape: [4000]\nlayers:\n  - Dense: {units: 4000, kernel_initializer: he_normal}\n"
    )
    status, stderr, _ = peak_rss(
        tmp_path, "run", str(config), "--random", "1", "--max-memory", "70MiB"
    )
    assert status == 1
    # 16,000,000 values: 1 byte each for redraw positions, plus 2**17 x 18 bytes of blocks
    assert stderr == (
        "the weights need 61.05 MB (and 17.51 MB while they are made), over the memory "
        "limit of 70.00 MB (raise it with --max-memory)\n"
    )
    status, stderr, peak = peak_rss(
        tmp_path, "run", str(config), "--random", "1", "--max-memory", "100MiB"
    )
    assert status == 0, stderr
    assert peak < (100 + 80) * MiB


# --------------------------------------------------------------------------- item 13


def test_max_memory_above_the_machine_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine of 100 kB: the seed CNN's 217.75 KB of weights cannot fit whatever the option.
    monkeypatch.setattr("builder.memory.usable_memory", lambda: 100 * 1024)
    result = CliRunner().invoke(cli, ["run", SEED_CNN, "--random", "1", "--max-memory", "64GiB"])
    assert result.exit_code == 1
    assert result.stderr == (
        "the weights need 217.75 KB, over this machine's memory of 100.00 KB "
        "(--max-memory 64.00 GB is more than it has)\n"
    )


def test_the_machine_limit_only_shrinks_chunks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 32 MiB of machine (up to 16 of them kernel scratch, with two worker threads): room for
    # the weights and a few samples a chunk, so the run completes.
    monkeypatch.setattr("builder.memory.usable_memory", lambda: 32 * 1024 * 1024)
    out = tmp_path / "y.npy"
    result = CliRunner().invoke(
        cli, ["run", SEED_CNN, "--random", "20", "--max-memory", "64GiB", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (20, 3, 3, 64)


def test_usable_memory_is_the_physical_memory_at_most() -> None:
    from builder.memory import usable_memory

    found = usable_memory()
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert found is not None and 0 < found <= physical


def test_memory_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise MemoryError(
            "Unable to allocate 3.00 GiB for an array with shape (1000, 1000, 800)\n"
            "and data type float32"
        )

    monkeypatch.setattr("builder.model.Model.forward", refuse)
    result = CliRunner().invoke(cli, ["run", SEED_CNN, "--random", "2"])
    assert result.exit_code == 1
    assert result.stderr == (
        "out of memory: Unable to allocate 3.00 GiB for an array with shape (1000, 1000, 800) "
        "and data type float32 (lower --batch-size or --max-memory)\n"
    )


# --------------------------------------------------------------------------- item 16


def test_init_needs_memory_for_the_weights_only(tmp_path: Path) -> None:
    # One sample's activations are 2 x 4.8 GB, over the 4 GiB default; the weights are 2.35 KB.
    config = tmp_path / "wide.yaml"
    config.write_text("input_shape: [4000000, 300]\nlayers:\n  - Dense: {units: 2}\n")
    result = CliRunner().invoke(cli, ["init", str(config), "-o", str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "w.npz") as weights:
        assert weights["dense/kernel"].shape == (300, 2)
        assert weights["dense/bias"].shape == (2,)


def test_init_refusal_names_an_option_it_has(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["init", SEED_CNN, "-o", str(tmp_path / "w.npz"), "--max-memory", "100KB"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "the weights need 217.75 KB, over the memory limit of 100.00 KB "
        "(raise it with --max-memory)\n"
    )
    assert "--max-memory" in runner.invoke(cli, ["init", "--help"]).output
    assert list(tmp_path.iterdir()) == []
