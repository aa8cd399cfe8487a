"""Issue 11, property: random `.npy`/`.npz` bytes and headers for `run --input` and
`--weights` give a valid run or exit 1 with exactly one line, never a traceback or a hang.

The model has one weight (`p_re_lu/alpha`, shape (3,)), so a weights file with one
member can have at most one problem. Each case runs in-process through CliRunner, under a
SIGALRM watchdog that turns a hang into a failure.
"""

from __future__ import annotations

import io
import signal
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.cli import cli

CONFIG = "input_shape: [3]\nlayers: [PReLU]\n"

DESCRS = [
    "<f4",
    "<f8",
    ">f4",
    "|u1",
    "<i8",
    "|b1",
    "<c8",
    "|O",
    "<U3",
    "|V8",
    "garbage",
    "[('a', '<f4')]",
]
SHAPES = st.lists(
    st.one_of(st.integers(-3, 6), st.sampled_from([2**31, 2**62, 2**64, 10**30])), max_size=4
).map(tuple)


@st.composite
def npy_bytes(draw: st.DrawFn) -> bytes:
    """An npy file whose header fields and data length are drawn, sometimes mangled."""
    descr = draw(st.sampled_from(DESCRS))
    shape = draw(st.one_of(SHAPES, st.sampled_from([(3,), (2, 3), (0, 3)])))
    fortran = draw(st.sampled_from(["False", "True", "0", "'no'"]))
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    if draw(st.booleans()):
        text = draw(st.sampled_from(["{}", "[1, 2]", "{'descr': '<f4'}", "not python", text[:-3]]))
    body = text.encode() + b" " * draw(st.integers(0, 80)) + b"\n"
    version = draw(st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"]))
    size = struct.pack("<H" if version == b"\x01\x00" else "<I", len(body))
    if draw(st.booleans()):
        size = draw(st.binary(min_size=len(size), max_size=len(size)))
    data = draw(st.binary(max_size=200))
    magic = b"\x93NUMPY" if draw(st.integers(0, 9)) else draw(st.binary(min_size=6, max_size=6))
    return magic + version + size + body + data


def npz_bytes(members: list[tuple[str, bytes]], deflate: bool) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def archive_of(name: str) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda data, deflate: npz_bytes([(name, data)], deflate),
        st.one_of(npy_bytes(), st.binary(max_size=300)),
        st.booleans(),
    )


ANY_FILE = st.one_of(st.binary(max_size=400), npy_bytes())


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    def hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_run(folder: Path, args: list[str]) -> None:
    config = folder / "m.yaml"
    config.write_text(CONFIG)
    with watchdog(20):
        result = CliRunner().invoke(cli, ["run", str(config), *args])
    if result.exit_code == 0:
        assert result.stdout.startswith("output: shape ("), result.output
        return
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), lines
    assert "Traceback" not in result.output


FUZZ = settings(
    max_examples=150,
    deadline=None,  # the watchdog bounds each case; timing varies on a loaded machine
    database=None,  # nothing written outside tmp_path
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    content=st.one_of(ANY_FILE, archive_of("x.npy"), archive_of("x")),
    name=st.sampled_from(["x.npy", "x.npz"]),
)
def test_random_inputs_run_or_fail_in_one_line(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    check_run(tmp_path, ["--input", str(path)])


@FUZZ
@given(content=st.one_of(st.binary(max_size=400), archive_of("p_re_lu/alpha.npy")))
def test_random_weights_run_or_fail_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(content)
    check_run(tmp_path, ["--random", "2", "--weights", str(path)])
