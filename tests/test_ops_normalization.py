"""layer_norm, normalize and layer_scale against per-sample loops using `math` and the
definitions in Keras's docstrings."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from builder.ops.normalization import layer_norm, layer_scale, normalize

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def layer_norm_loop(x, axes, gamma, beta, epsilon, rms):
    """For each sample and each index of the other axes: mean and variance over `axes` with
    Python sums, then (v − μ)/sqrt(σ² + ε)·γ + β (γ, β indexed by the axes in order)."""
    x64 = x.astype(np.float64)
    axes = sorted(a % x.ndim for a in axes)
    others = [d for d in range(x.ndim) if d not in axes]
    y = np.empty_like(x64)
    for outer in itertools.product(*(range(x.shape[d]) for d in others)):
        cells = list(itertools.product(*(range(x.shape[a]) for a in axes)))

        def index(inner, outer=outer):
            full = [0] * x.ndim
            for d, i in zip(others, outer, strict=True):
                full[d] = i
            for a, i in zip(axes, inner, strict=True):
                full[a] = i
            return tuple(full)

        values = [float(x64[index(c)]) for c in cells]
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / len(values)
        for c, v in zip(cells, values, strict=True):
            g = 1.0 if gamma is None else float(gamma[c])
            b = 0.0 if beta is None or rms else float(beta[c])
            centre = 0.0 if rms else mean
            y[index(c)] = (v - centre) / math.sqrt(var + epsilon) * g + b
    return y


CASES = [
    ((2, 3, 4), (-1,)),
    ((2, 3, 4), (1, 2)),
    ((2, 3, 4, 5), (1, 2, 3)),
    ((2, 3, 4, 5), (3, 1)),
    ((2, 3, 4, 5), (2,)),
    ((3, 7), (1,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axes", CASES)
@pytest.mark.parametrize(
    "center, scale, rms", [(1, 1, 0), (0, 1, 0), (1, 0, 0), (0, 0, 0), (0, 1, 1)]
)
def test_layer_norm_matches_loop(dtype, shape, axes, center, scale, rms):
    rng = np.random.default_rng(len(shape) + sum(axes))
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # a mean far from zero
    param_shape = tuple(shape[a % len(shape)] for a in sorted(axes))
    gamma = rng.standard_normal(param_shape).astype(dtype) if scale else None
    beta = rng.standard_normal(param_shape).astype(dtype) if center else None
    y = layer_norm(x, axes, gamma, beta, 1e-3, bool(rms))
    assert y.dtype == dtype
    np.testing.assert_allclose(
        y, layer_norm_loop(x, axes, gamma, beta, 1e-3, rms), **TOLERANCE[dtype]
    )


def test_layer_norm_by_hand():
    """[1, 2, 3]: mean 2, variance 2/3; epsilon 0 gives ±sqrt(3/2)."""
    y = layer_norm(np.array([[1.0, 2.0, 3.0]]), (-1,), None, None, 0.0)
    r = math.sqrt(1.5)
    np.testing.assert_allclose(y, [[-r, 0.0, r]], rtol=1e-15)


def test_layer_norm_float32_keeps_digits_with_a_large_mean():
    """Two-pass variance and (x − μ)·r: a spread of 0.5 around 1e4 in float32 stays exact
    (x·r − μ·r would cancel two terms of size 2e4 and lose ~1e-3)."""
    x = (1e4 + np.array([[-0.5, 0.0, 0.5]])).astype(np.float32)
    y = layer_norm(x, (-1,), None, None, 0.0)
    np.testing.assert_allclose(y, [[-math.sqrt(1.5), 0.0, math.sqrt(1.5)]], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, axes", [((2, 5), (-1,)), ((2, 3, 4), (1, 2)), ((2, 3, 4), (2, 1)), ((2, 3, 4), ())]
)
@pytest.mark.parametrize("invert", [False, True])
def test_normalize_matches_loop(dtype, shape, axes, invert):
    rng = np.random.default_rng(len(axes))
    x = rng.standard_normal(shape).astype(dtype)
    kept = sorted(a % len(shape) for a in axes)
    stat_shape = tuple(shape[a] for a in kept)
    mean = rng.standard_normal(stat_shape)
    variance = rng.uniform(0.1, 2.0, stat_shape)
    variance.flat[0] = 0.0  # divides by max(sqrt(0), 1e-7) = 1e-7
    y = normalize(x, mean.astype(dtype), variance.astype(dtype), axes, invert)
    expected = np.empty(shape)
    for index in itertools.product(*(range(s) for s in shape)):
        stat = tuple(index[a] for a in kept)
        spread = max(math.sqrt(float(variance[stat])), 1e-7)
        v = float(x[index])
        expected[index] = (
            float(mean[stat]) + v * spread if invert else (v - float(mean[stat])) / spread
        )
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])


def test_normalize_scalar_statistics():
    y = normalize(np.array([[1.0], [2.0], [3.0]]), np.array(3.0), np.array(2.0), ())
    np.testing.assert_allclose(y[:, 0], [-2 / math.sqrt(2), -1 / math.sqrt(2), 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_scale_multiplies_channels(dtype):
    x = np.arange(12, dtype=dtype).reshape(1, 2, 2, 3)
    gamma = np.array([1e-6, 2.0, -1.0])
    y = layer_scale(x, gamma)
    assert y.dtype == dtype
    for i, j, c in itertools.product(range(2), range(2), range(3)):
        assert y[0, i, j, c] == pytest.approx(float(x[0, i, j, c]) * gamma[c], rel=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: layer_norm(np.zeros((2, 3)), (0,)), "batch axis"),
        (lambda: layer_norm(np.zeros((2, 3)), (2,)), r"integers in \[-2, 2\)"),
        (lambda: layer_norm(np.zeros((2, 3, 4)), (1, -2)), "must not repeat"),
        (lambda: layer_norm(np.zeros((2, 3)), (-1,), np.ones(4)), r"gamma must have shape \(3,\)"),
        (lambda: normalize(np.zeros((2, 3)), np.zeros(4), np.ones(4)), "mean must have shape"),
        (lambda: layer_scale(np.zeros((2, 3)), np.ones(2)), "gamma must have shape"),
        (lambda: layer_scale(np.zeros((2, 3), dtype=np.int32), np.ones(3)), "float32 or float64"),
    ],
)
def test_refusals(call, message):
    with pytest.raises(ValueError, match=message):
        call()
