"""Files written atomically (temporary file in the same folder, then rename) and arrays read safely.

An error or Ctrl-C part-way through never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from builder.errors import DataError


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` only if the block succeeds."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"{target}: folder {folder} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


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


def load_array(path: str | os.PathLike[str], key: str | None = None) -> Any:
    """An input array from `.npz` (by `key`, or its only array), or from `.npy` as an
    `NpyReader` that reads rows on demand, so inputs larger than RAM stream through.
    Pickled objects are always refused."""
    name = str(path)
    try:
        if zipfile.is_zipfile(name):
            with np.load(name, allow_pickle=False) as archive:
                keys = list(archive.keys())
                if key is None:
                    if len(keys) != 1:
                        raise DataError(
                            f"{name}: holds {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one with --input-key"
                        )
                    key = keys[0]
                if key not in keys:
                    raise DataError(f"{name}: no array {key!r}; it holds {', '.join(keys)}")
                return archive[key]
        if key is not None:
            raise DataError(f"{name}: --input-key needs a .npz file")
        return _load_npy(name)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{name}: cannot read array: {error}") from None


def _load_npy(name: str) -> Any:
    with open(name, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if dtype.hasobject:
        raise DataError(f"{name}: holds Python objects (dtype {dtype}); only numbers are accepted")
    if fortran_order or not shape:
        return np.load(name, mmap_mode="r", allow_pickle=False)  # rare layouts: map them
    return NpyReader(name, tuple(shape), dtype, offset)


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
        flat = np.fromfile(self.name, dtype=self.dtype, count=count, offset=byte_offset)
        return flat.reshape(max(0, stop - start), *self.shape[1:])

    def read_all(self) -> np.ndarray:
        return self[0 : self.shape[0]]
