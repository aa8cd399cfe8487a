"""Transposed 2-D convolution, channels_last, as Keras 3 / TensorFlow compute it.

    full[n, i·sh + a·dh, j·sw + b·dw, f] += Σ_c x[n, i, j, c]·w[a, b, f, c]
    y[n, p, q, f] = full[n, p + top, q + left, f] + b[f]   (0 ≤ p < H', 0 ≤ q < W')

The kernel has Keras's layout (kh, kw, F, C): the transpose of a Conv2D from F to C
channels. `full` has (H − 1)·sh + dh·(kh − 1) + 1 rows; the output is the window of H' rows
starting at row `top`, where cells past the end of `full` (from `output_padding`) are zero
(plus the bias). H' and `top` follow Keras 3 (`deconv_output_length`, `deconv_crop`), which
agree with TensorFlow's gradient of a `same`/`valid` Conv2D; likewise W' and `left`.

How it is computed: one GEMM (N·H·W, C) @ (C, kh·kw·F) gives every tap's contribution at
once; a loop over the kh·kw taps adds each into a strided view of `full` (the scatter), and
the window is cut out. Blocks of images keep the GEMM result near `_BLOCK_BYTES`.
"""

from __future__ import annotations

import numpy as np

from builder.ops.checks import check_bias, check_input, check_window
from builder.ops.shapes import effective_kernel

_BLOCK_BYTES = 8 * 2**20


def deconv_output_length(
    length: int,
    kernel: int,
    stride: int,
    padding: str,
    output_padding: int | None = None,
    dilation: int = 1,
) -> int:
    """Output length of a transposed convolution along one axis (Keras 3's rule).

    With e = dilation·(kernel − 1) + 1:
    - valid: (length − 1)·stride + e + p, p = output_padding or max(e, stride) − e;
    - same: length·stride, or (length − 1)·stride + e mod 2 + output_padding when given.
    """
    span = effective_kernel(kernel, dilation)
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (length - 1) * stride + span + extra
    if padding == "same":
        if output_padding is None:
            return length * stride
        return (length - 1) * stride + span % 2 + output_padding
    raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}.")


def deconv_crop(
    kernel: int, stride: int, padding: str, output_padding: int | None = None, dilation: int = 1
) -> int:
    """Cells of the full transposed output dropped in front, along one axis.

    Keras 3 pads the stride-dilated input by `before` cells before a stride-1 convolution
    with the flipped kernel; the full output corresponds to before = e − 1, so the crop is
    e − 1 − before. valid: before = e − 1 (no crop). same: with t = stride + e − 2 (no
    output_padding) or e + e mod 2 − 2 + output_padding, before = min(ceil(t/2), e − 1).
    """
    span = effective_kernel(kernel, dilation)
    if padding == "valid":
        return 0
    if output_padding is None:
        total = stride + span - 2
    else:
        total = span + span % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, span - 1)
    return span - 1 - before


def conv2d_transpose(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    output_padding: tuple[int, int] | None = None,
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Transposed 2-D convolution (the gradient of Conv2D with respect to its input).

    y[n, p, q, f] = b[f] + Σ_{i,j,a,b,c: i·sh + a·dh = p + top, j·sw + b·dw = q + left}
                    x[n, i, j, c]·w[a, b, f, c]

    Args:
        x: input, float32 or float64; the output has the same dtype.
        kernel: (kh, kw, F, C), Keras's Conv2DTranspose layout; cast to x.dtype.
        bias: (F,) or None.
        strides: (sh, sw), default (1, 1).
        padding: "valid" or "same".
        output_padding: None or (ph, pw), extra rows/columns at the bottom/right.
        dilation: (dh, dw), default (1, 1).

    Shape: (N, H, W, C) -> (N, H', W', F), H' = `deconv_output_length(H, kh, sh, padding,
    ph, dh)`, likewise W' (e.g. H·sh for "same" without output_padding).
    """
    _check_arguments(x, kernel, bias, strides, padding, output_padding, dilation)
    kernel = kernel.astype(x.dtype, copy=False)
    n, height, width, channels = x.shape
    kh, kw, filters, _ = kernel.shape
    pads = (None, None) if output_padding is None else tuple(output_padding)
    out_len, crops = [], []
    for axis, length in enumerate((height, width)):
        k = (kh, kw)[axis]
        out_len.append(
            deconv_output_length(length, k, strides[axis], padding, pads[axis], dilation[axis])
        )
        crops.append(deconv_crop(k, strides[axis], padding, pads[axis], dilation[axis]))
    if min(out_len) < 1:
        raise ValueError(
            f"The transposed convolution output would be empty: {out_len[0]}×{out_len[1]}. "
            f"Received: x.shape={x.shape}, kernel.shape={kernel.shape}, "
            f"output_padding={output_padding}."
        )
    # Rows of `full` that hold taps, and enough rows to cover the window [crop, crop + out).
    spans = [
        (length - 1) * s + effective_kernel(k, d)
        for length, k, s, d in zip((height, width), (kh, kw), strides, dilation, strict=True)
    ]
    full_h, full_w = (max(sp, c + o) for sp, c, o in zip(spans, crops, out_len, strict=True))
    # (C, kh·kw·F): column (a, b, f) holds w[a, b, f, :].
    weights = kernel.transpose(3, 0, 1, 2).reshape(channels, kh * kw * filters)
    out = np.empty((n, out_len[0], out_len[1], filters), dtype=x.dtype)
    images = max(1, _BLOCK_BYTES // max(1, height * width * weights.shape[1] * x.itemsize))
    full = np.zeros((min(images, n), full_h, full_w, filters), dtype=x.dtype)
    rows_end, cols_end = (height - 1) * strides[0] + 1, (width - 1) * strides[1] + 1
    for first in range(0, n, images):
        count = min(images, n - first)
        taps = (x[first : first + count].reshape(-1, channels) @ weights).reshape(
            count, height, width, kh, kw, filters
        )
        block = full[:count]
        block[...] = 0
        for a in range(kh):
            top = a * dilation[0]
            for b in range(kw):
                left = b * dilation[1]
                block[
                    :, top : top + rows_end : strides[0], left : left + cols_end : strides[1]
                ] += taps[:, :, :, a, b]
        out[first : first + count] = block[
            :, crops[0] : crops[0] + out_len[0], crops[1] : crops[1] + out_len[1]
        ]
    if bias is not None:
        out += bias.astype(x.dtype, copy=False)
    return out


def _check_arguments(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    strides: tuple[int, int],
    padding: str,
    output_padding: tuple[int, int] | None,
    dilation: tuple[int, int],
) -> None:
    """Raise ValueError naming the first argument that conv2d_transpose cannot use."""
    check_input(x)
    if kernel.ndim != 4 or 0 in kernel.shape or kernel.shape[3] != x.shape[3]:
        raise ValueError(
            f"kernel must have shape (kh, kw, filters, C={x.shape[3]}). "
            f"Received: kernel.shape={kernel.shape}."
        )
    check_window(padding, strides=strides, dilation=dilation)
    if output_padding is not None and (
        len(output_padding) != 2 or any(int(v) != v or v < 0 for v in output_padding)
    ):
        raise ValueError(
            "output_padding must be None or two non-negative integers. "
            f"Received: output_padding={output_padding}."
        )
    filters = kernel.shape[2]
    check_bias(bias, filters)
