"""Initial weights, and `.npz` weights files keyed `<layer>/<weight>` (SPEC section 5)."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from builder.errors import WeightsError
from builder.io import save_npz_atomic
from builder.layers.base import WeightSpec
from builder.ops.initializers import initialize, weight_rng


def initial_weights(
    specs: list[tuple[str, WeightSpec]], seed: int, dtype: np.dtype
) -> dict[str, np.ndarray]:
    """Every weight from its initialiser; each a pure function of (seed, layer name, weight name),
    so editing one layer leaves the other layers' initial weights unchanged."""
    weights = {}
    for key, spec in specs:
        layer, _, name = key.partition("/")
        if spec.value is not None:
            weights[key] = np.broadcast_to(np.asarray(spec.value, dtype), spec.shape).copy()
            continue
        weights[key] = initialize(
            spec.initializer, spec.shape, weight_rng(seed, layer, name), dtype
        )
    return weights


def save_weights(path: str | os.PathLike[str], weights: dict[str, np.ndarray]) -> None:
    save_npz_atomic(path, weights)


def load_weights(
    path: str | os.PathLike[str], specs: list[tuple[str, WeightSpec]], dtype: np.dtype
) -> dict[str, np.ndarray]:
    """Weights from `path`, cast to `dtype`; every missing, unexpected or mis-shaped key is
    listed in one WeightsError."""
    name = str(path)
    if not os.path.isfile(name):
        raise WeightsError(f"{name}: no such file")
    try:
        if not zipfile.is_zipfile(name):
            raise WeightsError(f"{name}: not a .npz weights file")
        with np.load(name, allow_pickle=False) as archive:
            found = {key: archive[key] for key in archive.files}
    except WeightsError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise WeightsError(f"{name}: cannot read weights: {error}") from None
    expected = dict(specs)
    problems = []
    for key, spec in expected.items():
        if key not in found:
            problems.append(f"missing {key} {spec.shape}")
        elif found[key].shape != spec.shape:
            problems.append(f"{key} has shape {found[key].shape}, expected {spec.shape}")
        elif found[key].dtype.kind not in "biuf":
            problems.append(f"{key} has dtype {found[key].dtype}, expected a real-number array")
    problems += [f"unexpected {key}" for key in found if key not in expected]
    if problems:
        raise WeightsError(f"{name}: weights do not fit the model: " + "; ".join(problems))
    # np.array, not ascontiguousarray, which would make a 0-d weight (Normalization's count) 1-d
    return {key: np.array(found[key], dtype=dtype, order="C") for key in expected}
