"""Files written atomically (temporary file in the same folder, then rename) and arrays read safely.

An error or Ctrl-C part-way through never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from builder.errors import DataError
from builder.interrupts import TEMPORARIES
from builder.sizes import format_bytes


class OutputPathUsage(ValueError):
    """An output path that cannot name a file at all (a folder, `dir/`, ""): a usage error."""


def check_output_path(
    path: str | os.PathLike[str], reads: Mapping[str, str | os.PathLike[str] | None] | None = None
) -> None:
    """Vet an output path before any work is done.

    Raises OutputPathUsage for a path that names a folder (exists as one, ends in `/`, or is
    empty), and DataError when the path holds something other than a regular file (a
    device, FIFO or socket: replacing it could break the machine), when its folder does not
    exist, or when it is the same file as one the command reads (`reads`: role → path, e.g.
    {"config": ..., "input": ...}; compared by device and inode, so links count), which
    would be overwritten while it is read.
    """
    name = os.fspath(path)
    if not name:
        raise OutputPathUsage("the output path is empty")
    if name.endswith(("/", os.sep)) or os.path.isdir(name):
        raise OutputPathUsage(f"{name} is a folder; give a file name")
    folder = os.path.dirname(name) or "."
    if not os.path.isdir(folder):
        raise DataError(f"{name}: folder {folder} does not exist")
    try:
        target = os.stat(name)
    except OSError:
        return  # nothing there yet (or a dangling link, which the rename replaces)
    if not stat.S_ISREG(target.st_mode):
        raise DataError(f"{name}: not a regular file")
    for role, source in (reads or {}).items():
        if source is None:
            continue
        with contextlib.suppress(OSError):
            found = os.stat(source)
            if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
                raise DataError(
                    f"{name}: is the {role} this command reads ({os.fspath(source)}); "
                    "writing it would destroy it, choose another output"
                )


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` only if the block succeeds.

    The temporary name is short (`.bld-XXXXXXXX.part`), so any final name the file system
    accepts works. A replaced file keeps its permission bits; a new one gets what open()
    would give (0666 minus the umask). Something other than a regular file at `path` is
    never replaced.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"{target}: folder {folder} does not exist")
    mode = _mode_to_keep(target)
    handle, temporary = _create_temporary(folder)
    try:
        os.close(handle)
        os.chmod(temporary, mode)  # created 0600, so no one reads it before this
        yield Path(temporary)
        _mode_to_keep(target)  # checked again: something may have appeared meanwhile
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        TEMPORARIES.discard(temporary)


def _create_temporary(folder: Path) -> tuple[int, str]:
    """(descriptor, path) of a new empty file `.bld-XXXXXXXX.part` in `folder`, mode 0600.

    The name goes into TEMPORARIES before the file exists, so a stop signal, whichever
    thread receives it and whenever its handler runs, can never leave an unknown file.
    """
    for _ in range(100):
        temporary = os.path.join(folder, f".bld-{secrets.token_hex(4)}.part")
        TEMPORARIES.add(temporary)
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            return os.open(temporary, flags, 0o600), temporary
        except FileExistsError:
            TEMPORARIES.discard(temporary)
        except OSError:  # not created; any other exception may have come after the open
            TEMPORARIES.discard(temporary)
            raise
    raise DataError(f"{folder}: cannot create a temporary file")


def _mode_to_keep(target: Path) -> int:
    """The permission bits for `target`: those of the regular file there, else the default."""
    try:
        found = os.stat(target)
    except OSError:
        return 0o666 & ~_umask()
    if not stat.S_ISREG(found.st_mode):
        raise DataError(f"{target}: not a regular file")
    return stat.S_IMODE(found.st_mode)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    try:
        with atomic_file(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as error:
        raise DataError(f"{path}: cannot write: {error.strerror or error}") from None


class NpyWriter:
    """A `.npy` file written block of rows by block of rows, in order, atomically.

    Use as a context manager and assign consecutive rows (`out[a:b] = rows`): the header
    goes first, then each block as it arrives, and the file appears under `path` only when
    the block ends without an error and every row was written.
    """

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self._stack = contextlib.ExitStack()
        self._next = 0

    def __enter__(self) -> NpyWriter:
        try:
            temporary = self._stack.enter_context(atomic_file(self.path))
            self._handle = self._stack.enter_context(open(temporary, "wb"))
            header = {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": self.shape,
            }
            np.lib.format.write_array_header_2_0(self._handle, header)
        except OSError as error:
            self._stack.close()
            raise DataError(f"{self.path}: cannot write: {error.strerror or error}") from None
        return self

    def __setitem__(self, rows: slice, values: np.ndarray) -> None:
        if rows.start != self._next:
            raise ValueError(
                f"rows must come in order: expected row {self._next}, got {rows.start}"
            )
        try:
            np.ascontiguousarray(values, dtype=self.dtype).tofile(self._handle)
        except OSError as error:
            raise DataError(f"{self.path}: cannot write: {error.strerror or error}") from None
        self._next += len(values)

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is None and self._next != self.shape[0]:
            kind, error = (
                ValueError,
                ValueError(f"{self._next} of {self.shape[0]} rows were written"),
            )
            self._stack.__exit__(kind, error, None)
            raise error
        try:
            self._stack.__exit__(kind, error, traceback)
        except OSError as failure:
            raise DataError(f"{self.path}: cannot write: {failure.strerror or failure}") from None


def write_npy_streaming(
    path: str | os.PathLike[str],
    shape: tuple[int, ...],
    dtype: np.dtype,
    parts: Iterator[np.ndarray],
) -> None:
    """Write a `.npy` of `shape` from consecutive row blocks, atomically (see `NpyWriter`)."""
    with NpyWriter(path, shape, dtype) as out:
        start = 0
        for part in parts:
            out[start : start + len(part)] = part
            start += len(part)


def save_npz_atomic(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    try:
        with atomic_file(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
    except OSError as error:
        raise DataError(f"{path}: cannot write: {error.strerror or error}") from None


def load_array(
    path: str | os.PathLike[str],
    key: str | None = None,
    sample_shape: tuple[int, ...] | None = None,
    max_bytes: int | None = None,
) -> Any:
    """An input array from `.npz` (by `key`, or its only array), or from `.npy` as an
    `NpyReader` that reads rows on demand, so inputs larger than RAM stream through.

    Only regular files are read, and headers are checked before any data
    (`builder.arrayfiles`). An `.npz` member is decompressed only when its declared shape
    is `sample_shape` or (N, *sample_shape) and its size is at most `max_bytes` (when
    given). Pickled objects are always refused.
    """
    from builder.arrayfiles import NpzArchive, open_regular

    name = str(path)
    with open_regular(name, DataError) as handle:
        is_zip = zipfile.is_zipfile(handle)
    try:
        if is_zip:
            with NpzArchive(name, DataError) as archive:
                key = _choose_key(name, list(archive.members), key)
                _check_member(name, archive.members[key].header, sample_shape, max_bytes)
                return archive.read(key)
        if key is not None:
            raise DataError(f"{name}: --input-key needs a .npz file")
        return _load_npy(name)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{name}: cannot read array: {error}") from None


def _choose_key(name: str, keys: list[str], key: str | None) -> str:
    if key is None:
        if len(keys) != 1:
            raise DataError(
                f"{name}: holds {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one with --input-key"
            )
        return keys[0]
    if key not in keys:
        raise DataError(f"{name}: no array {key!r}; it holds {', '.join(keys)}")
    return key


def _check_member(
    name: str, header: Any, sample_shape: tuple[int, ...] | None, max_bytes: int | None
) -> None:
    """Refuse, before decompressing, a member the run could not use or hold."""
    from builder.errors import ResourceError
    from builder.layers.base import format_shape

    if header.dtype.kind not in "biuf":
        raise DataError(f"{name}: input must hold real numbers, got dtype {header.dtype}")
    shape = header.shape
    if sample_shape is not None and shape != sample_shape and shape[1:] != sample_shape:
        raise DataError(
            f"{name}: input must have shape {format_shape(sample_shape)} "
            f"(or {sample_shape} for one sample), got {shape}"
        )
    if max_bytes is not None and header.nbytes > max_bytes:
        raise ResourceError(
            f"{name}: the input array needs {format_bytes(header.nbytes)}, over the memory "
            f"limit of {format_bytes(max_bytes)}"
        )


def _load_npy(name: str) -> Any:
    from builder.arrayfiles import Refused, open_regular, read_npy_header

    with open_regular(name, DataError) as handle:
        try:
            header = read_npy_header(handle, os.fstat(handle.fileno()).st_size, name)
        except Refused as error:  # already names the file
            raise DataError(str(error)) from None
    if header.fortran_order or not header.shape:
        return np.load(name, mmap_mode="r", allow_pickle=False)  # rare layouts: map them
    return NpyReader(name, header.shape, header.dtype, header.offset)


class NpyReader:
    """Rows of a C-ordered `.npy` file, read from disk only when sliced.

    Reading with plain file reads rather than a memory map keeps the file's pages out of
    the process's resident memory, so a run's peak memory does not grow with the input.
    """

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> None:
        self.name, self.shape, self.dtype, self.offset = name, shape, dtype, offset
        self.ndim = len(shape)
        self.row_items = math.prod(shape[1:])
        expected = offset + shape[0] * self.row_items * dtype.itemsize
        if os.path.getsize(name) < expected:
            raise DataError(f"{name}: file is truncated (shape {shape} needs {expected:,} bytes)")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            return self.read_all()[rows]
        start, stop, _ = rows.indices(self.shape[0])
        count = max(0, stop - start) * self.row_items
        byte_offset = self.offset + start * self.row_items * self.dtype.itemsize
        from builder.arrayfiles import open_regular

        try:  # reopened as a regular file each time: it may have been replaced meanwhile
            with open_regular(self.name, DataError) as handle:
                flat = np.fromfile(handle, dtype=self.dtype, count=count, offset=byte_offset)
        except OSError as error:
            raise DataError(f"{self.name}: cannot read: {error.strerror or error}") from None
        if flat.size != count:  # the file shrank since it was checked
            raise DataError(f"{self.name}: file was truncated while it was read")
        return flat.reshape(max(0, stop - start), *self.shape[1:])

    def read_all(self) -> np.ndarray:
        return self[0 : self.shape[0]]
