"""Non-finite weights and inputs run, with one warning line (SPEC section 10).

NaN and Inf flow through the forward pass as IEEE arithmetic makes them (NumPy's own
RuntimeWarnings are silenced where they flow, `Model._run_chunks`); what the user sees is
one line naming the layers whose weights are not finite, or counting the input samples
that are not, printed by `builder run` on stderr. A negative `moving_variance` counts as
non-finite: BatchNormalization divides by sqrt(variance + epsilon), NaN below −epsilon.

The input check costs one `np.isfinite(chunk).all()` per chunk as it is read; the rows of
a chunk that fails it are counted then, so no second pass over the input is ever made.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NON_NEGATIVE_WEIGHTS = frozenset({"moving_variance"})
"""Weight names whose negative values make a layer's output NaN."""


BLOCK = 2**20
"""Values tested at a time: the boolean temporary stays 1 MiB whatever the array's size."""


def all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity in `array`, tested a block at a time (integers always pass)."""
    if array.dtype.kind not in "fc":
        return True
    flat = array.reshape(-1) if array.flags.c_contiguous else np.asarray(array).ravel()
    return all(np.isfinite(flat[i : i + BLOCK]).all() for i in range(0, flat.size, BLOCK))


def layers_with_bad_weights(weights: dict[str, np.ndarray]) -> list[str]:
    """Names of the layers (in order) with a NaN/Inf weight or a negative variance, from
    weights keyed `layer/weight`."""
    found: list[str] = []
    for key, array in weights.items():
        layer, _, name = key.partition("/")
        if layer in found:
            continue
        negative = name in NON_NEGATIVE_WEIGHTS and bool((array < 0).any())
        if negative or not all_finite(array):
            found.append(layer)
    return found


def bad_weights_warning(source: str, layers: list[str], types: dict[str, str]) -> str:
    """`W.npz: warning: layer 'bn' (BatchNormalization) has weights that are NaN, ...`."""
    named = ", ".join(f"{name!r} ({types[name]})" for name in layers[:5])
    more = f" and {len(layers) - 5} more" if len(layers) > 5 else ""
    which = "layer" if len(layers) == 1 else "layers"
    return (
        f"{source}: warning: {which} {named}{more} {'has' if len(layers) == 1 else 'have'} "
        "weights that are NaN, infinite or (moving_variance) negative; outputs may be NaN"
    )


class FiniteWatch:
    """Rows of `source` (an array or a row reader), cast to `dtype` as they are read, and
    the count of samples (rows) holding a NaN or an infinity among the rows read.

    `dtype` attribute stays the source's, so the memory plan counts the uncast rows.
    """

    def __init__(self, source: Any, dtype: np.dtype) -> None:
        self.source, self.cast_to = source, np.dtype(dtype)
        self.shape, self.dtype = tuple(source.shape), np.dtype(source.dtype)
        self.ndim = len(self.shape)
        self.bad_samples = 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # 1e300 in float32 is inf
            values = np.asarray(self.source[rows]).astype(self.cast_to, copy=False)
        if not all_finite(values):  # the cheap check; the count only when it fails
            per_row = values.reshape(len(values), math.prod(values.shape[1:]))
            step = max(1, BLOCK // max(per_row.shape[1], 1))  # a bounded boolean temporary
            for first in range(0, len(per_row), step):
                finite = np.isfinite(per_row[first : first + step]).all(axis=1)
                self.bad_samples += len(finite) - int(np.count_nonzero(finite))
        return values


def bad_inputs_warning(source: str, counts: dict[str, int], total: int, single: bool) -> str:
    """`X.npy: warning: 3 of 10 samples hold NaN or infinite values; their outputs may be NaN`."""
    if single:
        (count,) = counts.values()
        found = f"{count:,} of {total:,} samples hold"
    else:
        found = ", ".join(
            f"{count:,} of {total:,} samples of {name!r}" for name, count in counts.items()
        )
        found += " hold"
    return f"{source}: warning: {found} NaN or infinite values; their outputs may be NaN"
