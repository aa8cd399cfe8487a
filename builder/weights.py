"""Initial weights, and `.npz` weights files keyed `<layer>/<weight>` (SPEC section 5)."""

from __future__ import annotations

import os
import zipfile
from typing import Any

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
    listed in one WeightsError, one problem per line.

    The archive is vetted before anything is decompressed (`builder.arrayfiles`), and an
    array is read only once every declared shape and dtype fits: an unexpected member, or
    one declaring another shape, is never decompressed.
    """
    from builder.arrayfiles import NpzArchive, open_regular

    name = str(path)
    with open_regular(name, WeightsError) as handle:
        if not zipfile.is_zipfile(handle):
            raise WeightsError(f"{name}: not a .npz weights file")
    with NpzArchive(name, WeightsError) as archive:
        declared = {key: member.header for key, member in archive.members.items()}
        problems = _problems(dict(specs), declared)
        if problems:
            raise WeightsError("\n".join(f"{name}: {line}" for line in problems))
        # cast as read: one array in its stored dtype at a time, never two copies of all;
        # np.array, not ascontiguousarray, which makes a 0-d weight (Normalization's count) 1-d
        return {key: np.array(archive.read(key), dtype=dtype, order="C") for key, _ in specs}


def _problems(expected: dict[str, WeightSpec], declared: dict[str, Any]) -> list[str]:
    """One line per missing, mis-shaped, non-numeric or unexpected key; then, when two or
    more and at least half of all keys (expected and found) are wrong, one line saying what
    the file most likely is."""
    missing, misshaped, problems = [], [], []
    for key, spec in expected.items():
        header = declared.get(key)
        if header is None:
            missing.append(key)
            problems.append(f"missing {key} {spec.shape}")
        elif header.shape != spec.shape:
            misshaped.append(key)
            problems.append(f"{key} has shape {header.shape}, expected {spec.shape}")
        elif header.dtype.kind not in "biuf":
            problems.append(f"{key} has dtype {header.dtype}, expected a real-number array")
    unexpected = [key for key in declared if key not in expected]
    problems += [f"unexpected {key}" for key in unexpected]
    keys, wrong = len(expected) + len(unexpected), len(missing) + len(misshaped) + len(unexpected)
    if wrong > 1 and wrong >= keys / 2:  # one wrong key says nothing about the whole file
        problems.append(_likely_mismatch(expected, declared, missing, misshaped, unexpected))
    return problems


def _likely_mismatch(
    expected: dict[str, WeightSpec],
    declared: dict[str, Any],
    missing: list[str],
    misshaped: list[str],
    unexpected: list[str],
) -> str:
    """Half the keys or more are wrong: name the likelier cause, other layer names (the
    layers that differ) or other sizes (the first array that differs)."""
    total = len(expected)
    if len(missing) + len(unexpected) >= len(misshaped):
        theirs = sorted({key.partition("/")[0] for key in unexpected})
        ours = sorted({key.partition("/")[0] for key in missing})
        return (
            f"this looks like another model's weights: {len(missing)} of {total} keys missing, "
            f"{len(unexpected)} unexpected; the file has layers {_few(theirs)} where this model "
            f"has {_few(ours)}"
        )
    key = misshaped[0]
    return (
        f"this looks like weights for the same layers with other sizes: {len(misshaped)} of "
        f"{total} arrays have another shape (first: {key} {declared[key].shape} instead of "
        f"{expected[key].shape}); was it saved for another input_shape, filters or units?"
    )


def _few(names: list[str], limit: int = 4) -> str:
    if not names:
        return "(none)"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
