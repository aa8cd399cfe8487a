"""Peak memory of `builder run` on a .npy input, against the bound of issue 6.

    python benchmarks/bench_memory.py [--samples 10000 20000] [--runs 3] [--config configs/seed_cnn.yaml]

For each sample count, writes X.npy (float32, standard normal) to a temporary folder and
runs `python -m builder run CONFIG --input X.npy --output Y.npy` in a subprocess. Its
peak resident set size comes from /usr/bin/time (%M, the max RSS the kernel recorded);
while it runs, /proc/<pid>/status is polled for the peaks of RssAnon (heap: arrays,
buffers, Python objects) and RssFile (file pages mapped in: shared libraries, and any
memory-mapped file; builder reads and writes .npy rows with plain file I/O).

Compared with
- the interpreter baseline: peak RSS of `python -c "import builder.cli, numpy"`;
- the command's fixed cost: `builder run CONFIG --random 1` (every import, weights, one sample);
- the bound: 2 × (weights + input chunk + two largest activations of a chunk), with the
  chunk size `builder run` picks when given no --batch-size (Model.default_chunk()).
The target is: peak − interpreter baseline < bound, and the same for every sample count.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from machine import header_lines, source_version  # noqa: E402

from builder.config import parse  # noqa: E402
from builder.model import Model  # noqa: E402


@dataclass
class Peak:
    """Peak memory of one subprocess, in bytes."""

    max_rss: int
    rss_anon: int
    rss_file: int
    seconds: float


TIME = Path("/usr/bin/time")


def measure(command: list[str]) -> Peak:
    """Run `command` from the repository root: its peak RSS and polled peaks of RssAnon/RssFile.

    Peak RSS comes from GNU time's %M when /usr/bin/time exists, else from the last VmHWM
    read in /proc. Not from wait4/RUSAGE_CHILDREN on our own child: Linux records the
    spawning process's high-water mark into the child's ru_maxrss at exec (subprocess
    spawns with vfork), so every child would look at least as large as this script.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        wrapped = [str(TIME), "-f", "%M", "-o", report.name, *command] if TIME.exists() else command
        start = time.perf_counter()
        child = subprocess.Popen(
            wrapped, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        polled: dict[str, int] = {}
        while child.poll() is None:
            target = _only_child(child.pid) if TIME.exists() else child.pid
            for key, value in (_status(target) if target else {}).items():
                polled[key] = max(polled.get(key, 0), value)
            time.sleep(0.002)
        seconds = time.perf_counter() - start
        errors = child.stderr.read().decode() if child.stderr else ""
        if child.returncode != 0:
            raise SystemExit(f"FAIL: {' '.join(command)} exited with {child.returncode}:\n{errors}")
        max_rss = int(report.read().split()[-1]) * 1024 if TIME.exists() else polled.get("VmHWM", 0)
    return Peak(max_rss, polled.get("RssAnon", 0), polled.get("RssFile", 0), seconds)


def _only_child(pid: int) -> int | None:
    """The process `pid` started (the command under /usr/bin/time), once it exists."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            children = handle.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _status(pid: int) -> dict[str, int]:
    """Memory lines of /proc/<pid>/status in bytes ({} once the process is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if value.strip().endswith("kB"):
                    found[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return found


def median_peak(command: list[str], runs: int) -> Peak:
    peaks = [measure(command) for _ in range(runs)]
    return Peak(
        int(statistics.median(p.max_rss for p in peaks)),
        int(statistics.median(p.rss_anon for p in peaks)),
        int(statistics.median(p.rss_file for p in peaks)),
        statistics.median(p.seconds for p in peaks),
    )


def bound(config: Path) -> tuple[int, list[str]]:
    """2 × (weights + input chunk + two largest activations of a chunk), and how it was computed."""
    model = Model.from_spec(parse(config))
    chunk = model.default_chunk()
    item = model.dtype.itemsize
    weights = model.weight_bytes()
    input_chunk = chunk * math.prod(model.input_shape) * item
    largest = sorted((math.prod(node.output_shape), node.name) for node in model.nodes)[-2:]
    activations = chunk * sum(size for size, _ in largest) * item
    total = 2 * (weights + input_chunk + activations)
    lines = [
        f"chunk: {chunk} samples (builder run's default: at most 256, within a 256 MiB work budget)",
        f"weights {mib(weights)} + input chunk {mib(input_chunk)} + two largest activations of a chunk "
        f"({', '.join(name for _, name in largest)}) {mib(activations)}; bound = 2 × that = {mib(total)}",
    ]
    return total, lines


def write_input(path: Path, count: int, shape: tuple[int, ...]) -> None:
    """A float32 standard-normal .npy, written in slices so this process stays small."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, *shape))
    rng = np.random.default_rng(0)
    for start in range(0, count, 1000):
        part = array[start : start + 1000]
        part[...] = rng.standard_normal(part.shape, dtype=np.float32)
    array.flush()
    del array


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--samples", type=int, nargs="+", default=[10_000, 20_000], help="sample counts to run"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per measurement; the median is reported"
    )
    parser.add_argument(
        "--config", default="configs/seed_cnn.yaml", help="config, relative to the repository root"
    )
    args = parser.parse_args(argv)
    config = ROOT / args.config
    python = sys.executable
    print("\n".join(header_lines({"builder": source_version(ROOT / "builder")})))
    total_bound, bound_lines = bound(config)
    model = Model.from_spec(parse(config))
    print(
        f"config:  {args.config}, input {model.input_shape}, output {model.output_shape}, {model.dtype}"
    )
    print("\n".join(f"bound:   {line}" for line in bound_lines))
    source = (
        "/usr/bin/time %M" if TIME.exists() else "last VmHWM polled from /proc (no /usr/bin/time)"
    )
    print(
        f"runs:    median of {args.runs}; peak RSS = {source}; "
        "RssAnon / RssFile = peaks polled from /proc/<pid>/status every 2 ms"
    )

    interpreter = median_peak([python, "-c", "import builder.cli, numpy"], args.runs)
    fixed = median_peak([python, "-m", "builder", "run", args.config, "--random", "1"], args.runs)
    rows = [
        ("interpreter: import builder.cli, numpy", interpreter, None),
        ("builder run --random 1 (fixed cost)", fixed, None),
    ]
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as folder:
        for count in args.samples:
            x_path, y_path = Path(folder) / f"x_{count}.npy", Path(folder) / f"y_{count}.npy"
            write_input(x_path, count, model.input_shape)
            command = [
                python,
                "-m",
                "builder",
                "run",
                args.config,
                "--input",
                str(x_path),
                "--output",
                str(y_path),
            ]
            rows.append(
                (
                    f"builder run, {count:,} samples from .npy",
                    median_peak(command, args.runs),
                    count,
                )
            )
            x_path.unlink()
            y_path.unlink()

    print()
    print(
        f"  {'command':<42}{'peak RSS':>11}{'above interp.':>15}{'/ bound':>9}{'RssAnon':>11}"
        f"{'RssFile':>11}{'wall s':>8}  target"
    )
    print("  " + "-" * 117)
    for label, peak, count in rows:
        above = peak.max_rss - interpreter.max_rss
        verdict = ("met" if above < total_bound else "NOT met") if count else ""
        print(
            f"  {label:<42}{mib(peak.max_rss):>11}{mib(above):>15}{above / total_bound:>8.2f}x"
            f"{mib(peak.rss_anon):>11}{mib(peak.rss_file):>11}{peak.seconds:>8.2f}  {verdict}"
        )
    runs = [(count, peak) for _, peak, count in rows if count]
    if len(runs) > 1:
        (first, a), (last, b) = runs[0], runs[-1]
        print(
            f"\n  growth from {first:,} to {last:,} samples: peak RSS {mib(b.max_rss - a.max_rss)}, "
            f"RssAnon {mib(b.rss_anon - a.rss_anon)}, RssFile {mib(b.rss_file - a.rss_file)}"
        )
        per_sample = (
            math.prod(model.input_shape) + math.prod(model.output_shape)
        ) * model.dtype.itemsize
        print(
            f"  (input + output file bytes for {last - first:,} more samples: {mib((last - first) * per_sample)}; "
            "growth near this would mean the input or output is held in memory)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
