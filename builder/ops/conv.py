"""Two-dimensional convolution, channels_last, as Keras/TensorFlow compute it.

    y[n, i, j, f] = b[f] + Σ_{a,c,k} xp[n, i·sh + a·dh, j·sw + c·dw, g·Cg + k]·w[a, c, k, f]

where xp is x zero-padded by TensorFlow's rule (`builder.ops.shapes.padding_amounts`),
Cg = C / groups and g = f // (F / groups) is the group of filter f: channel block g
feeds filter block g only.

How it is computed (im2col): the patches under the kernel are copied into a contiguous
(rows, kh·kw·Cg) matrix, columns ordered (kh, kw, Cg) like the Keras kernel, and
multiplied by the kernel reshaped to (kh·kw·Cg, F/G), one BLAS GEMM per group (a single
batched np.matmul), written straight into the output. A column of ones at the end of the
patch matrix meets the bias as an extra kernel row, so the GEMM also adds the bias. A 1×1
kernel with stride 1 and one group needs no patch matrix: the input itself, reshaped to
(N·H·W, C), is multiplied.

Blocking: the patch matrix is built `_BLOCK_BYTES` at a time (whole images when they fit,
otherwise bands of output rows of one image), and zero padding is done per block of images
in a reused buffer laid out group-major. Measured on the 2-core target machine (OpenBLAS),
this is 1.1-1.7× faster than one patch matrix for the whole batch: the copy and the GEMM
stay in cache, OpenBLAS runs faster on a few thousand rows than on 10⁵, and no large
buffer is page-faulted in on every call.

Threads: the blocks are shared between `threads.workers()` threads (the BLAS's thread
count), each copying its own patches and running its own single-threaded GEMM
(`builder.ops.threads`), instead of one block at a time with every GEMM split across the
cores. Measured on the 2-core machine against one block at a time with 2-thread OpenBLAS
(interleaved, whole benchmark networks): 3-4× faster while other processes kept the
machine busy (load 5-6), where the per-GEMM barriers of a split GEMM stall on any
descheduled thread. Each block is the same copy and GEMM on whichever thread runs it.
(`Model.forward` usually splits the batch between threads first; then each thread's
convolutions run here with one worker.)

Tap loop over a padded image flattened to (rows, C), each tap a GEMM on a contiguous
row-shifted view (no copy), accumulated in blocks of 16 output rows: measured against
this im2col, one thread (ms): C=64 64×64 (VGG block 1) 126.8 vs 128.0; C=128 32×32
115.3 vs 112.5; C=3 19.1 vs 8.5; C=32 13×13 27.4 vs 20.4. Not adopted.

Why no loop over kernel taps (Σ_taps shifted_x @ w[a, c], a GEMM of depth C per tap,
which needs no patch matrix): against blocked im2col it was slower in every case measured
(C = 1 to 64, kernels 3×3 to 7×7: 1.4-22× slower). NumPy's matmul cannot accumulate into
its output, so every tap costs an extra pass over the output, and a GEMM of depth C is far
from peak when C is small. The rule is therefore: 1×1, stride 1, one group → plain GEMM;
anything else → blocked im2col.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from builder.ops import threads
from builder.ops.checks import check_bias, check_input, check_window
from builder.ops.shapes import padding_amounts, spatial_output_shape

# Bytes of patch matrix and output per block. 2-8 MiB measured within a few percent of
# each other (L2 is 2 MiB per core, L3 32 MiB); smaller blocks pay call overhead.
_BLOCK_BYTES = 4 * 2**20


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """2-D convolution (cross-correlation, as Keras) of a channels_last batch.

    y[n, i, j, f] = b[f] + Σ_{a,c,k} xp[n, i·sh + a·dh, j·sw + c·dw, g·Cg + k]·w[a, c, k, f]

    Args:
        x: input, float32 or float64; the output has the same dtype.
        kernel: (kh, kw, C // groups, F), Keras layout; cast to x.dtype.
        bias: (F,) or None.
        strides: (sh, sw), default (1, 1).
        padding: "valid" (none) or "same" (TensorFlow: the odd cell goes bottom/right).
        dilation: (dh, dw), default (1, 1); may be combined with strides > 1.
        groups: channel groups, default 1; C and F must both be divisible by it.

    Shape: (N, H, W, C) -> (N, H', W', F), H' = floor((H − dh·(kh−1) − 1)/sh) + 1 for
    "valid", ceil(H/sh) for "same"; likewise W'.
    """
    _check_arguments(x, kernel, bias, strides, padding, dilation, groups)
    kernel = kernel.astype(x.dtype, copy=False)
    n, height, width, channels = x.shape
    kh, kw, group_channels, filters = kernel.shape
    out_h, out_w = spatial_output_shape((height, width), (kh, kw), strides, padding, dilation)
    out = np.empty((n, out_h, out_w, filters), dtype=x.dtype)
    if bias is not None:
        bias = bias.astype(x.dtype, copy=False)
    if kh == kw == 1 and tuple(strides) == (1, 1) and groups == 1:
        _pointwise(x, kernel.reshape(channels, filters), bias, out)
        return out
    rows = _real_window(height, out_h, kh, strides[0], dilation[0], padding)
    cols = _real_window(width, out_w, kw, strides[1], dilation[1], padding)
    if rows is None or cols is None:  # every tap reads padding: the output is the bias
        out[...] = 0 if bias is None else bias
        return out
    (taps_h, in_h, pad_h, sh, dh), (taps_w, in_w, pad_w, sw, dw) = rows, cols
    kernel, x = kernel[taps_h, taps_w], x[:, in_h, in_w]
    _im2col_conv(x, kernel, bias, out, pad_h, pad_w, (sh, sw), (dh, dw), groups)
    return out


def _real_window(
    length: int, out_length: int, kernel: int, stride: int, dilation: int, padding: str
) -> tuple[slice, slice, tuple[int, int], int, int] | None:
    """The part of one axis the convolution really needs: (kernel taps, input cells,
    (before, after) padding, stride, dilation), or None when every tap reads padding.

    Tap a of output i reads padded cell i·stride + a·dilation, a real cell when it lies in
    [before, before + length). Taps real for no output multiply zeros and are dropped;
    input cells no remaining tap reads are cropped; the padding shrinks to match. For
    ordinary layers nothing changes; for a dilation or stride of 10¹² with `same` padding
    this keeps the padded input as small as the real one (and Python's huge integers out of
    NumPy's strides: a stride or dilation that is never applied becomes 1).
    """
    before, _ = padding_amounts(length, kernel, stride, padding, dilation)
    first = max(0, -(-(before - (out_length - 1) * stride) // dilation))
    last = min(kernel - 1, (before + length - 1) // dilation)
    if first > last:
        return None
    # Padded cells read: [first·dilation, + span); as input indices [begin, end).
    span = (out_length - 1) * stride + (last - first) * dilation + 1
    begin = first * dilation - before
    end = begin + span
    cells = slice(max(0, begin), min(length, end))
    pad = (max(0, -begin), max(0, end - length))
    stride = stride if out_length > 1 else 1
    dilation = dilation if last > first else 1
    return slice(first, last + 1), cells, pad, stride, dilation


def _pointwise(
    x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None, out: np.ndarray
) -> None:
    """1×1 convolution, stride 1: out rows = x rows @ weights + bias, in blocks of rows."""
    rows = x.reshape(-1, x.shape[-1])
    out_rows = out.reshape(-1, out.shape[-1])
    step = max(1, _BLOCK_BYTES // (rows.shape[1] * rows.itemsize))
    for start in range(0, rows.shape[0], step):
        target = out_rows[start : start + step]
        np.matmul(rows[start : start + step], weights, out=target)
        if bias is not None:
            target += bias


def _im2col_conv(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    out: np.ndarray,
    pad_h: tuple[int, int],
    pad_w: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> None:
    """Fill `out` block by block: copy the block's patches, then one GEMM per group."""
    kh, kw, group_channels, filters = kernel.shape
    n, out_h, out_w, _ = out.shape
    depth = kh * kw * group_channels
    # (G, K, F/G): column block g of the kernel, rows ordered (kh, kw, Cg) like the patches.
    weights = kernel.reshape(depth, groups, filters // groups).transpose(1, 0, 2)
    # A column of ones after the patches meets a row of biases under the kernel, so the
    # GEMM adds the bias: no separate pass over the output (1.3× faster with C = 1).
    ones = 0 if bias is None else 1
    if bias is not None:
        weights = np.concatenate([weights, bias.reshape(groups, 1, -1)], axis=1)
    row_bytes = out_w * (groups * (depth + ones) + filters) * x.itemsize  # patches + outputs
    count = threads.workers()
    images, rows = _block_shape(n, out_h, row_bytes)
    if count > 1 and rows == out_h:  # a multiple of `count` equal blocks of whole images
        blocks = -(-n // images)
        images = -(-n // (-(-blocks // count) * count))
    out_rows = out.reshape(-1, filters)
    # Every block is one task; the worker threads take them from one shared iterator
    # (a list iterator's next() is atomic), each with its own padded block and patches.
    blocks = [(first, top) for first in range(0, n, images) for top in range(0, out_h, rows)]
    tasks = iter(blocks)

    def work() -> None:
        scratch = np.ones((groups, images * rows * out_w, depth + ones), dtype=x.dtype)
        padded = _PaddedBlocks(x, images, pad_h, pad_w, groups)
        for first, top in tasks:
            block = padded.block(first)
            band = min(rows, out_h - top)
            patches = _patch_view(block, top, band, out_w, kh, kw, strides, dilation)
            m = block.shape[1] * band * out_w
            lhs = scratch[:, :m]
            # Only splits axes, so NumPy returns a view of `lhs`, never a copy.
            _copy_patches(lhs[:, :, :depth].reshape(patches.shape), patches)
            start = (first * out_h + top) * out_w
            target = out_rows[start : start + m].reshape(m, groups, -1).transpose(1, 0, 2)
            np.matmul(lhs, weights, out=target)

    threads.parallel(work, min(count, len(blocks)))


def _copy_patches(cols: np.ndarray, patches: np.ndarray) -> None:
    """cols[...] = patches, both (G, n, band, W', kh, kw, Cg), `cols` C-contiguous.

    A patch row is made of runs of contiguous input: kw·Cg values per kernel row (Cg when
    dilated or when the input's channels are not contiguous). NumPy's element-wise copy
    pays a loop per run, so the runs are copied as single opaque elements instead (a
    `np.void` view of both sides): 1.1-3.8× faster on the copy for runs of 8 bytes or more
    (the 7×7 stride-2 stem of the strided benchmark: 2.1×). Runs shorter than 16 bytes
    from one-channel inputs (a 3×3 kernel on a grey image) are copied tap by tap instead,
    each tap one strided copy along W'; that was 1.3-2.3× faster than either.
    """
    kw, group_channels = patches.shape[5], patches.shape[6]
    item = patches.itemsize
    fused = patches.strides[5] == group_channels * item  # (kw, Cg) is one run
    run = (kw if fused else 1) * group_channels * item
    if group_channels == 1 and kw <= 4 and run < 16:
        for a in range(patches.shape[4]):
            for c in range(kw):
                np.copyto(cols[..., a, c, :], patches[..., a, c, :])
        return
    axes = 5 if fused else 6
    target, source = _runs(cols, axes, run), _runs(patches, axes, run)
    if target is None or source is None:  # channels not contiguous (a sliced input)
        np.copyto(cols, patches)
    else:
        np.copyto(target, source)


def _runs(array: np.ndarray, axes: int, run: int) -> np.ndarray | None:
    """View of `array`'s first `axes` axes whose elements are the `run` bytes of its
    trailing axes at each index (dtype void); None unless those bytes are contiguous."""
    trailing = array[(0,) * axes]
    if not trailing.flags.c_contiguous or trailing.nbytes != run:
        return None
    first = trailing.reshape(-1).view(np.uint8).view(np.dtype((np.void, run)))
    return as_strided(
        first,
        shape=array.shape[:axes],
        strides=array.strides[:axes],
        writeable=array.flags.writeable,
    )


def _block_shape(n: int, out_h: int, row_bytes: int) -> tuple[int, int]:
    """(images, output rows) per block: whole images if one fits in _BLOCK_BYTES, else bands."""
    image_bytes = out_h * row_bytes
    if image_bytes <= _BLOCK_BYTES:
        return max(1, min(n, _BLOCK_BYTES // image_bytes)), out_h
    return 1, max(1, _BLOCK_BYTES // row_bytes)


class _PaddedBlocks:
    """x[first : first + images] zero-padded and laid out group-major, shape
    (G, images, H + pad, W + pad, C/G), for one worker at a time.

    Group-major makes the kw·C/G channels a kernel row reads from one group contiguous, so
    the patch copy moves long runs rather than runs of C/G values. The block lives in one
    buffer reused for every block; its border is zeroed once and never written again.
    Without padding or groups the block is a view of x.
    """

    def __init__(
        self,
        x: np.ndarray,
        images: int,
        pad_h: tuple[int, int],
        pad_w: tuple[int, int],
        groups: int,
    ) -> None:
        n, height, width, channels = x.shape
        self.x, self.groups, self.top, self.left = x, groups, pad_h[0], pad_w[0]
        self.images, self.first = images, -1
        self.view = groups == 1 and pad_h == (0, 0) and pad_w == (0, 0)
        self.buffer = (
            None
            if self.view
            else np.zeros(
                (groups, images, height + sum(pad_h), width + sum(pad_w), channels // groups),
                dtype=x.dtype,
            )
        )

    def block(self, first: int) -> np.ndarray:
        """The block of images from `first` (filled unless it is the last one returned)."""
        count = min(self.images, self.x.shape[0] - first)
        if self.buffer is None:
            return self.x[None, first : first + count]
        block = self.buffer[:, :count]
        if first != self.first:
            _, height, width, _ = self.x.shape
            source = self.x[first : first + count].reshape(count, height, width, self.groups, -1)
            block[:, :, self.top : self.top + height, self.left : self.left + width] = (
                source.transpose(3, 0, 1, 2, 4)
            )
            self.first = first
        return block


def _patch_view(
    block: np.ndarray,
    top: int,
    band: int,
    out_w: int,
    kh: int,
    kw: int,
    strides: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Read-only view (G, n, band, W', kh, kw, Cg) of the patches for output rows top:top+band.

    Element [g, n, i, j, a, c, k] is block[g, n, (top + i)·sh + a·dh, j·sw + c·dw, k].
    """
    groups, n, _, _, group_channels = block.shape
    sg, sn, sh, sw, sc = block.strides
    return as_strided(
        block[:, :, top * strides[0] :],
        shape=(groups, n, band, out_w, kh, kw, group_channels),
        strides=(sg, sn, sh * strides[0], sw * strides[1], sh * dilation[0], sw * dilation[1], sc),
        writeable=False,
    )


def _check_arguments(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
    groups: int,
) -> None:
    """Raise ValueError naming the first argument that conv2d cannot use."""
    check_input(x)
    if kernel.ndim != 4 or 0 in kernel.shape:
        raise ValueError(
            "kernel must have shape (kh, kw, C // groups, F). "
            f"Received: kernel.shape={kernel.shape}."
        )
    check_window(padding, strides=strides, dilation=dilation)
    if int(groups) != groups or groups < 1:
        raise ValueError(
            f"The number of groups must be a positive integer. Received: groups={groups}."
        )
    channels, filters = x.shape[3], kernel.shape[3]
    if kernel.shape[2] * groups != channels:
        raise ValueError(
            f"kernel.shape[2] × groups must equal the input channels {channels}. "
            f"Received: kernel.shape={kernel.shape}, groups={groups}."
        )
    if filters % groups:
        raise ValueError(
            f"The number of filters must be divisible by groups. "
            f"Received: filters={filters}, groups={groups}."
        )
    check_bias(bias, filters)


def conv2d_scratch(
    input_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    strides: tuple[int, int] = (1, 1),
    padding: str = "valid",
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    bias: bool = True,
) -> tuple[int, int]:
    """(elements per sample, elements per call) that `conv2d` allocates besides its output.

    The zero-padded, group-major block of images (H + pad)·(W + pad)·C, built only with
    padding or groups > 1, holds min(chunk, block images): per call when that is small,
    else per sample. Per call, whatever the chunk size: the patch block,
    G·rows·(kh·kw·Cg + 1) with rows as `_block_shape` chooses them for an unbounded batch (at most `_BLOCK_BYTES` of patches
    and outputs, or one band of output rows when a single row is larger), and the kernel
    with its bias row; all of that once per worker thread. Read from the same rules the
    kernel follows, so the two agree.
    """
    height, width, channels = input_shape
    kh, kw, group_channels, filters = kernel_shape
    if kh == kw == 1 and tuple(strides) == (1, 1) and groups == 1:
        return 0, 0  # a GEMM on the input itself, written into the output
    out_h, out_w = spatial_output_shape((height, width), (kh, kw), strides, padding, dilation)
    rows = _real_window(height, out_h, kh, strides[0], dilation[0], padding)
    cols = _real_window(width, out_w, kw, strides[1], dilation[1], padding)
    if rows is None or cols is None:
        return 0, 0
    (taps_h, in_h, pad_h, _, _), (taps_w, in_w, pad_w, _, _) = rows, cols
    taps = (taps_h.stop - taps_h.start) * (taps_w.stop - taps_w.start)
    depth = taps * group_channels
    ones = 1 if bias else 0
    row_elements = out_w * (groups * (depth + ones) + filters)
    # float32 blocks hold more rows than float64 ones: the larger count bounds both dtypes
    # (exact for float32; float64 is over-counted by at most one block, 4 MiB)
    images, band = _block_shape(2**62, out_h, row_elements * 4)
    patches = images * band * out_w * groups * (depth + ones)
    kernel_copy = (depth + ones) * filters  # with the bias row, or regrouped
    per_sample, padded = 0, 0
    if groups > 1 or pad_h != (0, 0) or pad_w != (0, 0):
        image = (in_h.stop - in_h.start + sum(pad_h)) * (in_w.stop - in_w.start + sum(pad_w))
        # the buffer holds min(chunk, images) padded images: bound it by whichever is
        # the tighter for ordinary chunks (fixed when `images` of them are small)
        if images * image * channels <= _BLOCK_BYTES:  # elements: at most 4 Mi
            padded = images * image * channels
        else:
            per_sample = image * channels
    # each of the worker threads (`threads.workers()`) holds its own patches and padded block
    return per_sample, threads.workers() * (patches + kernel_copy + padded)
