"""One-dimensional (sequence) convolution and pooling, channels_last (N, steps, C).

Each runs the 2-D kernel on (N, 1, steps, C) with a 1-wide first axis, so the 1-D layers
share the 2-D code, its blocking and its tests. Keras's `causal` padding adds
dilation·(k − 1) zero steps in front and then convolves `valid`:

    y[n, t, f] = b[f] + Σ_{a,k} x[n, t·s + a·d − d·(kernel − 1), g·Cg + k]·w[a, k, f]

(cells before step 0 are zero), so step t sees only steps ≤ t·s and T' = ceil(T/s).
"""

from __future__ import annotations

import numpy as np

from builder.ops.conv import conv2d
from builder.ops.pooling import avg_pool2d, max_pool2d


def conv1d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: int = 1,
    padding: str = "valid",
    dilation: int = 1,
    groups: int = 1,
) -> np.ndarray:
    """1-D convolution (cross-correlation, as Keras) of a channels_last batch of sequences.

    Args:
        x: (N, T, C), float32 or float64; the output has the same dtype.
        kernel: (k, C // groups, F), Keras's Conv1D layout.
        bias: (F,) or None.
        strides, dilation: positive integers.
        padding: "valid", "same" (TensorFlow's split, odd cell at the end) or "causal".
        groups: channel groups, as in `builder.ops.conv.conv2d`.

    Shape: (N, T, C) -> (N, T', F), T' = floor((T − d·(k−1) − 1)/s) + 1 for "valid",
    ceil(T/s) for "same" and "causal".
    """
    _check_sequence(x)
    if kernel.ndim != 3:
        raise ValueError(
            f"kernel must have shape (k, C // groups, F). Received: kernel.shape={kernel.shape}."
        )
    if padding not in ("valid", "same", "causal"):
        raise ValueError(
            f"padding must be 'valid', 'same' or 'causal'. Received: padding={padding!r}."
        )
    if padding == "causal":
        if int(dilation) != dilation or dilation < 1:
            raise ValueError(f"dilation must be a positive integer. Received: dilation={dilation}.")
        front = dilation * (kernel.shape[0] - 1)
        padded = np.zeros((x.shape[0], x.shape[1] + front, x.shape[2]), dtype=x.dtype)
        padded[:, front:] = x
        x, padding = padded, "valid"
    y = conv2d(x[:, None], kernel[None], bias, (1, strides), padding, (1, dilation), groups)
    return y[:, 0]


def max_pool1d(x: np.ndarray, pool_size: int, strides: int, padding: str) -> np.ndarray:
    """Max over windows of `pool_size` steps (`same` padding never wins).

    Shape: (N, T, C) -> (N, T', C), T' = floor((T − p)/s) + 1 ("valid"), ceil(T/s) ("same").
    """
    _check_sequence(x)
    return max_pool2d(x[:, None], (1, pool_size), (1, strides), padding)[:, 0]


def avg_pool1d(x: np.ndarray, pool_size: int, strides: int, padding: str) -> np.ndarray:
    """Mean over windows of `pool_size` steps, dividing by the real (unpadded) steps.

    Shape: (N, T, C) -> (N, T', C), T' as in `max_pool1d`.
    """
    _check_sequence(x)
    return avg_pool2d(x[:, None], (1, pool_size), (1, strides), padding)[:, 0]


def global_max_pool1d(x: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """y[n, c] = max_t x[n, t, c]. Shape: (N, T, C) -> (N, C), or (N, 1, C) with keepdims."""
    _check_sequence(x)
    return x.max(axis=1, keepdims=keepdims)


def global_avg_pool1d(x: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """y[n, c] = Σ_t x[n, t, c] / T. Shape: (N, T, C) -> (N, C), or (N, 1, C) with keepdims."""
    _check_sequence(x)
    return x.mean(axis=1, keepdims=keepdims)


def _check_sequence(x: np.ndarray) -> None:
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, steps, C). Received: x.shape={x.shape}.")
    if x.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"x must be float32 or float64. Received: x.dtype={x.dtype}.")
