"""conv2d against a naive loop convolution written here from TensorFlow's definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from builder.ops import conv
from builder.ops.conv import conv2d

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def tf_output_and_front_pad(length: int, kernel: int, stride: int, dilation: int, padding: str):
    """(output length, cells padded in front) by TensorFlow's rule, written independently."""
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (length - span) // stride + 1, 0
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return out, total // 2


def naive_conv2d(x, kernel, bias, strides, padding, dilation, groups):
    """Loops over output pixels, taps and groups; cells outside the input count as zero."""
    n, height, width, channels = x.shape
    kh, kw, group_channels, filters = kernel.shape
    group_filters = filters // groups
    out_h, top = tf_output_and_front_pad(height, kh, strides[0], dilation[0], padding)
    out_w, left = tf_output_and_front_pad(width, kw, strides[1], dilation[1], padding)
    y = np.zeros((n, out_h, out_w, filters), dtype=np.float64)
    x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
    for i, j, a, b, g in itertools.product(
        range(out_h), range(out_w), range(kh), range(kw), range(groups)
    ):
        row = i * strides[0] + a * dilation[0] - top
        col = j * strides[1] + b * dilation[1] - left
        if 0 <= row < height and 0 <= col < width:
            cin = slice(g * group_channels, (g + 1) * group_channels)
            fout = slice(g * group_filters, (g + 1) * group_filters)
            y[:, i, j, fout] += x64[:, row, col, cin] @ k64[a, b, :, fout]
    if bias is not None:
        y += bias
    return y


def random_case(shape, kernel_shape, dtype, seed=0, with_bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal(kernel_shape).astype(dtype)
    bias = rng.standard_normal(kernel_shape[3]).astype(dtype) if with_bias else None
    return x, kernel, bias


def check_against_naive(x, kernel, bias, strides, padding, dilation, groups):
    y = conv2d(x, kernel, bias, strides, padding, dilation, groups)
    expected = naive_conv2d(x, kernel, bias, strides, padding, dilation, groups)
    assert y.dtype == x.dtype
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **TOLERANCE[x.dtype.type])


GRID = [
    (size, k, s, d, g, padding, dtype)
    for size, k, s, d, g, padding, dtype in itertools.product(
        (7, 8),
        (1, 2, 3, 4),
        (1, 2, 3),
        (1, 2),
        (1, 2),
        ("valid", "same"),
        (np.float32, np.float64),
    )
    if padding == "same" or d * (k - 1) + 1 <= size  # 'valid' output of at least one cell
]


@pytest.mark.parametrize("size, k, s, d, groups, padding, dtype", GRID)
def test_matches_naive_grid(size, k, s, d, groups, padding, dtype):
    x, kernel, bias = random_case((2, size, size, 4), (k, k, 4 // groups, 4), dtype, seed=k + s)
    check_against_naive(x, kernel, bias, (s, s), padding, (d, d), groups)


@pytest.mark.parametrize(
    "shape, kernel_shape, strides, dilation, groups, padding",
    [
        ((2, 7, 8, 3), (2, 3, 3, 2), (1, 2), (2, 1), 1, "same"),
        ((2, 9, 6, 2), (3, 1, 2, 4), (3, 1), (1, 2), 1, "valid"),
        ((2, 8, 7, 4), (4, 2, 1, 4), (2, 3), (2, 2), 4, "same"),  # depthwise
        ((2, 6, 9, 3), (3, 3, 1, 6), (1, 1), (1, 1), 3, "valid"),  # depthwise, multiplier 2
        ((2, 7, 7, 1), (3, 3, 1, 4), (1, 1), (1, 1), 1, "same"),  # one input channel
        ((2, 7, 7, 1), (5, 5, 1, 2), (2, 2), (1, 1), 1, "same"),
        ((2, 5, 5, 6), (1, 1, 6, 3), (1, 1), (1, 1), 1, "valid"),  # plain GEMM path
        ((2, 5, 5, 6), (1, 1, 3, 4), (1, 1), (1, 1), 2, "same"),
        ((2, 7, 7, 4), (1, 1, 4, 3), (2, 2), (1, 1), 1, "same"),
        ((1, 3, 3, 2), (4, 4, 2, 2), (1, 1), (1, 1), 1, "same"),  # kernel larger than input
        ((1, 2, 9, 2), (3, 3, 2, 2), (3, 3), (2, 2), 1, "same"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_naive_uneven(shape, kernel_shape, strides, dilation, groups, padding, dtype):
    x, kernel, bias = random_case(shape, kernel_shape, dtype, seed=1)
    check_against_naive(x, kernel, bias, strides, padding, dilation, groups)


@pytest.mark.parametrize("block_bytes", [1, 300, 5000])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_block_splitting_does_not_change_the_result(monkeypatch, block_bytes, padding):
    # Real-size blocks are megabytes; tiny ones force row bands and several image blocks.
    monkeypatch.setattr(conv, "_BLOCK_BYTES", block_bytes)
    x, kernel, bias = random_case((3, 9, 8, 4), (3, 2, 2, 4), np.float64, seed=2)
    check_against_naive(x, kernel, bias, (2, 1), padding, (1, 2), 2)
    x, kernel, bias = random_case((3, 5, 5, 3), (1, 1, 3, 2), np.float64, seed=3)
    check_against_naive(x, kernel, bias, (1, 1), padding, (1, 1), 1)


# Each way `_copy_patches` can copy a patch matrix: (input shape, kernel shape, dilation,
# dtype, input slicing, whether the runs are copied as opaque `np.void` elements).
ALL = slice(None)
COPY_PATHS = [
    ((2, 9, 9, 1), (3, 3, 1, 2), (1, 1), np.float32, None, False),  # 12-byte runs: tap by tap
    ((2, 9, 9, 1), (3, 3, 1, 2), (2, 2), np.float32, None, False),  # dilated grey: tap by tap
    ((2, 9, 9, 1), (2, 4, 1, 2), (1, 1), np.float32, None, True),  # 16-byte runs
    ((2, 9, 9, 1), (3, 5, 1, 2), (1, 1), np.float32, None, True),  # 20-byte runs
    ((2, 9, 9, 1), (3, 3, 1, 2), (1, 1), np.float64, None, True),  # 24-byte runs
    ((2, 9, 9, 2), (3, 3, 2, 3), (2, 2), np.float32, None, True),  # dilated: runs of Cg only
    ((2, 9, 9, 3), (3, 3, 3, 3), (2, 1), np.float32, None, True),
    ((2, 11, 11, 3), (7, 7, 3, 4), (1, 1), np.float32, None, True),  # the strided stem's shape
    ((2, 9, 9, 6), (3, 3, 3, 2), (1, 1), np.float32, (ALL, ALL, ALL, slice(1, 4)), True),
    ((2, 9, 9, 6), (3, 3, 3, 2), (1, 1), np.float32, (ALL, ALL, ALL, slice(0, 6, 2)), False),
    (
        (2, 9, 9, 3),
        (3, 3, 1, 2),
        (1, 1),
        np.float32,
        (ALL, ALL, ALL, slice(1, 2)),
        False,
    ),  # grey slice
]


@pytest.mark.parametrize("shape, kernel_shape, dilation, dtype, view, as_runs", COPY_PATHS)
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_every_patch_copy_path_matches_naive(
    monkeypatch, shape, kernel_shape, dilation, dtype, view, as_runs, strides
):
    # 'valid' padding and one group: the input itself (possibly a sliced view) is the block.
    x, kernel, bias = random_case(shape, kernel_shape, dtype, seed=5)
    if view is not None:
        x = x[view]
    views = []
    original = conv._runs

    def recording_runs(*args):
        views.append(original(*args))
        return views[-1]

    monkeypatch.setattr(conv, "_runs", recording_runs)
    check_against_naive(x, kernel, bias, strides, "valid", dilation, 1)
    copied_as_runs = bool(views) and all(v is not None for v in views)
    assert copied_as_runs == as_runs


def test_without_bias_and_with_non_contiguous_input():
    x, kernel, _ = random_case((2, 9, 16, 6), (3, 3, 3, 4), np.float64, seed=4, with_bias=False)
    view = x[:, ::-1, ::2, 1:4]  # reversed rows, every other column, a channel slice
    check_against_naive(view, kernel, None, (1, 1), "same", (1, 1), 1)


def test_same_padding_with_even_kernel_puts_the_extra_cell_bottom_right():
    x = np.arange(1, 17, dtype=np.float64).reshape(1, 4, 4, 1)
    kernel = np.ones((2, 2, 1, 1))
    expected = np.array(
        [
            [14, 18, 22, 12],
            [30, 34, 38, 20],
            [46, 50, 54, 28],
            [27, 29, 31, 16],
        ],
        dtype=np.float64,
    )
    y = conv2d(x, kernel, None, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_groups_connect_channel_block_g_to_filter_block_g_only():
    x = np.array([1.0, 10.0]).reshape(1, 1, 1, 2)
    kernel = np.array([2.0, 3.0]).reshape(1, 1, 1, 2)  # filter 0 sees channel 0, filter 1 channel 1
    y = conv2d(x, kernel, np.array([0.5, 0.25]), groups=2)
    np.testing.assert_array_equal(y.reshape(2), [2.5, 30.25])


def test_strides_and_dilation_together_by_hand():
    x = np.arange(25, dtype=np.float64).reshape(1, 5, 5, 1)
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    # Taps at (0, 0) and (2, 2): y[i, j] = x[2i, 2j] − x[2i + 2, 2j + 2] = −12 everywhere.
    y = conv2d(x, kernel, None, strides=(2, 2), dilation=(2, 2))
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), -12.0))


def test_output_dtype_follows_input_and_kernel_is_cast():
    x = np.ones((1, 3, 3, 2), dtype=np.float32)
    kernel = np.ones((3, 3, 2, 1), dtype=np.float64)
    y = conv2d(x, kernel, np.zeros(1, dtype=np.float64))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.full((1, 1, 1, 1), 18.0, dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(groups=3), "kernel.shape\\[2\\] × groups must equal the input channels 4"),
        (dict(groups=0), "groups must be a positive integer. Received: groups=0"),
        (dict(padding="full"), "padding must be 'valid' or 'same'. Received: padding='full'"),
        (dict(strides=(0, 1)), "strides must be two positive integers"),
        (dict(dilation=(1,)), "dilation must be two positive integers"),
        (dict(dilation=(4, 4)), "the 'valid' output would be empty"),
    ],
)
def test_invalid_arguments_are_refused(kwargs, message):
    x = np.zeros((1, 5, 5, 4))
    kernel = np.zeros((3, 3, 4, 2))
    with pytest.raises(ValueError, match=message):
        conv2d(x, kernel, None, **kwargs)


def test_filters_not_divisible_by_groups_are_refused():
    with pytest.raises(ValueError, match="filters must be divisible by groups"):
        conv2d(np.zeros((1, 3, 3, 4)), np.zeros((1, 1, 2, 3)), None, groups=2)


def test_integer_input_is_refused():
    with pytest.raises(ValueError, match="x must be float32 or float64. Received: x.dtype=int64"):
        conv2d(np.zeros((1, 3, 3, 1), dtype=np.int64), np.zeros((1, 1, 1, 1)), None)
