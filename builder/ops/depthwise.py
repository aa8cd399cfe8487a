"""Depthwise and separable 2-D convolution, channels_last, as Keras/TensorFlow compute them.

    depthwise: y[n, i, j, c·m + q] = b[c·m + q]
                 + Σ_{a,b} xp[n, i·sh + a·dh, j·sw + b·dw, c]·w[a, b, c, q]
    separable: z = conv2d(depthwise(x, w_d, no bias), w_p (1, 1, C·m, F), b)

xp is x zero-padded by TensorFlow's rule (`builder.ops.shapes.padding_amounts`); each input
channel c has its own m = depth_multiplier filters, and output channel c·m + q is filter q
of channel c, the order Keras uses.

How it is computed: one np.einsum("nhwabc,abcq->nhwcq") over a read-only strided view
(N, H', W', kh, kw, C) of the padded input, a few images at a time (~2 MiB of output per
call). No Python loop over channels or taps. Measured on the 2-core target machine, batch
8, 3×3 kernel, m = 1, 56×56×128 (float32): einsum 10.0 ms at stride 1 and 3.1 ms at
stride 2, against 11.5 ms and 4.6 ms for a loop over the 9 taps with broadcast
multiply-accumulate (blocked per band of rows), and 25.9 / 5.4 ms for that loop over the
whole batch; with m = 2 (28×28×256) einsum took 41 ms against 119 ms for the tap loop,
whose inner loops are only m long. float64: 15-22 ms vs 21-23 ms (56×56×128, stride 1).
ConvNeXt's 7×7 on 56×56×96 (float32, `benchmarks/bench_kernels.py`, machine under load):
93 ms against 160 ms.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from builder.ops.checks import check_bias, check_input, check_window
from builder.ops.conv import conv2d
from builder.ops.shapes import padding_amounts, spatial_output_shape

# Output bytes per einsum call: a few images at a time keep the input rows in cache.
_BLOCK_BYTES = 2 * 2**20


def depthwise_conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Depthwise 2-D convolution: every input channel convolved with its own m filters.

    y[n, i, j, c·m + q] = b[c·m + q] + Σ_{a,b} xp[n, i·sh + a·dh, j·sw + b·dw, c]·w[a, b, c, q]

    Args:
        x: input, float32 or float64; the output has the same dtype.
        kernel: (kh, kw, C, m), Keras's `depthwise_kernel` layout; cast to x.dtype.
        bias: (C·m,) or None.
        strides: (sh, sw), default (1, 1).
        padding: "valid" or "same" (TensorFlow: the odd cell goes bottom/right).
        dilation: (dh, dw), default (1, 1).

    Shape: (N, H, W, C) -> (N, H', W', C·m), H' = floor((H − dh·(kh−1) − 1)/sh) + 1 for
    "valid", ceil(H/sh) for "same"; likewise W'.
    """
    _check_arguments(x, kernel, bias, strides, padding, dilation)
    kernel = kernel.astype(x.dtype, copy=False)
    n, height, width, channels = x.shape
    kh, kw, _, multiplier = kernel.shape
    # ShapeError (a ValueError) when a 'valid' window does not fit
    out_h, out_w = spatial_output_shape((height, width), (kh, kw), strides, padding, dilation)
    pad_h = padding_amounts(height, kh, strides[0], padding, dilation[0])
    pad_w = padding_amounts(width, kw, strides[1], padding, dilation[1])
    if pad_h != (0, 0) or pad_w != (0, 0):
        x = np.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
    else:
        x = np.ascontiguousarray(x)
    out = np.empty((n, out_h, out_w, channels, multiplier), dtype=x.dtype)
    images = max(1, _BLOCK_BYTES // max(1, out[0].nbytes))
    for first in range(0, n, images):
        patches = _patch_view(x[first : first + images], out_h, out_w, kh, kw, strides, dilation)
        np.einsum("nhwabc,abcq->nhwcq", patches, kernel, out=out[first : first + images])
    result = out.reshape(n, out_h, out_w, channels * multiplier)
    if bias is not None:
        result += bias.astype(x.dtype, copy=False)
    return result


def separable_conv2d(
    x: np.ndarray,
    depthwise_kernel: np.ndarray,
    pointwise_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Depthwise convolution (no bias) followed by a 1×1 convolution that mixes channels.

    z[n, i, j, f] = b[f] + Σ_k depthwise(x)[n, i, j, k]·p[0, 0, k, f]

    Args:
        x: input (N, H, W, C), float32 or float64.
        depthwise_kernel: (kh, kw, C, m); strides, padding and dilation apply to it.
        pointwise_kernel: (1, 1, C·m, F).
        bias: (F,) or None.

    Shape: (N, H, W, C) -> (N, H', W', F), H', W' as in `depthwise_conv2d`.
    """
    if pointwise_kernel.ndim != 4 or pointwise_kernel.shape[:2] != (1, 1):
        raise ValueError(
            "pointwise_kernel must have shape (1, 1, C·m, F). "
            f"Received: pointwise_kernel.shape={pointwise_kernel.shape}."
        )
    inner = depthwise_conv2d(x, depthwise_kernel, None, strides, padding, dilation)
    return conv2d(inner, pointwise_kernel, bias)


def _patch_view(
    block: np.ndarray,
    out_h: int,
    out_w: int,
    kh: int,
    kw: int,
    strides: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Read-only view (n, H', W', kh, kw, C): element [n, i, j, a, b, c] is
    block[n, i·sh + a·dh, j·sw + b·dw, c]."""
    sn, sh, sw, sc = block.strides
    return as_strided(
        block,
        shape=(block.shape[0], out_h, out_w, kh, kw, block.shape[3]),
        strides=(sn, sh * strides[0], sw * strides[1], sh * dilation[0], sw * dilation[1], sc),
        writeable=False,
    )


def _check_arguments(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
) -> None:
    """Raise ValueError naming the first argument that depthwise_conv2d cannot use."""
    check_input(x)
    if kernel.ndim != 4 or 0 in kernel.shape or kernel.shape[2] != x.shape[3]:
        raise ValueError(
            f"kernel must have shape (kh, kw, C={x.shape[3]}, depth_multiplier). "
            f"Received: kernel.shape={kernel.shape}."
        )
    check_window(padding, strides=strides, dilation=dilation)
    filters = kernel.shape[2] * kernel.shape[3]
    check_bias(bias, filters)
