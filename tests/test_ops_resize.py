"""Up-sampling, cropping and 1-D zero padding against loops and hand-computed arrays."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from builder.ops.resize import crop1d, crop2d, upsample1d, upsample2d, zero_pad1d

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-14, atol=1e-14)}


def bilinear_loop(x, sh, sw):
    """Per output pixel: half-pixel source coordinates, the 2×2 neighbours clamped to the
    image, weights (1 − fy, fy) × (1 − fx, fx) (TensorFlow's resize_bilinear)."""
    n, height, width, channels = x.shape
    y = np.zeros((n, height * sh, width * sw, channels))
    for i, j in itertools.product(range(height * sh), range(width * sw)):
        ty, tx = (i + 0.5) / sh - 0.5, (j + 0.5) / sw - 0.5
        y0, x0 = math.floor(ty), math.floor(tx)
        fy, fx = ty - y0, tx - x0
        rows = (min(max(y0, 0), height - 1), min(max(y0 + 1, 0), height - 1))
        cols = (min(max(x0, 0), width - 1), min(max(x0 + 1, 0), width - 1))
        for (r, wr), (c, wc) in itertools.product(
            zip(rows, (1 - fy, fy), strict=True), zip(cols, (1 - fx, fx), strict=True)
        ):
            y[:, i, j] += wr * wc * x[:, r, c].astype(np.float64)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 2), (1, 4)])
def test_nearest_repeats_rows_and_columns(dtype, size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    y = upsample2d(x, size, "nearest")
    assert y.dtype == dtype and y.shape == (2, 3 * size[0], 4 * size[1], 5)
    for i, j in itertools.product(range(y.shape[1]), range(y.shape[2])):
        np.testing.assert_array_equal(y[:, i, j], x[:, i // size[0], j // size[1]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 2), (1, 4), (5, 3)])
@pytest.mark.parametrize("image", [(1, 1), (2, 3), (4, 5)])
def test_bilinear_matches_loop(dtype, size, image):
    rng = np.random.default_rng(sum(size) + sum(image))
    x = rng.standard_normal((2, *image, 3)).astype(dtype)
    y = upsample2d(x, size, "bilinear")
    assert y.dtype == dtype and y.shape == (2, image[0] * size[0], image[1] * size[1], 3)
    np.testing.assert_allclose(y, bilinear_loop(x, *size), **TOLERANCE[dtype])


def test_bilinear_by_hand():
    """2×2 → 4×4: half-pixel centres sample 0.25 and 0.75 of the way, edges repeat."""
    x = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)
    expected = [
        [0.0, 0.25, 0.75, 1.0],
        [0.5, 0.75, 1.25, 1.5],
        [1.5, 1.75, 2.25, 2.5],
        [2.0, 2.25, 2.75, 3.0],
    ]
    np.testing.assert_allclose(upsample2d(x, (2, 2), "bilinear")[0, :, :, 0], expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_upsample1d_repeats_steps(dtype):
    x = np.arange(6, dtype=dtype).reshape(1, 3, 2)
    y = upsample1d(x, 2)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y[0], [[0, 1], [0, 1], [2, 3], [2, 3], [4, 5], [4, 5]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_crops_and_padding_by_hand(dtype):
    x = np.arange(2 * 5 * 4 * 1, dtype=dtype).reshape(2, 5, 4, 1)
    y = crop2d(x, ((1, 2), (0, 1)))
    assert y.shape == (2, 2, 3, 1) and y.dtype == dtype
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 5, 6], [8, 9, 10]])
    seq = np.arange(6, dtype=dtype).reshape(1, 6, 1)
    np.testing.assert_array_equal(crop1d(seq, (2, 1))[0, :, 0], [2, 3, 4])
    padded = zero_pad1d(seq[:, :2], (1, 2))
    assert padded.dtype == dtype
    np.testing.assert_array_equal(padded[0, :, 0], [0, 0, 1, 0, 0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: upsample2d(np.zeros((1, 2, 2, 1)), (2, 2), "bicubic"), "interpolation must be"),
        (lambda: upsample2d(np.zeros((1, 2, 2, 1)), (0, 2)), "size must be"),
        (lambda: upsample2d(np.zeros((2, 2, 1)), (2, 2)), r"shape \(N, H, W, C\)"),
        (lambda: upsample1d(np.zeros((1, 2, 1)), 0), "size must be"),
        (lambda: crop2d(np.zeros((1, 4, 4, 1)), ((2, 2), (0, 0))), "leaves nothing"),
        (lambda: crop2d(np.zeros((1, 4, 4, 1)), ((1, -1), (0, 0))), "non-negative"),
        (lambda: crop1d(np.zeros((1, 3, 1)), (1, 2)), "leaves nothing"),
        (lambda: zero_pad1d(np.zeros((1, 3, 1), dtype=np.int64), (1, 1)), "float32 or float64"),
    ],
)
def test_refusals(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_nearest_returns_a_new_writable_array():
    x = np.ones((1, 2, 2, 1))
    y = upsample2d(x, (1, 1))
    y += 1
    np.testing.assert_array_equal(x, 1.0)
