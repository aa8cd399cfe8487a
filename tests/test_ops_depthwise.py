"""depthwise_conv2d and separable_conv2d against naive loops written here from TensorFlow's
definition (output channel c·m + q is filter q of input channel c)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from builder.ops.depthwise import depthwise_conv2d, separable_conv2d

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def tf_output_and_front_pad(length: int, kernel: int, stride: int, dilation: int, padding: str):
    """(output length, cells padded in front) by TensorFlow's rule, written independently."""
    span = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (length - span) // stride + 1, 0
    out = -(-length // stride)
    return out, max((out - 1) * stride + span - length, 0) // 2


def naive_depthwise(x, kernel, bias, strides, padding, dilation):
    """Loops over output pixels, taps, channels and multipliers; outside cells are zero."""
    n, height, width, channels = x.shape
    kh, kw, _, m = kernel.shape
    out_h, top = tf_output_and_front_pad(height, kh, strides[0], dilation[0], padding)
    out_w, left = tf_output_and_front_pad(width, kw, strides[1], dilation[1], padding)
    y = np.zeros((n, out_h, out_w, channels * m))
    for i, j, a, b, c, q in itertools.product(
        range(out_h), range(out_w), range(kh), range(kw), range(channels), range(m)
    ):
        row = i * strides[0] + a * dilation[0] - top
        col = j * strides[1] + b * dilation[1] - left
        if 0 <= row < height and 0 <= col < width:
            y[:, i, j, c * m + q] += x[:, row, col, c].astype(np.float64) * float(
                kernel[a, b, c, q]
            )
    if bias is not None:
        y += bias
    return y


GRID = [
    case
    for case in itertools.product(
        (5, 6),  # size
        (1, 2, 3),  # kernel
        (1, 2),  # stride
        (1, 2),  # dilation
        (1, 3),  # depth multiplier
        ("valid", "same"),
        (np.float32, np.float64),
    )
    if case[5] == "same" or case[3] * (case[1] - 1) + 1 <= case[0]
]


@pytest.mark.parametrize("size, k, s, d, m, padding, dtype", GRID)
def test_depthwise_matches_naive_loop(size, k, s, d, m, padding, dtype):
    rng = np.random.default_rng(size * 100 + k * 10 + s)
    x = rng.standard_normal((2, size, size + 1, 3)).astype(dtype)
    kernel = rng.standard_normal((k, k + 1 if k < 3 else k, 3, m)).astype(dtype)
    bias = rng.standard_normal(3 * m).astype(dtype)
    y = depthwise_conv2d(x, kernel, bias, (s, s), padding, (d, d))
    expected = naive_depthwise(x, kernel, bias, (s, s), padding, (d, d))
    assert y.dtype == dtype
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


def test_depthwise_channel_order_is_channel_major():
    """Output channel c·m + q = input channel c times filter q (hand-computed, 1×1 kernel)."""
    x = np.array([[[[1.0, 10.0]]]])
    kernel = np.array([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]])  # (1, 1, C=2, m=3)
    y = depthwise_conv2d(x, kernel)
    np.testing.assert_array_equal(y[0, 0, 0], [1.0, 2.0, 3.0, 40.0, 50.0, 60.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_without_bias_and_non_contiguous_input(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 9, 4)).astype(dtype)[:, :, ::2]  # strided view
    kernel = rng.standard_normal((3, 3, 4, 2)).astype(dtype)
    y = depthwise_conv2d(x, kernel, None, (2, 1), "same", (1, 1))
    expected = naive_depthwise(x, kernel, None, (2, 1), "same", (1, 1))
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding, s", [("valid", 1), ("same", 2)])
def test_separable_is_depthwise_then_pointwise_loop(dtype, padding, s):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 5, 3)).astype(dtype)
    dw = rng.standard_normal((3, 3, 3, 2)).astype(dtype)
    pw = rng.standard_normal((1, 1, 6, 4)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    y = separable_conv2d(x, dw, pw, bias, (s, s), padding)
    inner = naive_depthwise(x, dw, None, (s, s), padding, (1, 1))
    expected = np.zeros(inner.shape[:3] + (4,))
    for k, f in itertools.product(range(6), range(4)):
        expected[..., f] += inner[..., k] * float(pw[0, 0, k, f])
    expected += bias
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


def test_large_batch_crosses_blocks():
    """More images than one einsum block holds: every block must be written."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 40, 40, 8)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 8, 1)).astype(np.float32)
    y = depthwise_conv2d(x, kernel, None, (1, 1), "valid")
    # Oracle: the sum over taps of shifted slices (not the code under test's strided view).
    expected = sum(
        x[:, a : a + 38, b : b + 38, :] * kernel[a, b, :, 0]
        for a, b in itertools.product(range(3), range(3))
    )
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel=np.zeros((3, 3, 2, 1))), "kernel must have shape"),
        (dict(bias=np.zeros(5)), "bias must have shape"),
        (dict(padding="full"), "padding must be"),
        (dict(strides=(0, 1)), "strides must be two positive integers"),
        (dict(kernel=np.zeros((9, 9, 3, 1))), "'valid' output would be empty"),
    ],
)
def test_depthwise_refuses_bad_arguments(kwargs, message):
    arguments = dict(x=np.zeros((1, 5, 5, 3)), kernel=np.zeros((3, 3, 3, 1)))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        depthwise_conv2d(**arguments)


def test_separable_refuses_a_non_pointwise_kernel():
    with pytest.raises(ValueError, match="pointwise_kernel must have shape"):
        separable_conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3, 1)), np.zeros((3, 3, 3, 4)))
