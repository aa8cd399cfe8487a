"""`.npz` archives holding one array per name: the inputs of a model with several inputs,
and the outputs that `builder run --output Y.npz` writes (one per output layer)."""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from builder.errors import DataError
from builder.io import save_npz_atomic


def load_named_arrays(path: str | os.PathLike[str], names: list[str]) -> dict[str, np.ndarray]:
    """{name: array} from an `.npz` holding exactly the arrays `names`; a DataError lists
    every missing and unexpected name at once. Pickled objects are refused."""
    where = str(path)
    listed = ", ".join(map(repr, names))
    try:
        if not zipfile.is_zipfile(where):
            raise DataError(
                f"{where}: the model has {len(names)} inputs ({listed}); give an .npz "
                "holding one array per input name"
            )
        with np.load(where, allow_pickle=False) as archive:
            keys = list(archive.keys())
            missing = [name for name in names if name not in keys]
            extra = [key for key in keys if key not in names]
            if missing or extra:
                found = [f"missing {', '.join(map(repr, missing))}"] if missing else []
                found += [f"unexpected {', '.join(map(repr, extra))}"] if extra else []
                raise DataError(f"{where}: the inputs are {listed}: {'; '.join(found)}")
            return {name: archive[name] for name in names}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{where}: cannot read arrays: {error}") from None


def save_named_arrays(path: str | os.PathLike[str], arrays: dict[str, Any]) -> None:
    """Write `arrays` as an uncompressed `.npz`, one key per name, atomically (a partial
    file never appears under `path`)."""
    save_npz_atomic(path, {name: np.asarray(array) for name, array in arrays.items()})
