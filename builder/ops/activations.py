"""Activation functions with Keras 3 formulas, as NumPy kernels (SPEC section 4).

Every function takes a float32 or float64 array `x` of any shape and returns an array of
the same dtype and shape. With `inplace=True` the function may overwrite `x` and return
it (the engine passes fresh GEMM outputs it owns); with `inplace=False`, `x` is never
modified and the result is a new array.

Numerics: no NaN from finite input and no NumPy warnings; every `exp` is applied to a
non-positive argument, except in `exponential` (and a product such as `alpha·x`) where a
result too large for the dtype is meant to be inf, silently, as in Keras. Elementwise
kernels run over cache-sized blocks of contiguous arrays, so their temporaries stay small
whatever the size of `x`.

`ACTIVATIONS` maps each string name of SPEC section 4 (and the aliases `swish`,
`hard_swish`) to its record (function, monotone flag); `relu`, `leaky_relu`, `elu`, `softmax` and `log_softmax`
also take the parameters of the matching layers (ReLU, LeakyReLU, ELU, Softmax).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from builder.ops.special import erfc_nonneg

SELU_ALPHA = 1.67326324235437728481
SELU_SCALE = 1.05070098735548049341

Kernel = Callable[[np.ndarray, np.ndarray], None]
"""Writes f(x) into `out`, which may be `x` itself: a kernel reads x before it writes out."""
AxisKernel = Callable[[np.ndarray, np.ndarray, int], None]
"""Like `Kernel`, for a function normalised along the given axis (softmax)."""

_BLOCK_BYTES = 1 << 18  # per block and temporary: a kernel's working set stays in L2


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError(f"activations take float32 or float64 arrays, got dtype {x.dtype}")
    return x


def _target(x: np.ndarray, inplace: bool) -> np.ndarray:
    """The array to write the result into: `x` itself when allowed, else a new one."""
    return x if inplace and x.flags.writeable else np.empty_like(x)


def _elementwise(kernel: Kernel, x: np.ndarray, inplace: bool) -> np.ndarray:
    """Apply an elementwise kernel, block by block when `x` is C-contiguous."""
    x = _as_float(x)
    out = _target(x, inplace)
    block = _BLOCK_BYTES // x.itemsize
    with np.errstate(over="ignore", under="ignore"):
        if x.size <= block or not (x.flags.c_contiguous and out.flags.c_contiguous):
            # 0-d inputs become 1-element views: ufuncs on them return arrays, not scalars
            kernel(np.atleast_1d(x), np.atleast_1d(out))
            return out
        flat_x, flat_out = x.reshape(-1), out.reshape(-1)
        for start in range(0, flat_x.size, block):
            kernel(flat_x[start : start + block], flat_out[start : start + block])
    return out


def _along_axis(kernel: AxisKernel, x: np.ndarray, axis: int, inplace: bool) -> np.ndarray:
    """Apply a kernel that normalises along `axis`, by blocks of rows when `axis` is last."""
    x = _as_float(x)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for an input of rank {x.ndim}")
    axis %= x.ndim
    out = _target(x, inplace)
    if x.size == 0:
        return out
    with np.errstate(under="ignore"):
        if axis < x.ndim - 1 or not (x.flags.c_contiguous and out.flags.c_contiguous):
            kernel(x, out, axis)
            return out
        length = x.shape[-1]
        rows_x, rows_out = x.reshape(-1, length), out.reshape(-1, length)
        step = max(1, _BLOCK_BYTES // (x.itemsize * length))
        for start in range(0, rows_x.shape[0], step):
            kernel(rows_x[start : start + step], rows_out[start : start + step], 1)
    return out


# --------------------------------------------------------------------------- kernels


def _copy_kernel(x: np.ndarray, out: np.ndarray) -> None:
    if not np.may_share_memory(x, out):  # in place, out is x (or a view of the same block)
        np.copyto(out, x)


def _relu_kernel(x: np.ndarray, out: np.ndarray) -> None:
    np.maximum(x, 0, out=out)


def _clip_kernel(x: np.ndarray, out: np.ndarray, high: float) -> None:
    np.clip(x, 0, high, out=out)


def _leaky_relu_kernel(x: np.ndarray, out: np.ndarray, alpha: float) -> None:
    scaled = x * alpha
    if 0 <= alpha <= 1:
        np.maximum(x, scaled, out=out)
    elif alpha > 1:
        np.minimum(x, scaled, out=out)
    else:
        negative = x < 0
        _copy_kernel(x, out)
        np.copyto(out, scaled, where=negative)


def _relu_general_kernel(
    x: np.ndarray, out: np.ndarray, negative_slope: float, max_value: float | None, threshold: float
) -> None:
    threshold = x.dtype.type(threshold)
    below = x <= threshold
    low = x - threshold
    low *= negative_slope
    if max_value is None:
        _copy_kernel(x, out)
    else:
        np.minimum(x, max_value, out=out)
    np.copyto(out, low, where=below)


def _thresholded_relu_kernel(x: np.ndarray, out: np.ndarray, theta: float) -> None:
    below = x <= x.dtype.type(theta)
    _copy_kernel(x, out)
    np.copyto(out, 0, where=below)


def _elu_kernel(x: np.ndarray, out: np.ndarray, alpha: float) -> None:
    # max(x, 0) + alpha·expm1(min(x, 0)) picks each branch exactly (the other term is 0)
    # and never takes expm1 of a positive number.
    negative_part = np.minimum(x, 0)
    np.expm1(negative_part, out=negative_part)
    negative_part *= alpha
    np.maximum(x, 0, out=out)
    out += negative_part


def _selu_kernel(x: np.ndarray, out: np.ndarray) -> None:
    _elu_kernel(x, out, SELU_ALPHA)
    out *= SELU_SCALE


def _sigmoid_kernel(x: np.ndarray, out: np.ndarray) -> None:
    # exp(min(x, 0)) / (1 + exp(−|x|)): 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) for x < 0,
    # and neither exponential can overflow.
    denominator = np.abs(x)
    np.negative(denominator, out=denominator)
    np.exp(denominator, out=denominator)
    denominator += 1
    np.minimum(x, 0, out=out)
    np.exp(out, out=out)
    out /= denominator


def _tanh_kernel(x: np.ndarray, out: np.ndarray) -> None:
    np.tanh(x, out=out)


def _hard_sigmoid_kernel(x: np.ndarray, out: np.ndarray) -> None:
    np.add(x, 3, out=out)
    np.clip(out, 0, 6, out=out)
    out /= 6


def _softplus_kernel(x: np.ndarray, out: np.ndarray) -> None:
    # log(1 + e^x) = max(x, 0) + log1p(e^−|x|)
    tail = np.abs(x)
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)
    np.log1p(tail, out=tail)
    np.maximum(x, 0, out=out)
    out += tail


def _softsign_kernel(x: np.ndarray, out: np.ndarray) -> None:
    denominator = np.abs(x)
    denominator += 1
    np.divide(x, denominator, out=out)


def _times_x(gate: Kernel) -> Kernel:
    """The kernel of x·gate(x) (silu, hard_silu, mish), gate computed into a temporary."""

    def kernel(x: np.ndarray, out: np.ndarray) -> None:
        g = np.empty_like(x)
        gate(x, g)
        np.multiply(x, g, out=out)

    return kernel


def _tanh_softplus_kernel(x: np.ndarray, out: np.ndarray) -> None:
    _softplus_kernel(x, out)
    np.tanh(out, out=out)


_silu_kernel = _times_x(_sigmoid_kernel)
_hard_silu_kernel = _times_x(_hard_sigmoid_kernel)
_mish_kernel = _times_x(_tanh_softplus_kernel)


def _gelu_kernel(x: np.ndarray, out: np.ndarray) -> None:
    # Φ(x) = erfc(−x/√2)/2: for x < 0 that is erfc(|x|/√2)/2 without the cancellation of
    # 1 + erf(x/√2); for x ≥ 0 it is 1 − erfc(|x|/√2)/2.
    cdf = erfc_nonneg(np.abs(x), 0.5)
    cdf *= 0.5
    np.subtract(1, cdf, out=cdf, where=x >= 0)
    np.multiply(x, cdf, out=out)


def _softmax_kernel(x: np.ndarray, out: np.ndarray, axis: int) -> None:
    # Shifting by the maximum keeps every exp argument ≤ 0: no overflow, and the sum ≥ 1.
    shift = np.max(x, axis=axis, keepdims=True)
    np.subtract(x, shift, out=out)
    np.exp(out, out=out)
    out /= np.sum(out, axis=axis, keepdims=True)


def _log_softmax_kernel(x: np.ndarray, out: np.ndarray, axis: int) -> None:
    shift = np.max(x, axis=axis, keepdims=True)
    np.subtract(x, shift, out=out)
    log_total = np.sum(np.exp(out), axis=axis, keepdims=True)
    np.log(log_total, out=log_total)
    out -= log_total


def _exp_kernel(x: np.ndarray, out: np.ndarray) -> None:
    np.exp(x, out=out)


# --------------------------------------------------------------------------- public API


def linear(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Identity: f(x) = x (a copy unless `inplace`)."""
    return _elementwise(_copy_kernel, x, inplace)


def relu(
    x: np.ndarray,
    *,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
    inplace: bool = False,
) -> np.ndarray:
    """Rectified linear unit, as `keras.activations.relu` and the ReLU layer.

    f(x) = min(x, max_value)                  where x > threshold
    f(x) = negative_slope·(x − threshold)     where x ≤ threshold

    This is what Keras 3 computes (`ReLU.static_call`: x·[x > threshold] or relu(x), then
    clip to [0, max_value], then minus negative_slope·relu(threshold − x)) for the
    non-negative arguments its ReLU layer accepts. So at x == threshold the result is 0;
    the cap applies only above the threshold, and if max_value < threshold the output
    jumps from 0 to max_value there. With the defaults this is max(x, 0).

    Args:
        negative_slope: slope below the threshold, ≥ 0 (default 0).
        max_value: cap of the output above the threshold, ≥ 0, or None (default).
        threshold: input value below which the output is damped, ≥ 0 (default 0).
    """
    for name, value in (
        ("negative_slope", negative_slope),
        ("max_value", max_value),
        ("threshold", threshold),
    ):
        if value is not None and not value >= 0:
            raise ValueError(f"relu {name} must be a number >= 0. Received: {name}={value}")
    if threshold == 0 and negative_slope == 0:
        kernel = _relu_kernel if max_value is None else partial(_clip_kernel, high=max_value)
    elif threshold == 0 and max_value is None:
        kernel = partial(_leaky_relu_kernel, alpha=negative_slope)
    else:
        kernel = partial(
            _relu_general_kernel,
            negative_slope=negative_slope,
            max_value=max_value,
            threshold=threshold,
        )
    return _elementwise(kernel, x, inplace)


def relu6(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """ReLU capped at 6: f(x) = min(max(x, 0), 6)."""
    return _elementwise(partial(_clip_kernel, high=6), x, inplace)


def leaky_relu(x: np.ndarray, *, alpha: float = 0.2, inplace: bool = False) -> np.ndarray:
    """Leaky ReLU: f(x) = x where x ≥ 0, else alpha·x.

    The string name `leaky_relu` uses alpha = 0.2 (Keras's activation default); the
    LeakyReLU layer passes its own alpha (default 0.3).
    """
    return _elementwise(partial(_leaky_relu_kernel, alpha=alpha), x, inplace)


def elu(x: np.ndarray, *, alpha: float = 1.0, inplace: bool = False) -> np.ndarray:
    """Exponential linear unit: f(x) = x where x > 0, else alpha·(exp(x) − 1) (via expm1)."""
    return _elementwise(partial(_elu_kernel, alpha=alpha), x, inplace)


def selu(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Scaled ELU: f(x) = scale·elu(x, alpha) with Keras's SELU_ALPHA and SELU_SCALE."""
    return _elementwise(_selu_kernel, x, inplace)


def sigmoid(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Logistic sigmoid: f(x) = 1/(1 + exp(−x)), evaluated without overflow for any x."""
    return _elementwise(_sigmoid_kernel, x, inplace)


def hard_sigmoid(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Keras 3 hard sigmoid: f(x) = relu6(x + 3)/6."""
    return _elementwise(_hard_sigmoid_kernel, x, inplace)


def tanh(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Hyperbolic tangent."""
    return _elementwise(_tanh_kernel, x, inplace)


def softplus(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Softplus: f(x) = log(1 + exp(x)), computed as max(x, 0) + log1p(exp(−|x|))."""
    return _elementwise(_softplus_kernel, x, inplace)


def softsign(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Softsign: f(x) = x/(1 + |x|)."""
    return _elementwise(_softsign_kernel, x, inplace)


def silu(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """SiLU (swish): f(x) = x·sigmoid(x)."""
    return _elementwise(_silu_kernel, x, inplace)


def hard_silu(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Hard SiLU (hard swish): f(x) = x·hard_sigmoid(x) = x·relu6(x + 3)/6."""
    return _elementwise(_hard_silu_kernel, x, inplace)


def gelu(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Exact GELU: f(x) = x·Φ(x) = 0.5·x·(1 + erf(x/√2)).

    Evaluated as 0.5·x·erfc(−x/√2), the same function without the cancellation that
    1 + erf(x/√2) suffers for negative x; relative error a few ulp for all x.
    """
    return _elementwise(_gelu_kernel, x, inplace)


def mish(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Mish: f(x) = x·tanh(softplus(x))."""
    return _elementwise(_mish_kernel, x, inplace)


def exponential(x: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Exponential: f(x) = exp(x); inf (without a warning) past the dtype's range."""
    return _elementwise(_exp_kernel, x, inplace)


def thresholded_relu(x: np.ndarray, *, theta: float = 1.0, inplace: bool = False) -> np.ndarray:
    """Thresholded ReLU: f(x) = x where x > theta, else 0 (= relu(x, threshold=theta))."""
    return _elementwise(partial(_thresholded_relu_kernel, theta=theta), x, inplace)


def prelu(x: np.ndarray, alpha: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Parametric ReLU: f(x) = x where x ≥ 0, else alpha·x.

    `alpha` has the per-sample shape, with size 1 along shared axes, e.g. (H, W, C) or
    (1, 1, C) for an input (N, H, W, C); it broadcasts against x's trailing axes and is
    cast to x's dtype.
    """
    x = _as_float(x)
    alpha = np.asarray(alpha, dtype=x.dtype)
    try:
        fits = np.broadcast_shapes(alpha.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"PReLU alpha of shape {alpha.shape} does not broadcast to the input shape {x.shape}"
        )
    out = _target(x, inplace)
    _copy_kernel(x, out)
    with np.errstate(over="ignore", under="ignore"):
        np.multiply(out, alpha, out=out, where=out < 0)
    return out


def softmax(x: np.ndarray, *, axis: int = -1, inplace: bool = False) -> np.ndarray:
    """Softmax along `axis`: exp(x − max)/Σ exp(x − max); each slice sums to 1."""
    return _along_axis(_softmax_kernel, x, axis, inplace)


def log_softmax(x: np.ndarray, *, axis: int = -1, inplace: bool = False) -> np.ndarray:
    """Log-softmax along `axis`: (x − max) − log Σ exp(x − max)."""
    return _along_axis(_log_softmax_kernel, x, axis, inplace)


@dataclass(frozen=True)
class ActivationFunction:
    """One named activation: its kernel (whose docstring gives the formula) and whether it
    is `monotone`: non-decreasing and piecewise linear, so that computed in floating point
    f(max(a, b)) == max(f(a), f(b)) bit for bit and max pooling may run before it."""

    function: Callable[..., np.ndarray]
    monotone: bool = False


ACTIVATIONS: dict[str, ActivationFunction] = {
    "linear": ActivationFunction(linear, monotone=True),
    "relu": ActivationFunction(relu, monotone=True),
    "relu6": ActivationFunction(relu6, monotone=True),
    "leaky_relu": ActivationFunction(leaky_relu, monotone=True),
    "elu": ActivationFunction(elu),
    "selu": ActivationFunction(selu),
    "sigmoid": ActivationFunction(sigmoid),
    "hard_sigmoid": ActivationFunction(hard_sigmoid),
    "tanh": ActivationFunction(tanh),
    "softmax": ActivationFunction(softmax),
    "log_softmax": ActivationFunction(log_softmax),
    "softplus": ActivationFunction(softplus),
    "softsign": ActivationFunction(softsign),
    "silu": ActivationFunction(silu),
    "swish": ActivationFunction(silu),
    "hard_silu": ActivationFunction(hard_silu),
    "hard_swish": ActivationFunction(hard_silu),
    "gelu": ActivationFunction(gelu),
    "mish": ActivationFunction(mish),
    "exponential": ActivationFunction(exponential),
}
"""Every name of `builder.ops.names.ACTIVATION_NAMES` (aliases included) → its record."""
