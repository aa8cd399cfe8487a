"""Up-sampling, cropping and 1-D zero padding, channels_last, as Keras 3 computes them.

    nearest:  y[n, i, j, c] = x[n, floor(i/sh), floor(j/sw), c]
    bilinear: y[n, i, j, c] = Σ_{r,s ∈ {0,1}} u_r(i)·v_s(j)·x[n, rows_r(i), cols_s(j), c]

Bilinear is `keras.ops.image.resize(..., "bilinear", antialias=False)` to (H·sh, W·sw):
half-pixel centres, i.e. output row i samples input row t = (i + 1/2)/sh − 1/2; with
r0 = floor(t), the rows are rows_0 = clip(r0, 0, H − 1), rows_1 = clip(r0 + 1, 0, H − 1)
and the weights u_1 = t − r0, u_0 = 1 − u_1. Clamping repeats the edge rows, which is what
TensorFlow's resize_bilinear does and what JAX's scale_and_translate (the triangle kernel,
weights renormalised over the cells inside the image) gives when up-sampling. The two axes
are interpolated one after the other (the interpolation is separable).
"""

from __future__ import annotations

import numpy as np

from builder.ops.checks import check_input


def upsample2d(x: np.ndarray, size: tuple[int, int], interpolation: str = "nearest") -> np.ndarray:
    """Enlarge every image by integer factors (sh, sw), as Keras's UpSampling2D.

    Shape: (N, H, W, C) -> (N, H·sh, W·sw, C).
    """
    check_input(x, 4, "(N, H, W, C)")
    _check_factors(size, 2)
    if interpolation == "nearest":
        n, height, width, channels = x.shape
        sh, sw = size
        # One copy into a fresh array: each cell written sh·sw times by broadcasting.
        out = np.empty((n, height, sh, width, sw, channels), dtype=x.dtype)
        out[...] = x[:, :, None, :, None, :]
        return out.reshape(n, height * sh, width * sw, channels)
    if interpolation == "bilinear":
        return _linear_axis(_linear_axis(x, 1, size[0]), 2, size[1])
    raise ValueError(
        f"interpolation must be 'nearest' or 'bilinear'. Received: interpolation={interpolation!r}."
    )


def upsample1d(x: np.ndarray, size: int) -> np.ndarray:
    """Repeat every step `size` times, as Keras's UpSampling1D: y[n, t, c] = x[n, t // size, c].

    Shape: (N, T, C) -> (N, T·size, C).
    """
    check_input(x, 3, "(N, steps, C)")
    _check_factors((size,), 1)
    return np.repeat(x, size, axis=1)


def crop2d(x: np.ndarray, cropping: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Drop ((top, bottom), (left, right)) rows and columns: y = x[:, top:H−bottom, left:W−right].

    Shape: (N, H, W, C) -> (N, H − top − bottom, W − left − right, C); an empty result is
    refused. Returns a view of x.
    """
    check_input(x, 4, "(N, H, W, C)")
    (top, bottom), (left, right) = _check_pairs(cropping, 2, "cropping")
    height, width = x.shape[1:3]
    if top + bottom >= height or left + right >= width:
        raise ValueError(
            f"cropping leaves nothing of a {height}×{width} input. Received: cropping={cropping}."
        )
    return x[:, top : height - bottom, left : width - right]


def crop1d(x: np.ndarray, cropping: tuple[int, int]) -> np.ndarray:
    """Drop (start, end) steps: y = x[:, start:T−end].

    Shape: (N, T, C) -> (N, T − start − end, C); an empty result is refused. Returns a view.
    """
    check_input(x, 3, "(N, steps, C)")
    ((start, end),) = _check_pairs((cropping,), 1, "cropping")
    steps = x.shape[1]
    if start + end >= steps:
        raise ValueError(
            f"cropping leaves nothing of {steps} steps. Received: cropping={tuple(cropping)}."
        )
    return x[:, start : steps - end]


def zero_pad1d(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Add (start, end) zero steps around every sequence.

    Shape: (N, T, C) -> (N, start + T + end, C).
    """
    check_input(x, 3, "(N, steps, C)")
    ((start, end),) = _check_pairs((padding,), 1, "padding")
    out = np.zeros((x.shape[0], start + x.shape[1] + end, x.shape[2]), dtype=x.dtype)
    out[:, start : start + x.shape[1]] = x
    return out


def _linear_axis(x: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Linear interpolation along `axis` to length·factor, half-pixel centres, edges clamped."""
    length = x.shape[axis]
    if factor == 1:
        return x
    # Sample positions in input coordinates, computed in float64 and then cast, so the
    # weights are the same for float32 and float64 up to rounding.
    position = (np.arange(length * factor) + 0.5) / factor - 0.5
    lower = np.floor(position)
    weight = (position - lower).astype(x.dtype)
    below = np.clip(lower.astype(np.intp), 0, length - 1)
    above = np.clip(lower.astype(np.intp) + 1, 0, length - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    first = np.take(x, below, axis=axis)
    second = np.take(x, above, axis=axis)
    # first + w·(second − first), as TensorFlow writes the interpolation.
    second -= first
    second *= weight
    first += second
    return first


def _check_factors(size: tuple[int, ...], count: int) -> None:
    if len(size) != count or any(int(v) != v or v < 1 for v in size):
        raise ValueError(f"size must be {count} positive integer(s). Received: size={size}.")


def _check_pairs(
    pairs: tuple[tuple[int, int], ...], count: int, name: str
) -> list[tuple[int, int]]:
    amounts = [v for pair in pairs for v in pair]
    if (
        len(pairs) != count
        or len(amounts) != 2 * count
        or any(int(v) != v or v < 0 for v in amounts)
    ):
        raise ValueError(
            f"{name} must be {count} pair(s) of non-negative integers. Received: {name}={pairs}."
        )
    return [(int(a), int(b)) for a, b in pairs]
