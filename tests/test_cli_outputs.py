"""Issue 11, items 1-6: output files, stop signals and a closed standard output.

Every output path is vetted before any work (`builder.io.check_output_path`); device nodes
and FIFOs are made inside tmp_path only (as root, `os.mknod`), and the commands must leave
them as they were. Signal and pipe tests run `python -m builder` in a subprocess.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from builder.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = str(ROOT / "configs" / "seed_cnn.yaml")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def refused(result: Result, code: int = 1) -> str:
    """The command failed with `code` and a message, no traceback; returns stderr."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.stderr


def make_special(path: Path, kind: str) -> None:
    """A FIFO or a character device (/dev/null's numbers) at `path`, inside tmp_path."""
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))


def commands_writing(output: Path) -> list[list[str]]:
    return [
        ["run", SEED_CNN, "--random", "2", "--output", str(output)],
        ["init", SEED_CNN, "-o", str(output)],
        ["schema", "-o", str(output)],
    ]


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("command", [0, 1, 2], ids=["run", "init", "schema"])
def test_special_file_at_the_output_is_refused(tmp_path: Path, kind: str, command: int) -> None:
    target = tmp_path / "out.npy"  # a suffix that `run --output` accepts
    make_special(target, kind)
    before = os.lstat(target)
    stderr = refused(invoke(*commands_writing(target)[command]))
    assert stderr == f"{target}: not a regular file\n"
    after = os.lstat(target)
    assert (after.st_mode, after.st_rdev, after.st_ino) == (
        before.st_mode,
        before.st_rdev,
        before.st_ino,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]  # no temporary left


def test_link_to_a_device_is_refused(tmp_path: Path) -> None:
    make_special(tmp_path / "node", "device")
    (tmp_path / "link.npy").symlink_to(tmp_path / "node")
    stderr = refused(
        invoke("run", SEED_CNN, "--random", "1", "--output", str(tmp_path / "link.npy"))
    )
    assert "not a regular file" in stderr
    assert stat.S_ISCHR(os.stat(tmp_path / "link.npy").st_mode)


@pytest.mark.parametrize("name", ["", "folder", "folder/", "missing/"])
@pytest.mark.parametrize("command", [0, 1, 2], ids=["run", "init", "schema"])
def test_folder_or_empty_output_is_a_usage_error(tmp_path: Path, name: str, command: int) -> None:
    (tmp_path / "folder").mkdir()
    output = f"{tmp_path}/{name}" if name else ""  # (a Path would drop the final /)
    args = commands_writing(Path("x"))[command]
    args[-1] = output
    refused(invoke(*args), code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert list((tmp_path / "folder").iterdir()) == []


# --------------------------------------------------------------------------- item 2


def test_output_that_is_the_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "m.npy"  # a config may have any name; `run --output` wants .npy/.npz
    config.write_text(Path(SEED_CNN).read_text())
    for args in (
        ["init", str(config), "-o", str(config)],
        ["run", str(config), "--random", "1", "--output", str(config)],
    ):
        stderr = refused(invoke(*args))
        assert "is the config this command reads" in stderr
    assert config.read_text() == Path(SEED_CNN).read_text()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("role", ["input", "weights"])
def test_output_that_is_an_input_is_refused_also_through_links(
    tmp_path: Path, role: str, link: str
) -> None:
    source = tmp_path / "source.npz"
    if role == "input":
        source = tmp_path / "x.npy"
        np.save(source, np.ones((2, 28, 28, 1), dtype=np.float32))
    else:
        assert invoke("init", SEED_CNN, "-o", str(source)).exit_code == 0
    content = source.read_bytes()
    output = source
    if link == "symlink":
        output = tmp_path / "alias.npy"
        output.symlink_to(source)
    elif link == "hardlink":
        output = tmp_path / "alias.npy"
        os.link(source, output)
    reading = (
        ["--input", str(source)] if role == "input" else ["--random", "1", "--weights", str(source)]
    )
    stderr = refused(invoke("run", SEED_CNN, *reading, "--output", str(output)))
    assert f"is the {role} this command reads" in stderr
    assert source.read_bytes() == content


# --------------------------------------------------------------------------- items 3, 4


def test_replaced_output_keeps_its_permission_bits(tmp_path: Path) -> None:
    output = tmp_path / "y.npy"
    output.write_bytes(b"old")
    output.chmod(0o640)
    assert invoke("run", SEED_CNN, "--random", "2", "--output", str(output)).exit_code == 0
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o640
    assert np.load(output).shape == (2, 3, 3, 64)
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"old")
    weights.chmod(0o600)
    assert invoke("init", SEED_CNN, "-o", str(weights)).exit_code == 0
    assert stat.S_IMODE(os.stat(weights).st_mode) == 0o600


def test_output_name_of_the_longest_length_the_file_system_accepts(tmp_path: Path) -> None:
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    output = tmp_path / ("y" * (longest - 4) + ".npy")
    result = invoke("run", SEED_CNN, "--random", "2", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert np.load(output).shape == (2, 3, 3, 64)
    assert [p.name for p in tmp_path.iterdir()] == [output.name]


# --------------------------------------------------------------------------- items 5, 6


def builder_process(tmp_path: Path, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "builder", *args],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


def wait_for(condition: object, limit: float = 30.0) -> None:
    """Poll `condition()` (a callable) until true; a generous limit, never a timing assertion."""
    end = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "the condition never held"
        time.sleep(0.005)


def catches(pid: int, signum: int) -> bool:
    """True once the process has a handler for `signum` (Linux: SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGQUIT", "SIGINT"])
def test_stop_signal_mid_run_keeps_the_old_output(tmp_path: Path, name: str) -> None:
    signum = getattr(signal, name)
    output = tmp_path / "y.npy"
    output.write_bytes(b"previous output")
    process = builder_process(
        tmp_path, "run", SEED_CNN, "--random", "20000", "--batch-size", "1", "--output", "y.npy"
    )
    wait_for(lambda: any(p.suffix == ".part" for p in tmp_path.iterdir()))  # writing began
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    assert stderr.decode() == f"interrupted by {name}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.npy"]
    assert output.read_bytes() == b"previous output"


def test_ctrl_c_during_start_up_prints_no_traceback(tmp_path: Path) -> None:
    process = builder_process(tmp_path, "run", SEED_CNN, "--random", "2", stdout=subprocess.PIPE)
    # Once main() has installed its handlers (SIGTERM is caught), the command is still
    # importing NumPy and parsing the config: that is start-up.
    wait_for(lambda: catches(process.pid, signal.SIGTERM) or process.poll() is not None)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr
    if process.returncode != 0:  # the run may have finished before the signal arrived
        assert (process.returncode, stderr) == (130, b"interrupted by SIGINT\n")


@pytest.mark.parametrize(
    "args",
    [["summarize", SEED_CNN], ["schema"], ["run", SEED_CNN, "--random", "3"]],
    ids=["summarize", "schema", "run"],
)
def test_closed_stdout_ends_quietly(tmp_path: Path, args: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` having exited: every write gets EPIPE
    try:
        process = builder_process(tmp_path, *args, stdout=write_end)
    finally:
        os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    assert stderr == b""
    assert process.returncode == 128 + signal.SIGPIPE
