"""Weight initialisers with Keras 3 formulas, each weight drawn from its own stream (SPEC 5).

Initial weights are a pure function of (seed, layer name, weight name): `weight_rng` hashes
the three into the seed of a fresh generator, so editing one layer leaves every other
layer's initial weights unchanged.

Variance scaling (Keras `VarianceScaling`), with n the fan of `mode` (at least 1):

| name           | scale | mode    | distribution                                        |
|----------------|-------|---------|-----------------------------------------------------|
| glorot_uniform | 1     | fan_avg | uniform on [−limit, limit), limit = sqrt(3·scale/n) |
| glorot_normal  | 1     | fan_avg | normal truncated at 2 std, std = sqrt(scale/n)/0.8796… |
| he_uniform     | 2     | fan_in  | uniform                                             |
| he_normal      | 2     | fan_in  | truncated normal                                    |
| lecun_uniform  | 1     | fan_in  | uniform                                             |
| lecun_normal   | 1     | fan_in  | truncated normal                                    |

The divisor 0.87962566103423978 is the standard deviation of a standard normal truncated
to [−2, 2], so the truncated draw has standard deviation sqrt(scale/n). Besides these:
`random_normal` (mean 0, std 0.05, not truncated), `random_uniform` (on [−0.05, 0.05)),
`zeros` and `ones`. Values are drawn in float64, then cast to the requested dtype.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Callable

import numpy as np

from builder.ops.names import INITIALIZER_NAMES

TRUNCATED_NORMAL_STDDEV = 0.87962566103423978
"""Standard deviation of a standard normal truncated to [−2, 2]."""

_VARIANCE_SCALING: dict[str, tuple[float, str, str]] = {
    # name: (scale, mode, distribution)
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def weight_rng(seed: int, layer_name: str, weight_name: str) -> np.random.Generator:
    """A generator whose stream depends only on (seed, layer name, weight name).

    The triple is encoded as canonical JSON (`[seed,"layer","weight"]`), hashed with SHA-256
    and the 256-bit digest seeds a `SeedSequence` for a PCG64 generator: the same triple
    gives the same stream in every process and Python version (unlike `hash()`).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    for what, name in (("layer_name", layer_name), ("weight_name", weight_name)):
        if not isinstance(name, str):
            raise TypeError(f"{what} must be a string, got {name!r}")
    key = json.dumps([seed, layer_name, weight_name], ensure_ascii=True, separators=(",", ":"))
    digest = hashlib.sha256(key.encode("ascii")).digest()
    entropy = int.from_bytes(digest, "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def compute_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape, by Keras's rule.

    rank 0: (1, 1); rank 1 (n,): (n, n); rank 2 (in, out): (in, out);
    rank ≥ 3 (..., in, out), a convolution kernel: receptive field r = prod(shape[:-2]),
    (r·in, r·out). E.g. a Conv2D kernel (3, 3, 8, 16) has fans (72, 144).
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive_field = math.prod(shape[:-2])
    return float(shape[-2] * receptive_field), float(shape[-1] * receptive_field)


def initialize(
    name: str, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """An array of `shape` and `dtype` filled by the initialiser `name` from `rng`.

    Raises ValueError for an unknown name (listing the valid ones) or a bad shape.
    """
    if name not in INITIALIZER_NAMES:
        close = difflib.get_close_matches(str(name), INITIALIZER_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown initializer {name!r}.{hint} Valid names: {', '.join(INITIALIZER_NAMES)}."
        )
    shape = _check_shape(shape)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"initializer dtype must be float32 or float64, got {dtype}")
    if name == "zeros":
        return np.zeros(shape, dtype)
    if name == "ones":
        return np.ones(shape, dtype)
    out = np.empty(shape, dtype)
    flat = out.reshape(-1)
    if name == "random_normal":
        _fill(flat, lambda count: rng.normal(0.0, 0.05, size=count))
    elif name == "random_uniform":
        _fill(flat, lambda count: rng.uniform(-0.05, 0.05, size=count))
    else:
        _variance_scaling(name, shape, rng, flat)
    return out


DRAW_BLOCK = 2**17
"""float64 values drawn at a time (1 MiB): the draw of a large weight never exists whole.
The generator's stream is consumed in the same order as one call for the whole weight,
so the values are those of `rng.uniform(..., size=n)` and friends, bit for bit."""


def _fill(flat: np.ndarray, draw: Callable[[int], np.ndarray]) -> None:
    """flat[i] = draw()[i] cast to flat's dtype, drawn DRAW_BLOCK values at a time."""
    for first in range(0, flat.size, DRAW_BLOCK):
        flat[first : first + DRAW_BLOCK] = draw(min(DRAW_BLOCK, flat.size - first))


def _check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or not all(_is_size(d) for d in dims):
        raise ValueError(f"shape must be a tuple of integers >= 0, got {shape!r}")
    return tuple(int(d) for d in dims)


def _is_size(d: object) -> bool:
    return isinstance(d, (int, np.integer)) and not isinstance(d, bool) and bool(d >= 0)


def _variance_scaling(
    name: str, shape: tuple[int, ...], rng: np.random.Generator, flat: np.ndarray
) -> None:
    scale, mode, distribution = _VARIANCE_SCALING[name]
    fan_in, fan_out = compute_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    scale /= max(1.0, fan)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale)
        _fill(flat, lambda count: rng.uniform(-limit, limit, size=count))
        return
    stddev = math.sqrt(scale) / TRUNCATED_NORMAL_STDDEV
    _truncated_fill(rng, flat, stddev)


def _truncated_fill(rng: np.random.Generator, flat: np.ndarray, stddev: float) -> None:
    """flat = truncated_standard_normal(rng, (n,))·stddev, bit for bit, without the float64
    array: the first draws come a block at a time (remembering where |x| > 2, about 4.6% of
    the positions), then the redraws go to those positions in index order, as there."""
    outside = []
    for first in range(0, flat.size, DRAW_BLOCK):
        values = rng.standard_normal(min(DRAW_BLOCK, flat.size - first))
        flat[first : first + len(values)] = values * stddev
        outside.append(np.flatnonzero(np.abs(values) > 2.0) + first)
    pending = np.concatenate(outside) if outside else np.empty(0, np.intp)
    while pending.size:
        values = rng.standard_normal(pending.size)
        flat[pending] = values * stddev
        pending = pending[np.abs(values) > 2.0]


def truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws with every value beyond ±2 redrawn until none is left.

    Deterministic given the generator's state: redraws go to the out-of-range positions
    in index order, one vectorised batch per round.
    """
    values = rng.standard_normal(math.prod(shape))
    outside = np.flatnonzero(np.abs(values) > 2.0)
    while outside.size:
        values[outside] = rng.standard_normal(outside.size)
        outside = outside[np.abs(values[outside]) > 2.0]
    return values.reshape(shape)
