"""Reading `.npy` and `.npz` files that may be hostile: check everything, then read.

- Only regular files are opened (`open_regular`): a device such as /dev/zero, a FIFO (which
  would block) or a folder is refused before anything is read, and the open itself never
  blocks (O_NONBLOCK; it has no effect on regular files).
- A `.npy` header is trusted only after checking it (`read_npy_header`): no Python objects,
  no negative dimension, and the declared shape × itemsize must fit in the bytes present.
- A `.npz` archive (`NpzArchive`) is vetted member by member before anything is
  decompressed: each member must be `NAME.npy`, appear once, not be encrypted, stay inside
  the archive, inflate at most MAX_RATIO times, and its npy header (read from the first
  inflated bytes only) must declare exactly as many bytes as the zip directory says the
  member holds. A member is read in full only when the caller asks for it, after the caller
  has checked its declared shape and dtype; so a 3 MB archive that would inflate to 3 GB
  costs a few kilobytes.
"""

from __future__ import annotations

import math
import os
import stat
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from builder.errors import BuilderError

MAX_RATIO = 1000
"""Largest accepted uncompressed/compressed size of an archive member."""

MAX_HEADER_BYTES = 10_000  # NumPy's own default limit for an npy header

# What NumPy's header parser and zipfile raise on malformed input.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    SyntaxError,
    OverflowError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    tokenize.TokenError,  # NumPy re-tokenises headers written by Python 2
    NotImplementedError,
    RuntimeError,
)


class Refused(ValueError):
    """A header or member that was read and refused; the message names the file."""


def open_regular(path: str | os.PathLike[str], error: type[BuilderError]) -> IO[bytes]:
    """`path` opened for binary reading; `error` unless it is an existing regular file."""
    name = os.fspath(path)
    try:
        found = os.stat(name)
        if not stat.S_ISREG(found.st_mode):
            raise error(f"{name}: not a regular file")
        descriptor = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as failure:
        raise error(f"{name}: cannot read: {failure.strerror or failure}") from None
    handle = os.fdopen(descriptor, "rb")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # replaced between stat and open
        handle.close()
        raise error(f"{name}: not a regular file")
    return handle


def check_regular(path: str | os.PathLike[str], error: type[BuilderError]) -> None:
    """`error` unless `path` is an existing regular file (nothing is read)."""
    open_regular(path, error).close()


@dataclass(frozen=True)
class NpyHeader:
    """What an npy header declares: shape, dtype, order, and where the data starts."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(handle: IO[bytes], size: int, where: str) -> NpyHeader:
    """The checked header at the start of `handle`, whose npy data holds `size` bytes.

    Raises Refused (a ValueError whose message names `where`) for a header that is not npy,
    holds Python objects, has a negative dimension, or declares more data than `size` bytes
    can hold.
    """
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(
                handle, max_header_size=MAX_HEADER_BYTES
            )
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(
                handle, max_header_size=MAX_HEADER_BYTES
            )
        else:
            raise ValueError(f"unsupported npy format version {version}")
    except _PARSE_ERRORS as failure:
        raise Refused(f"{where}: not readable npy data ({failure})") from None
    header = NpyHeader(tuple(int(d) for d in shape), dtype, bool(fortran_order), handle.tell())
    if dtype.hasobject:
        raise Refused(f"{where}: holds Python objects (dtype {dtype}); only numbers are accepted")
    if any(d < 0 for d in header.shape):
        raise Refused(f"{where}: declares a negative dimension, shape {header.shape}")
    if header.offset + header.nbytes > size:
        raise Refused(
            f"{where}: declares shape {header.shape} of {dtype} ({header.nbytes:,} bytes), "
            f"but holds only {max(0, size - header.offset):,} bytes of data"
        )
    return header


@dataclass(frozen=True)
class Member:
    """One vetted array of an archive: its key (the member name without `.npy`) and header."""

    key: str
    info: zipfile.ZipInfo
    header: NpyHeader


def vet_zip_member(info: zipfile.ZipInfo, archive_size: int, where: str) -> None:
    """What every zip member passes before it is read (an `.npz`'s arrays, a `.keras`
    archive's files): not encrypted, inside the file, inflating at most MAX_RATIO times;
    else Refused naming `where`."""
    if info.flag_bits & 0x1:
        raise Refused(f"{where} is encrypted")
    if info.header_offset + info.compress_size > archive_size:
        raise Refused(f"{where} extends past the end of the file")
    if info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        raise Refused(
            f"{where} would inflate {ratio:,.0f} times ({info.compress_size:,} to "
            f"{info.file_size:,} bytes); at most {MAX_RATIO:,} is accepted: a zip bomb?"
        )


class NpzArchive:
    """A vetted `.npz` archive; use as a context manager. `members` maps key → Member.

    Raises `error` (a BuilderError class) for anything that is not a sound archive of npy
    arrays, before any member is decompressed beyond its header.
    """

    def __init__(self, path: str | os.PathLike[str], error: type[BuilderError]) -> None:
        self.name, self.error = os.fspath(path), error
        self._file = open_regular(path, error)
        try:
            self._zip = zipfile.ZipFile(self._file)
            self.members = self._vet()
        except BaseException as failure:
            self.close()
            if isinstance(failure, Refused):  # our own checks, already phrased
                raise error(str(failure)) from None
            if isinstance(failure, (*_PARSE_ERRORS, OSError)):
                raise error(f"{self.name}: not a readable .npz archive ({failure})") from None
            raise

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if hasattr(self, "_zip"):
            self._zip.close()
        self._file.close()

    def read(self, key: str) -> np.ndarray:
        """The array `key`, read in full: only as many bytes as its vetted header declares."""
        member = self.members[key]
        try:
            with self._zip.open(member.info) as stream:
                array = np.lib.format.read_array(
                    stream, allow_pickle=False, max_header_size=MAX_HEADER_BYTES
                )
        except (*_PARSE_ERRORS, OSError) as failure:
            raise self.error(f"{self.name}: cannot read array {key!r}: {failure}") from None
        if array.shape != member.header.shape:  # the checked header is the one read
            raise self.error(f"{self.name}: array {key!r} changed while it was read")
        return array

    def _vet(self) -> dict[str, Member]:
        archive_size = os.fstat(self._file.fileno()).st_size
        members: dict[str, Member] = {}
        for info in self._zip.infolist():
            where = f"{self.name}: member {info.filename!r}"
            key = info.filename.removesuffix(".npy")
            if info.is_dir() or key == info.filename:
                raise Refused(f"{where} is not npy data (names end in .npy)")
            if key in members:
                raise Refused(f"{where} appears twice")
            vet_zip_member(info, archive_size, where)
            with self._zip.open(info) as stream:
                header = read_npy_header(stream, info.file_size, where)
            if header.offset + header.nbytes != info.file_size:
                raise Refused(
                    f"{where} declares shape {header.shape} of {header.dtype} "
                    f"({header.offset + header.nbytes:,} bytes with its header), but the "
                    f"archive says it holds {info.file_size:,} bytes"
                )
            members[key] = Member(key, info, header)
        return members
