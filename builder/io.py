"""Files written atomically (temporary file in the same folder, then rename) and arrays read safely.

An error or Ctrl-C part-way through never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
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


def save_npz_atomic(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    try:
        with atomic_file(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as error:
        raise DataError(f"{path}: cannot write: {error.strerror or error}") from None


def load_array(path: str | os.PathLike[str], key: str | None = None) -> np.ndarray:
    """An input array from `.npy` (memory-mapped, so it may exceed RAM) or `.npz` (by `key`,
    or its only array). Pickled objects are always refused."""
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


def _load_npy(name: str) -> np.ndarray:
    array: Any = np.load(name, mmap_mode="r", allow_pickle=False)
    if not isinstance(array, np.ndarray):
        raise DataError(f"{name}: not a .npy array")
    return array
