"""Pooling and zero padding against naive loops written here from TensorFlow's definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from builder.ops import pooling
from builder.ops.pooling import (
    avg_pool2d,
    global_avg_pool2d,
    global_max_pool2d,
    max_pool2d,
    zero_pad2d,
)

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-15)}


def tf_output_and_front_pad(length: int, pool: int, stride: int, padding: str):
    """(output length, cells padded in front) by TensorFlow's rule, written independently."""
    if padding == "valid":
        return (length - pool) // stride + 1, 0
    out = -(-length // stride)
    total = max((out - 1) * stride + pool - length, 0)
    return out, total // 2


def naive_pool2d(x, pool_size, strides, padding, reduce):
    """Loop over output pixels; `reduce` gets the real (unpadded) cells of each window."""
    n, height, width, channels = x.shape
    out_h, top = tf_output_and_front_pad(height, pool_size[0], strides[0], padding)
    out_w, left = tf_output_and_front_pad(width, pool_size[1], strides[1], padding)
    y = np.empty((n, out_h, out_w, channels), dtype=np.float64)
    for i, j in itertools.product(range(out_h), range(out_w)):
        r0, c0 = i * strides[0] - top, j * strides[1] - left
        rows = range(max(r0, 0), min(r0 + pool_size[0], height))
        cols = range(max(c0, 0), min(c0 + pool_size[1], width))
        cells = [x[:, r, c, :].astype(np.float64) for r in rows for c in cols]
        y[:, i, j, :] = reduce(np.stack(cells))
    return y


def naive_max(cells):
    return cells.max(axis=0)


def naive_avg(cells):
    return cells.sum(axis=0) / len(cells)


def random_input(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


GRID = [
    (height, width, p, s, padding, dtype)
    for (height, width), p, s, padding, dtype in itertools.product(
        ((7, 7), (8, 8), (7, 8), (2, 5)),
        (1, 2, 3),
        (1, 2, 3),
        ("valid", "same"),
        (np.float32, np.float64),
    )
    if padding == "same" or p <= min(height, width)  # 'valid' output of at least one cell
]


@pytest.mark.parametrize("height, width, p, s, padding, dtype", GRID)
@pytest.mark.parametrize("pool, reduce", [(max_pool2d, naive_max), (avg_pool2d, naive_avg)])
def test_matches_naive_grid(pool, reduce, height, width, p, s, padding, dtype):
    x = random_input((2, height, width, 3), dtype, seed=p + 3 * s)
    y = pool(x, (p, p), (s, s), padding)
    expected = naive_pool2d(x, (p, p), (s, s), padding, reduce)
    assert y.dtype == x.dtype
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize(
    "shape, pool_size, strides, padding",
    [
        ((2, 7, 8, 3), (2, 3), (1, 2), "same"),
        ((2, 9, 5, 2), (3, 1), (3, 1), "valid"),
        ((2, 6, 9, 1), (1, 3), (2, 3), "same"),
        ((1, 2, 2, 4), (3, 3), (1, 1), "same"),  # window larger than the input
        ((1, 5, 5, 2), (2, 2), (3, 3), "same"),  # stride larger than the window
        ((3, 4, 4, 2), (1, 1), (1, 1), "valid"),
    ],
)
@pytest.mark.parametrize("pool, reduce", [(max_pool2d, naive_max), (avg_pool2d, naive_avg)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_naive_uneven(pool, reduce, shape, pool_size, strides, padding, dtype):
    x = random_input(shape, dtype, seed=5)
    y = pool(x, pool_size, strides, padding)
    expected = naive_pool2d(x, pool_size, strides, padding, reduce)
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("pool, reduce", [(max_pool2d, naive_max), (avg_pool2d, naive_avg)])
def test_image_blocks_do_not_change_the_result(monkeypatch, pool, reduce):
    # Real blocks hold a megabyte of images; a 1-byte block pools one image at a time.
    monkeypatch.setattr(pooling, "_BLOCK_BYTES", 1)
    x = random_input((3, 7, 6, 2), np.float64, seed=10)
    y = pool(x, (3, 2), (2, 2), "same")
    expected = naive_pool2d(x, (3, 2), (2, 2), "same", reduce)
    np.testing.assert_allclose(y, expected, **TOLERANCE[np.float64])


@pytest.mark.parametrize("shape", [(1, 1, 5, 1), (1, 5, 1, 1)])
def test_same_padding_by_hand_counts_only_real_cells(shape):
    x = np.arange(1.0, 6.0).reshape(shape)
    average = avg_pool2d(x, (2, 2), (2, 2), "same")
    maximum = max_pool2d(x, (2, 2), (2, 2), "same")
    np.testing.assert_array_equal(average.reshape(-1), [1.5, 3.5, 5.0])
    np.testing.assert_array_equal(maximum.reshape(-1), [2.0, 4.0, 5.0])


def test_max_pool_same_padding_never_returns_a_padded_zero():
    x = -1.0 - random_input((2, 5, 6, 3), np.float64, seed=6) ** 2  # every value ≤ −1
    y = max_pool2d(x, (3, 3), (2, 2), "same")
    assert (y <= -1.0).all()
    np.testing.assert_array_equal(y, naive_pool2d(x, (3, 3), (2, 2), "same", naive_max))


def test_pooling_returns_a_new_array_and_leaves_the_input_alone():
    x = random_input((1, 3, 3, 2), np.float64)
    before = x.copy()
    for pool in (max_pool2d, avg_pool2d):
        y = pool(x, (1, 1), (1, 1), "valid")
        assert not np.shares_memory(x, y)
        np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(x, before)


def test_non_contiguous_input():
    x = random_input((2, 10, 14, 6), np.float64, seed=7)[:, 1:, ::2, ::3]
    for pool, reduce in ((max_pool2d, naive_max), (avg_pool2d, naive_avg)):
        y = pool(x, (3, 2), (2, 1), "same")
        expected = naive_pool2d(x, (3, 2), (2, 1), "same", reduce)
        np.testing.assert_allclose(y, expected, **TOLERANCE[np.float64])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(dtype, keepdims):
    x = random_input((3, 4, 5, 6), dtype, seed=8)
    expected_max = np.array([[x[n, :, :, c].max() for c in range(6)] for n in range(3)])
    expected_avg = np.array(
        [[x[n, :, :, c].astype(np.float64).sum() / 20 for c in range(6)] for n in range(3)]
    )
    shape = (3, 1, 1, 6) if keepdims else (3, 6)
    y_max, y_avg = global_max_pool2d(x, keepdims), global_avg_pool2d(x, keepdims)
    assert y_max.shape == y_avg.shape == shape
    assert y_max.dtype == y_avg.dtype == dtype
    np.testing.assert_array_equal(y_max.reshape(3, 6), expected_max)
    np.testing.assert_allclose(y_avg.reshape(3, 6), expected_avg, **TOLERANCE[dtype])


@pytest.mark.parametrize("padding", [((0, 0), (0, 0)), ((1, 2), (3, 0)), ((0, 1), (1, 0))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_pad2d_matches_np_pad(padding, dtype):
    x = random_input((2, 3, 4, 2), dtype, seed=9)
    y = zero_pad2d(x, padding)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), *padding, (0, 0))))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: max_pool2d(x, (5, 2), (1, 1), "valid"), "the 'valid' output would be empty"),
        (lambda x: avg_pool2d(x, (2, 2), (2, 2), "causal"), "padding must be 'valid' or 'same'"),
        (lambda x: max_pool2d(x, (0, 2), (2, 2), "same"), "pool_size must be two positive"),
        (lambda x: avg_pool2d(x, (2, 2), (2,), "same"), "strides must be two positive integers"),
        (lambda x: max_pool2d(x[0], (2, 2), (2, 2), "same"), "x must have shape \\(N, H, W, C\\)"),
        (lambda x: zero_pad2d(x, ((1, -1), (0, 0))), "padding must be \\(\\(top, bottom\\)"),
    ],
)
def test_invalid_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.zeros((1, 4, 4, 1)))
