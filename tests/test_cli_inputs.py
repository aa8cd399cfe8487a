"""Issue 11, items 7-9 and 11: inputs and weights files that are not what they claim.

Device nodes and FIFOs are made inside tmp_path only. Zip archives are crafted by hand
(`zip_archive`) so that a member's directory entry, npy header and data can disagree; the
3 GB bomb is a real deflate stream built from one repeated, independently flushed
segment, so making it costs milliseconds.
"""

from __future__ import annotations

import os
import stat
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from builder.cli import cli
from builder.errors import DataError
from builder.io import load_array

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = str(ROOT / "configs" / "seed_cnn.yaml")
MNIST = str(ROOT / "configs" / "mnist_convnet.yaml")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def refused(result: Result, code: int = 1) -> list[str]:
    """Exit `code`, a message and no traceback; returns the stderr lines."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.stderr.splitlines()


def npy_header(shape: tuple[int, ...], descr: str = "<f4", fortran: bool = False) -> bytes:
    """A version 1.0 npy header (magic, length, dict padded to 64 bytes), as np.save writes."""
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    body = text.encode("latin1")
    body += b" " * (-(len(body) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def zip_archive(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip file of (name, stored bytes, method (0 stored, 8 deflated), declared size).

    The declared uncompressed size and the data are taken as given, so they may lie. The
    CRC is right for stored members and 0 for deflated ones (checked only once a member
    is read to its end, which must not happen to those).
    """
    body, directory = b"", b""
    for name, data, method, size in members:
        raw = name.encode()
        crc = zlib.crc32(data) if method == 0 else 0
        fields = (20, 0, method, 0, 0, crc, len(data), size, len(raw), 0)
        local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields) + raw
        central = struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, len(body)
        )
        directory += central + raw
        body += local + data
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0
    )
    return body + directory + end


def deflate_zeros(header: bytes, zero_bytes: int, segment: int = 1 << 24) -> bytes:
    """A raw deflate stream of `header` followed by `zero_bytes` zeros, ~1,000:1.

    After a full flush a deflate compressor forgets everything, so the compressed bytes of
    one segment of zeros can be repeated: the stream is valid and inflates to the full size.
    """
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = first.compress(header) + first.flush(zlib.Z_FULL_FLUSH)
    again = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = again.compress(bytes(segment)) + again.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(zero_bytes, segment)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    return start + repeated * count + last.compress(bytes(rest)) + last.flush()


def bomb(path: Path, name: str, shape: tuple[int, ...]) -> Path:
    """An archive of one float32 member `name` of `shape`, zeros, deflated ~1,030:1."""
    header = npy_header(shape)
    data_bytes = int(np.prod(shape)) * 4
    data = deflate_zeros(header, data_bytes)
    path.write_bytes(zip_archive([(name, data, 8, len(header) + data_bytes)]))
    return path


# --------------------------------------------------------------------------- item 7


def special(path: Path, kind: str) -> Path:
    """/dev/zero's or /dev/urandom's device numbers, a FIFO or a folder at `path`."""
    numbers = {"zero": (1, 5), "urandom": (1, 9)}
    if kind in numbers:
        os.mknod(path, stat.S_IFCHR | 0o444, os.makedev(*numbers[kind]))
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    return path


@pytest.mark.parametrize("kind", ["zero", "urandom", "fifo", "folder"])
@pytest.mark.parametrize("role", ["--input", "--weights"])
def test_only_regular_files_are_read(tmp_path: Path, kind: str, role: str) -> None:
    path = special(tmp_path / "data.npz", kind)
    reading = [role, str(path)] if role == "--input" else ["--random", "1", role, str(path)]
    lines = refused(invoke("run", SEED_CNN, *reading))
    assert len(lines) == 1 and lines[0].startswith(f"{path}: not a regular file")


# --------------------------------------------------------------------------- item 8


RSS_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from click.testing import CliRunner
    from builder.cli import cli
    import builder.config, builder.graph, builder.model, builder.runner, numpy  # warm up
    CliRunner().invoke(cli, ["summarize", sys.argv[1]])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = CliRunner().invoke(cli, sys.argv[1:])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(result.exit_code, (after - before) // 1024)
    print(result.stderr, end="")
    """
)


def rss_growth(tmp_path: Path, *args: str) -> tuple[int, int, str]:
    """(exit code, peak RSS growth in MiB, stderr) of `builder ARGS` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, _, message = done.stdout.partition("\n")
    code, growth = map(int, first.split())
    return code, growth, message


def test_a_3_mb_input_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = bomb(tmp_path / "x.npz", "x.npy", (1_000_000, 28, 28, 1))  # 3.1 GB of zeros
    assert os.path.getsize(path) < 3.5e6
    code, growth, message = rss_growth(tmp_path, "run", SEED_CNN, "--input", str(path))
    assert code == 1
    assert "would inflate" in message and "at most 1,000" in message, message
    assert growth < 100, f"grew {growth} MiB"


def test_a_3_mb_weights_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = bomb(tmp_path / "w.npz", "conv2d/kernel.npy", (3, 3, 1, 83_000_000))
    code, growth, message = rss_growth(
        tmp_path, "run", SEED_CNN, "--random", "1", "--weights", str(path)
    )
    assert code == 1
    assert "would inflate" in message, message
    assert growth < 100, f"grew {growth} MiB"


def test_input_member_checked_against_the_model_before_inflating(tmp_path: Path) -> None:
    # Under the ratio limit, but the declared shape is not the model's: not decompressed
    # (past its first bytes the data is not valid deflate, which reading would reveal).
    data, size = header_then_garbage((40, 28, 28, 3))
    path = tmp_path / "x.npz"
    path.write_bytes(zip_archive([("x.npy", data, 8, size)]))
    lines = refused(invoke("run", SEED_CNN, "--input", str(path)))
    assert lines == [
        f"{path}: input must have shape (None, 28, 28, 1) (or (28, 28, 1) for one sample), "
        "got (40, 28, 28, 3)"
    ]


def test_input_member_larger_than_max_memory_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, x=np.ones((400, 28, 28, 1), dtype=np.float32))  # 1,254,400 bytes, stored
    lines = refused(invoke("run", SEED_CNN, "--input", str(path), "--max-memory", "1MiB"))
    assert lines == [
        f"{path}: the input array needs 1.20 MB, over the memory limit of 1.00 MB "
        "(raise it with --max-memory)"
    ]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("x.txt", b"hello", 0, 5)], "member 'x.txt' is not npy data (names end in .npy)"),
        ([("x.npy", b"not an array at all", 0, 19)], "member 'x.npy': not readable npy data"),
        (
            [("x.npy", npy_header((10**6, 28, 28, 1)) + bytes(64), 0, 128 + 64)],
            "member 'x.npy': declares shape (1000000, 28, 28, 1) of float32 (3,136,000,000 "
            "bytes), but holds only 64 bytes of data",
        ),
        (
            [("x.npy", npy_header((2, 28, 28, 1)) + bytes(6272), 0, 128 + 6272 + 10)],
            "archive says it holds 6,410 bytes",
        ),
        (
            [("x.npy", npy_header((-2, 28, 28, 1)), 0, 128)],
            "member 'x.npy': declares a negative dimension, shape (-2, 28, 28, 1)",
        ),
        ([("x.npy", npy_header((1,), "|O") + bytes(8), 0, 136)], "holds Python objects"),
        (
            [("x.npy", npy_header((0,)), 0, 128), ("x.npy", npy_header((0,)), 0, 128)],
            "member 'x.npy' appears twice",
        ),
    ],
    ids=[
        "not-npy-name",
        "not-npy-data",
        "shape-beyond-size",
        "size-mismatch",
        "negative",
        "objects",
        "twice",
    ],
)
def test_archive_members_are_vetted(
    tmp_path: Path, members: list[tuple[str, bytes, int, int]], expected: str
) -> None:
    path = tmp_path / "x.npz"
    path.write_bytes(zip_archive(members))
    for reading in (["--input", str(path)], ["--random", "1", "--weights", str(path)]):
        lines = refused(invoke("run", SEED_CNN, *reading))
        assert len(lines) == 1 and lines[0].startswith(f"{path}: "), lines
        assert expected in lines[0], lines


def header_then_garbage(shape: tuple[int, ...]) -> tuple[bytes, int]:
    """(deflated member, declared size) of a float32 array of `shape` (at least 64 KiB) whose
    header and first 64 KiB of zeros inflate fine, and whose rest does not (0xff starts a
    block of the reserved type): only a reader that goes past the first bytes fails."""
    header, nbytes = npy_header(shape), int(np.prod(shape)) * 4
    assert nbytes >= 1 << 16
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(header + bytes(1 << 16)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return data + b"\xff" * 2000, len(header) + nbytes


def test_unexpected_or_misshaped_weights_are_never_read(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    assert invoke("init", SEED_CNN, "-o", str(path)).exit_code == 0
    with zipfile.ZipFile(path) as archive:
        members = [
            (i.filename, archive.read(i), 0, i.file_size)
            for i in archive.infolist()
            if i.filename != "conv2d/kernel.npy"
        ]
    for name, shape in (("conv2d/kernel.npy", (3, 3, 1, 8192)), ("evil/payload.npy", (10**5,))):
        data, size = header_then_garbage(shape)
        members.append((name, data, 8, size))
    path.write_bytes(zip_archive(members))
    lines = refused(invoke("run", SEED_CNN, "--random", "1", "--weights", str(path)))
    assert lines == [
        f"{path}: conv2d/kernel has shape (3, 3, 1, 8192), expected (3, 3, 1, 32)",
        f"{path}: unexpected evil/payload",
    ]


def test_a_member_whose_data_is_corrupt_fails_cleanly_when_read(tmp_path: Path) -> None:
    data, size = header_then_garbage((100, 28, 28, 1))
    path = tmp_path / "x.npz"
    path.write_bytes(zip_archive([("x.npy", data, 8, size)]))
    lines = refused(invoke("run", SEED_CNN, "--input", str(path)))
    assert len(lines) == 1 and lines[0].startswith(f"{path}: cannot read array 'x'"), lines


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((-3, 28, 28, 1), "declares a negative dimension, shape (-3, 28, 28, 1)"),
        ((2, -28, 28, 1), "declares a negative dimension"),
        ((10**18, 28, 28, 1), "declares shape (1000000000000000000, 28, 28, 1) of float32"),
        ((2**62, 2**62, 28, 1), "but holds only 3,136 bytes of data"),
    ],
)
def test_npy_headers_with_impossible_shapes_are_refused(
    tmp_path: Path, shape: tuple[int, ...], message: str
) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(npy_header(shape) + bytes(4 * 28 * 28))
    lines = refused(
        invoke("run", SEED_CNN, "--input", str(path), "--output", str(tmp_path / "y.npy"))
    )
    assert len(lines) == 1 and lines[0].startswith(f"{path}: ") and message in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_npy_truncated_while_read_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.ones((10, 28, 28, 1), dtype=np.float32))
    reader = load_array(path)
    assert np.array_equal(reader[0:2], np.ones((2, 28, 28, 1), dtype=np.float32))
    with open(path, "r+b") as handle:
        handle.truncate(128 + 5 * 28 * 28 * 4)
    with pytest.raises(DataError, match="truncated while it was read"):
        reader[4:8]


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_zero_samples_give_an_empty_output(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"x{suffix}"
    empty = np.zeros((0, 28, 28, 1), dtype=np.float32)
    np.save(path, empty) if suffix == ".npy" else np.savez(path, x=empty)
    printed = invoke("run", SEED_CNN, "--input", str(path))
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == "output: shape (0, 3, 3, 64), dtype float32\n"
    written = invoke("run", SEED_CNN, "--input", str(path), "--output", str(tmp_path / "y.npy"))
    assert written.exit_code == 0, written.output
    y = np.load(tmp_path / "y.npy")
    assert (y.shape, y.dtype) == ((0, 3, 3, 64), np.float32)


def test_zero_samples_through_a_softmax_model(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((0, 28, 28, 1), dtype=np.float32))
    result = invoke("run", MNIST, "--input", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("output: shape (0, 10), dtype float32\n")


# --------------------------------------------------------------------------- item 11


def test_weights_problems_are_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    assert invoke("init", SEED_CNN, "-o", str(path)).exit_code == 0
    arrays = dict(np.load(path))
    del arrays["conv2d/bias"]
    arrays["extra/alpha"] = np.zeros(2, dtype=np.float32)
    np.savez(path, **arrays)
    lines = refused(invoke("run", SEED_CNN, "--random", "1", "--weights", str(path)))
    assert lines == [f"{path}: missing conv2d/bias (32,)", f"{path}: unexpected extra/alpha"]


def test_another_models_weights_are_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    assert invoke("init", MNIST, "-o", str(path)).exit_code == 0
    lines = refused(invoke("run", SEED_CNN, "--random", "1", "--weights", str(path)))
    assert lines == [
        f"{path}: missing conv2d_2/kernel (3, 3, 64, 64)",
        f"{path}: missing conv2d_2/bias (64,)",
        f"{path}: unexpected dense/kernel",
        f"{path}: unexpected dense/bias",
        f"{path}: this looks like another model's weights: 2 of 6 keys missing, 2 unexpected; "
        "the file has layers dense where this model has conv2d_2",
    ]


def test_weights_of_other_sizes_are_named_as_such(tmp_path: Path) -> None:
    config = tmp_path / "narrow.yaml"
    config.write_text(Path(SEED_CNN).read_text().replace("filters: 64", "filters: 8"))
    path = tmp_path / "w.npz"
    assert invoke("init", str(config), "-o", str(path)).exit_code == 0
    lines = refused(invoke("run", SEED_CNN, "--random", "1", "--weights", str(path)))
    assert len(lines) == 5  # conv2d's weights fit; four mis-shaped arrays, one summary line
    assert lines[-1] == (
        f"{path}: this looks like weights for the same layers with other sizes: 4 of 6 arrays "
        "have another shape (first: conv2d_1/kernel (3, 3, 32, 8) instead of (3, 3, 32, 64)); "
        "was it saved for another input_shape, filters or units?"
    )
