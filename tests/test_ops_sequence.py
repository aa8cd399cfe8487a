"""1-D convolution and pooling against naive loops written here from Keras's definitions
(`causal`: dilation·(k − 1) zero steps in front, then `valid`)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from builder.ops.sequence import (
    avg_pool1d,
    conv1d,
    global_avg_pool1d,
    global_max_pool1d,
    max_pool1d,
)

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def length_and_front(steps, span, stride, padding):
    """(output steps, zero steps in front) by Keras/TensorFlow's rules."""
    if padding == "valid":
        return (steps - span) // stride + 1, 0
    out = -(-steps // stride)
    if padding == "causal":
        return out, span - 1
    return out, max((out - 1) * stride + span - steps, 0) // 2


def naive_conv1d(x, kernel, bias, stride, padding, dilation, groups):
    n, steps, channels = x.shape
    k, group_channels, filters = kernel.shape
    per_group = filters // groups
    out, front = length_and_front(steps, dilation * (k - 1) + 1, stride, padding)
    y = np.zeros((n, out, filters))
    for t, a, f in itertools.product(range(out), range(k), range(filters)):
        step = t * stride + a * dilation - front
        if 0 <= step < steps:
            g = f // per_group
            cin = slice(g * group_channels, (g + 1) * group_channels)
            y[:, t, f] += x[:, step, cin].astype(np.float64) @ kernel[a, :, f].astype(np.float64)
    if bias is not None:
        y += bias
    return y


GRID = [
    case
    for case in itertools.product(
        (1, 2, 3, 4),  # kernel
        (1, 2, 3),  # stride
        (1, 2),  # dilation
        (1, 2),  # groups
        ("valid", "same", "causal"),
        DTYPES,
    )
]


@pytest.mark.parametrize("k, s, d, groups, padding, dtype", GRID)
def test_conv1d_matches_naive_loop(k, s, d, groups, padding, dtype):
    rng = np.random.default_rng(k * 100 + s * 10 + d)
    x = rng.standard_normal((2, 9, 4)).astype(dtype)
    kernel = rng.standard_normal((k, 4 // groups, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    y = conv1d(x, kernel, bias, s, padding, d, groups)
    expected = naive_conv1d(x, kernel, bias, s, padding, d, groups)
    assert y.dtype == dtype and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


def test_causal_output_sees_only_the_past():
    """A step change at t = 5 cannot reach outputs before t = 5 (hand-checked)."""
    x = np.zeros((1, 8, 1))
    x[0, 5:] = 1.0
    y = conv1d(x, np.ones((3, 1, 1)), None, 1, "causal", 2)
    np.testing.assert_array_equal(y[0, :, 0], [0, 0, 0, 0, 0, 1, 1, 2])


def naive_pool1d(x, pool, stride, padding, reduce):
    n, steps, channels = x.shape
    out, front = length_and_front(steps, pool, stride, padding)
    y = np.empty((n, out, channels))
    for t in range(out):
        start = t * stride - front
        window = x[:, max(start, 0) : min(start + pool, steps)].astype(np.float64)
        y[:, t] = reduce(window, axis=1)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool, stride", [(1, 1), (2, 2), (3, 1), (3, 2), (2, 3), (4, 3)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d_matches_naive_loop(dtype, pool, stride, padding, kind):
    rng = np.random.default_rng(pool * 10 + stride)
    x = rng.standard_normal((2, 10, 3)).astype(dtype)
    function, reduce = (max_pool1d, np.max) if kind == "max" else (avg_pool1d, np.mean)
    y = function(x, pool, stride, padding)
    assert y.dtype == dtype
    np.testing.assert_allclose(
        y, naive_pool1d(x, pool, stride, padding, reduce), **TOLERANCE[dtype]
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_pools(dtype):
    x = np.array([[[1.0, -2.0], [3.0, 0.0], [2.0, -4.0]]], dtype=dtype)
    np.testing.assert_array_equal(global_max_pool1d(x), [[3.0, 0.0]])
    np.testing.assert_allclose(global_avg_pool1d(x), [[2.0, -2.0]])
    assert global_max_pool1d(x, keepdims=True).shape == (1, 1, 2)
    assert global_avg_pool1d(x, keepdims=True).dtype == dtype


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv1d(np.zeros((1, 5, 2)), np.zeros((3, 2))), "kernel must have shape"),
        (lambda: conv1d(np.zeros((1, 5, 2)), np.zeros((3, 2, 1)), None, 1, "full"), "causal"),
        (
            lambda: conv1d(np.zeros((1, 5, 2)), np.zeros((3, 2, 1)), None, 1, "causal", 0),
            "dilation",
        ),
        (lambda: conv1d(np.zeros((5, 2)), np.zeros((3, 2, 1))), r"\(N, steps, C\)"),
        (lambda: max_pool1d(np.zeros((1, 5, 2), dtype=np.int8), 2, 2, "valid"), "float32"),
    ],
)
def test_refusals(call, message):
    with pytest.raises(ValueError, match=message):
        call()
