"""conv2d_transpose against a naive scatter loop written from TensorFlow's definition: the
gradient of a Conv2D (input H' × W', `same` or `valid`) with respect to its input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from builder.ops.transpose import conv2d_transpose, deconv_crop, deconv_output_length

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def keras_length(length, kernel, stride, padding, output_padding, dilation):
    """Keras 3's documented output length, restated: (i−1)s + max(e, s) for valid, i·s for
    same; with output_padding p: (i−1)s + e + p (valid), (i−1)s + (e mod 2) + p (same)."""
    span = dilation * (kernel - 1) + 1
    if output_padding is None:
        return (length - 1) * stride + max(span, stride) if padding == "valid" else length * stride
    if padding == "valid":
        return (length - 1) * stride + span + output_padding
    return (length - 1) * stride + span % 2 + output_padding


def naive_transpose(x, kernel, bias, strides, padding, output_padding, dilation):
    """Scatter x[i, j]·w[a, b] to the forward conv's input cell i·s + a·d − front, where
    front is TensorFlow's `same` front padding of a conv from the output size."""
    n, height, width, _ = x.shape
    kh, kw, filters, _ = kernel.shape
    pads = (None, None) if output_padding is None else output_padding
    sizes, fronts = [], []
    for length, k, s, p, d in zip((height, width), (kh, kw), strides, pads, dilation, strict=True):
        size = keras_length(length, k, s, padding, p, d)
        span = d * (k - 1) + 1
        fronts.append(0 if padding == "valid" else max((length - 1) * s + span - size, 0) // 2)
        sizes.append(size)
    y = np.zeros((n, sizes[0], sizes[1], filters))
    x64, k64 = x.astype(np.float64), kernel.astype(np.float64)
    for i, j, a, b in itertools.product(range(height), range(width), range(kh), range(kw)):
        row = i * strides[0] + a * dilation[0] - fronts[0]
        col = j * strides[1] + b * dilation[1] - fronts[1]
        if 0 <= row < sizes[0] and 0 <= col < sizes[1]:
            y[:, row, col, :] += x64[:, i, j, :] @ k64[a, b].T
    if bias is not None:
        y += bias
    return y


GRID = [
    (size, k, s, d, op, padding, dtype)
    for size, k, s, d, op, padding, dtype in itertools.product(
        (3, 4),
        (1, 2, 3, 4),
        (1, 2, 3),
        (1, 2),
        (None, 0, 1, 2),
        ("valid", "same"),
        (np.float32, np.float64),
    )
    # Keras's own limits: output_padding < strides, not strides > 1 with dilation > 1.
    if (op is None or op < s) and (s == 1 or d == 1)
]


@pytest.mark.parametrize("size, k, s, d, op, padding, dtype", GRID)
def test_transpose_matches_naive_scatter(size, k, s, d, op, padding, dtype):
    rng = np.random.default_rng(size * 1000 + k * 100 + s * 10 + d)
    x = rng.standard_normal((2, size, size + 1, 3)).astype(dtype)
    kernel = rng.standard_normal((k, max(1, k - 1), 4, 3)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    output_padding = None if op is None else (op, 0)
    y = conv2d_transpose(x, kernel, bias, (s, s), padding, output_padding, (d, d))
    expected = naive_transpose(x, kernel, bias, (s, s), padding, output_padding, (d, d))
    assert y.dtype == dtype
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stride_with_dilation_and_no_bias(dtype):
    """Computed although Keras refuses it (as our Conv2D does)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 4, 3, 2)).astype(dtype)
    kernel = rng.standard_normal((3, 2, 5, 2)).astype(dtype)
    y = conv2d_transpose(x, kernel, None, (2, 3), "same", None, (2, 2))
    expected = naive_transpose(x, kernel, None, (2, 3), "same", None, (2, 2))
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


def test_many_images_cross_blocks():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((70, 16, 16, 8))
    kernel = rng.standard_normal((3, 3, 8, 8))
    y = conv2d_transpose(x, kernel, None, (2, 2), "same")
    expected = naive_transpose(x, kernel, None, (2, 2), "same", None, (1, 1))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_hand_computed_stride_two():
    """1×2 input, 2×2 kernel of ones, stride 2, valid: every input cell fills a 2×2 block."""
    x = np.array([[[[1.0], [2.0]]]])
    y = conv2d_transpose(x, np.ones((2, 2, 1, 1)), None, (2, 2), "valid")
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2]])


@pytest.mark.parametrize(
    "length, kernel, stride, padding, output_padding, dilation, expected",
    [
        (5, 3, 2, "same", None, 1, (10, 0)),
        (5, 3, 2, "valid", None, 1, (11, 0)),
        (5, 4, 2, "same", None, 1, (10, 1)),
        (5, 3, 2, "same", 1, 1, (10, 0)),
        (5, 3, 2, "same", 0, 1, (9, 1)),
        (5, 1, 3, "valid", None, 1, (15, 0)),
        (5, 3, 1, "same", None, 2, (5, 2)),
    ],
)
def test_length_and_crop_by_hand(
    length, kernel, stride, padding, output_padding, dilation, expected
):
    assert (
        deconv_output_length(length, kernel, stride, padding, output_padding, dilation),
        deconv_crop(kernel, stride, padding, output_padding, dilation),
    ) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kernel=np.zeros((3, 3, 4, 2))), "kernel must have shape"),
        (dict(bias=np.zeros(3)), "bias must have shape"),
        (dict(padding="causal"), "padding must be"),
        (dict(output_padding=(1,)), "output_padding must be"),
        (dict(dilation=(1, 0)), "dilation must be two positive integers"),
        (dict(x=np.zeros((1, 5, 5, 3), dtype=np.int32)), "float32 or float64"),
        # same, even kernel, output_padding 0: (1 − 1)·2 + 0 + 0 = 0 rows.
        (
            dict(
                x=np.zeros((1, 1, 1, 3)),
                kernel=np.zeros((2, 2, 4, 3)),
                strides=(2, 2),
                padding="same",
                output_padding=(0, 0),
            ),
            "output would be empty",
        ),
    ],
)
def test_transpose_refuses_bad_arguments(kwargs, message):
    arguments = dict(x=np.zeros((1, 5, 5, 3)), kernel=np.zeros((3, 3, 4, 3)))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        conv2d_transpose(**arguments)
