"""Layer normalization, feature normalization and per-channel scaling, as Keras 3 computes them.

    layer_norm: y = (x − μ)·γ/sqrt(σ² + ε) + β, μ and σ² over `axes` of each sample
    normalize:  y = (x − mean)/max(sqrt(variance), 1e−7)         (Keras's Normalization)
    layer_scale: y = x·γ                                         (ConvNeXt's LayerScale)

All statistics are computed in x's dtype. σ² is the two-pass variance mean((x − μ)²), as
Keras's JAX and TensorFlow backends compute it (its NumPy and torch backends use
mean(x²) − μ², which loses digits in float32 when |μ| ≫ σ).
"""

from __future__ import annotations

import numpy as np

from builder.ops.checks import FLOAT_DTYPES

# keras.backend.epsilon(): Normalization divides by max(sqrt(variance), this).
KERAS_EPSILON = 1e-7


def layer_norm(
    x: np.ndarray,
    axes: tuple[int, ...] = (-1,),
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    epsilon: float = 1e-3,
    rms_scaling: bool = False,
) -> np.ndarray:
    """Normalise every sample over `axes`, then scale by γ and shift by β (each optional).

    y = (x − μ)·r·γ + β, r = 1/sqrt(σ² + ε), μ = mean over axes, σ² = mean((x − μ)²);
    with rms_scaling (Keras's flag, which still uses the variance, not mean(x²)):
    y = x·r·γ, β unused.

    Args:
        x: (N, ...), float32 or float64; the output has the same dtype.
        axes: the axes normalised over (batch axis 0 excluded), default (−1,).
        gamma, beta: shape tuple(x.shape[a] for a in sorted(axes)), or None for no
            scale/centre. As Keras does, they are reshaped (not transposed) onto the axes
            in ascending order; the two orders differ only when axes mix signs ([-1, 1]).
        epsilon: added to σ², default 1e-3.

    Shape: (N, ...) -> same.
    """
    _check_input(x)
    ndim = x.ndim
    positive = _check_axes(axes, ndim, "axes")
    if 0 in positive:
        raise ValueError(f"axes must not include the batch axis 0. Received: axes={axes}.")
    # Keras 3.15 sorts the axes as written (so [-1, 1] stays [-1, 1]) to shape γ and β.
    param_shape = tuple(x.shape[a] for a in sorted(int(a) for a in axes))
    axes = positive
    broadcast = tuple(x.shape[d] if d in axes else 1 for d in range(ndim))
    gamma = _param(gamma, "gamma", param_shape, broadcast, x.dtype)
    beta = _param(beta, "beta", param_shape, broadcast, x.dtype)
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    variance = np.mean(np.square(centred), axis=axes, keepdims=True)
    scale = 1 / np.sqrt(variance + x.dtype.type(epsilon))
    if gamma is not None:
        scale = scale * gamma
    if rms_scaling:
        return x * scale
    # (x − μ)·r rather than Keras-JAX's x·r − μ·r: the same number, without the cancellation
    # of two terms of size |μ|·r (torch's layer_norm, which Keras uses there, does this too).
    out = centred * scale
    if beta is not None:
        out += beta
    return out


def normalize(
    x: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    axes: tuple[int, ...] = (-1,),
    invert: bool = False,
) -> np.ndarray:
    """Standardise with stored statistics, as Keras's Normalization layer at inference.

    y = (x − mean)/max(sqrt(variance), 1e−7); with invert: y = mean + x·max(sqrt(variance), 1e−7).

    Args:
        x: (N, ...), float32 or float64; the output has the same dtype.
        mean, variance: shape tuple(x.shape[a] for a in sorted(axes)) (the kept axes), or
            scalars; cast to x.dtype.
        axes: the axes that keep their own statistics (Keras's `axis`); () for one scalar
            mean and variance.

    Shape: (N, ...) -> same.
    """
    _check_input(x)
    ndim = x.ndim
    kept = tuple(sorted(_check_axes(axes, ndim, "axes")))
    kept_shape = tuple(x.shape[a] for a in kept)
    broadcast = tuple(x.shape[d] if d in kept else 1 for d in range(ndim))
    stats = []
    for name, value in (("mean", mean), ("variance", variance)):
        value = np.asarray(value)
        if value.shape not in (kept_shape, ()):
            raise ValueError(
                f"{name} must have shape {kept_shape} (the kept axes) or be a scalar. "
                f"Received: {name}.shape={value.shape}."
            )
        stats.append(value.astype(x.dtype).reshape(broadcast if value.ndim else ()))
    centre, spread = stats[0], np.maximum(np.sqrt(stats[1]), x.dtype.type(KERAS_EPSILON))
    if invert:
        return centre + x * spread
    return (x - centre) / spread


def layer_scale(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """y[..., c] = x[..., c]·γ[c], ConvNeXt's LayerScale.

    Shape: (N, ..., C) -> same; gamma (C,).
    """
    _check_input(x)
    if gamma.shape != (x.shape[-1],):
        raise ValueError(
            f"gamma must have shape ({x.shape[-1]},). Received: gamma.shape={gamma.shape}."
        )
    return x * gamma.astype(x.dtype, copy=False)


def _param(
    value: np.ndarray | None,
    name: str,
    shape: tuple[int, ...],
    broadcast: tuple[int, ...],
    dtype: np.dtype,
) -> np.ndarray | None:
    if value is None:
        return None
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}. Received: {name}.shape={value.shape}.")
    return value.astype(dtype, copy=False).reshape(broadcast)


def _check_axes(axes: tuple[int, ...], ndim: int, name: str) -> tuple[int, ...]:
    """Axes made non-negative; out-of-range or repeated axes are refused."""
    if any(int(a) != a or not -ndim <= a < ndim for a in axes):
        raise ValueError(
            f"{name} must be integers in [-{ndim}, {ndim}). Received: {name}={tuple(axes)}."
        )
    positive = tuple(int(a) % ndim for a in axes)
    if len(set(positive)) != len(positive):
        raise ValueError(f"{name} must not repeat an axis. Received: {name}={tuple(axes)}.")
    return positive


def _check_input(x: np.ndarray) -> None:
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"x must be float32 or float64. Received: x.dtype={x.dtype}.")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and features. Received: x.shape={x.shape}.")
