"""Activations against per-element formulas written here with `math` (an independent oracle).

pytest turns NumPy warnings into errors (pyproject), and the calls below also run under
`np.errstate(all="raise")`: an overflow or invalid operation that an activation does not
deliberately silence fails the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from builder.ops import activations as act
from builder.ops.names import ACTIVATION_NAMES

DTYPES = (np.float32, np.float64)
RTOL = {np.float32: 2e-6, np.float64: 1e-12}  # float32: a few ulp of SIMD exp/log, any CPU
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

GRID = np.linspace(-6.0, 6.0, 241)
EXTREMES = np.array(
    [
        0.0,
        1e4,
        -1e4,
        1e3,
        -1e3,
        100.0,
        -100.0,
        88.0,
        -88.0,
        40.0,
        -37.0,
        30.0,
        -30.0,
        20.0,
        -20.0,
        1e-8,
        -1e-8,
        1e-30,
        -1e-30,
        3.0,
        -3.0,
        6.0,
        -6.0,
    ]
)
INPUTS = np.concatenate([GRID, EXTREMES])


# --- the oracle: one python float in, one python float out ---------------------------


def o_sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def o_softplus(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def o_hard_sigmoid(x: float) -> float:
    return min(max(x + 3.0, 0.0), 6.0) / 6.0


def o_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


ORACLES = {
    "linear": lambda x: x,
    "relu": lambda x: max(x, 0.0),
    "relu6": lambda x: min(max(x, 0.0), 6.0),
    "leaky_relu": lambda x: x if x >= 0 else 0.2 * x,
    "elu": lambda x: x if x > 0 else math.expm1(x),
    "selu": lambda x: SELU_SCALE * x if x > 0 else SELU_SCALE * SELU_ALPHA * math.expm1(x),
    "sigmoid": o_sigmoid,
    "hard_sigmoid": o_hard_sigmoid,
    "tanh": math.tanh,
    "softplus": o_softplus,
    "softsign": lambda x: x / (1.0 + abs(x)),
    "silu": lambda x: x * o_sigmoid(x),
    "swish": lambda x: x * o_sigmoid(x),
    "hard_silu": lambda x: x * o_hard_sigmoid(x),
    "hard_swish": lambda x: x * o_hard_sigmoid(x),
    # 0.5·x·(1 + erf(x/√2)) written with erfc, which keeps its accuracy for negative x
    "gelu": lambda x: 0.5 * x * math.erfc(-x / math.sqrt(2.0)),
    "mish": lambda x: x * math.tanh(o_softplus(x)),
    "exponential": o_exp,
}
ELEMENTWISE = tuple(name for name in ACTIVATION_NAMES if name not in ("softmax", "log_softmax"))


def oracle(fn, x: np.ndarray) -> np.ndarray:
    return np.array([fn(float(v)) for v in x.ravel()], dtype=np.float64).reshape(x.shape)


def assert_matches(got: np.ndarray, want: np.ndarray, dtype) -> None:
    assert got.dtype == dtype
    with np.errstate(over="ignore"):
        want = want.astype(dtype)  # a value past the dtype's range is inf
    # atol: results below the smallest normal number are allowed to flush or round coarsely
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=np.finfo(dtype).tiny)


# --- registry ---------------------------------------------------------------------------


def test_registry_names_and_aliases():
    assert set(ACTIVATION_NAMES) == set(ORACLES) | {"softmax", "log_softmax"}
    assert set(ACTIVATION_NAMES) == set(act.ACTIVATIONS)
    assert act.ACTIVATIONS["swish"].function is act.silu
    assert act.ACTIVATIONS["hard_swish"].function is act.hard_silu


# --- elementwise activations against the oracle ----------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_matches_formula(name, dtype):
    x = INPUTS.astype(dtype)
    with np.errstate(all="raise"):
        got = act.ACTIVATIONS[name].function(x)
    want = oracle(ORACLES[name], x)
    assert_matches(got, want, dtype)
    if name != "exponential":
        assert np.all(np.isfinite(got))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_shape_dtype_and_input_untouched(name, dtype):
    x = np.random.default_rng(1).normal(0.0, 4.0, size=(2, 3, 5)).astype(dtype)
    before = x.copy()
    with np.errstate(all="raise"):
        got = act.ACTIVATIONS[name].function(x)
    assert got.shape == x.shape and got.dtype == x.dtype
    assert not np.shares_memory(got, x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_inplace_gives_the_same_values_in_the_same_buffer(name, dtype):
    x = np.random.default_rng(2).normal(0.0, 4.0, size=(4, 7)).astype(dtype)
    expected = act.ACTIVATIONS[name].function(x)
    scratch = x.copy()
    with np.errstate(all="raise"):
        got = act.ACTIVATIONS[name].function(scratch, inplace=True)
    assert got is scratch
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_large_contiguous_array_is_processed_in_blocks_with_the_same_values(name):
    # big enough to take the blocked path; the transposed (non C-contiguous) view takes the
    # whole-array path, so equal results show the blocks are stitched correctly
    x = np.random.default_rng(3).normal(0.0, 5.0, size=(300, 700)).astype(np.float32)
    blocked = act.ACTIVATIONS[name].function(x)
    whole = act.ACTIVATIONS[name].function(np.asfortranarray(x))
    # softmax sums 700 float32 terms, in a different order along a strided axis
    tol = 1e-5 if "softmax" in name else 1e-6
    np.testing.assert_allclose(blocked, whole, rtol=tol, atol=tol if "softmax" in name else 1e-30)
    scratch = x.copy()
    np.testing.assert_array_equal(act.ACTIVATIONS[name].function(scratch, inplace=True), blocked)
    if name in ORACLES:
        sample = x.ravel()[::997]
        assert_matches(blocked.ravel()[::997], oracle(ORACLES[name], sample), np.float32)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_zero_dimensional_input_gives_an_array(name):
    got = act.ACTIVATIONS[name].function(np.array(0.5, dtype=np.float64))
    assert isinstance(got, np.ndarray) and got.shape == ()
    assert got == pytest.approx(ORACLES[name](0.5), rel=1e-12)


def test_non_contiguous_view_is_updated_in_place():
    base = np.linspace(-3, 3, 20).reshape(4, 5)
    view = base[:, ::2]
    expected = np.maximum(view, 0)
    act.relu(view, inplace=True)
    np.testing.assert_array_equal(base[:, ::2], expected)


def test_read_only_input_is_not_overwritten_even_when_inplace():
    x = np.array([-1.0, 2.0])
    x.flags.writeable = False
    np.testing.assert_array_equal(act.relu(x, inplace=True), [0.0, 2.0])
    np.testing.assert_array_equal(x, [-1.0, 2.0])


def test_non_float_input_is_refused():
    with pytest.raises(TypeError, match="float32 or float64.*int64"):
        act.relu(np.array([1, 2], dtype=np.int64))


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    name=st.sampled_from(ACTIVATION_NAMES),
)
def test_any_input_up_to_1e4_gives_no_nan_and_no_warning(data, dtype, name):
    shapes = hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)
    elements = st.floats(-1e4, 1e4, width=np.finfo(dtype).bits)
    x = data.draw(hnp.arrays(dtype, shapes, elements=elements))
    with np.errstate(all="raise"):
        got = act.ACTIVATIONS[name].function(x)
    assert got.dtype == dtype and got.shape == x.shape
    assert not np.isnan(got).any()
    if name != "exponential":
        assert np.isfinite(got).all()
    if name == "softmax":
        np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)


# --- named limits -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturating_limits_are_exact(dtype):
    big = np.array([1e4, -1e4], dtype=dtype)
    with np.errstate(all="raise"):
        for name in ("softplus", "silu", "mish", "gelu", "relu", "elu"):
            got = act.ACTIVATIONS[name].function(big)
            assert got[0] == dtype(1e4), name
        for name in ("softplus", "silu", "mish", "gelu", "sigmoid"):
            assert act.ACTIVATIONS[name].function(big)[1] == 0.0, name
        np.testing.assert_array_equal(act.sigmoid(big), [1.0, 0.0])
        np.testing.assert_array_equal(act.tanh(big), [1.0, -1.0])
        np.testing.assert_array_equal(act.hard_sigmoid(big), [1.0, 0.0])
        np.testing.assert_array_equal(act.elu(big), [1e4, -1.0])


def test_exponential_overflows_to_inf_silently():
    with np.errstate(all="raise"):
        got = act.exponential(np.array([100.0, -1e4, 0.0], dtype=np.float32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [np.inf, 0.0, 1.0])


# --- softmax / log_softmax ----------------------------------------------------------------


SOFTMAX_ROWS = [
    [1.0, 2.0, 3.0, 4.0],
    [1e4, -1e4, 0.0, 5.0],
    [-1e4, -1e4, -1e4, -1e4],
    [1e4, 1e4, 9999.0, -3.0],
    [0.0, 0.0, 0.0, 0.0],
    [-100.0, 100.0, -50.0, 50.0],
]


def o_softmax_row(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


def o_log_softmax_row(row: list[float]) -> list[float]:
    top = max(row)
    log_total = math.log(math.fsum(math.exp(v - top) for v in row))
    return [(v - top) - log_total for v in row]


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows_match_formula_and_sum_to_one(dtype):
    x = np.array(SOFTMAX_ROWS, dtype=dtype)
    with np.errstate(all="raise"):
        got = act.softmax(x)
    want = np.array([o_softmax_row([float(v) for v in row]) for row in x])
    assert_matches(got, want, dtype)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_matches_formula(dtype):
    x = np.array(SOFTMAX_ROWS, dtype=dtype)
    with np.errstate(all="raise"):
        got = act.log_softmax(x)
    want = np.array([o_log_softmax_row([float(v) for v in row]) for row in x])
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize(
    "fn, row_oracle", [(act.softmax, o_softmax_row), (act.log_softmax, o_log_softmax_row)]
)
@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_softmax_along_any_axis(fn, row_oracle, axis):
    x = np.random.default_rng(4).normal(0.0, 3.0, size=(3, 4, 5))
    got = fn(x, axis=axis)
    moved = np.moveaxis(x, axis, -1)
    want = np.array([row_oracle(list(row)) for row in moved.reshape(-1, moved.shape[-1])])
    got_rows = np.moveaxis(got, axis, -1).reshape(want.shape)
    np.testing.assert_allclose(got_rows, want, rtol=1e-12, atol=1e-12)


def test_softmax_large_input_takes_blocks_of_rows():
    x = np.random.default_rng(5).normal(0.0, 10.0, size=(2000, 64)).astype(np.float32)
    got = act.softmax(x)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(got, act.softmax(np.asfortranarray(x)), rtol=1e-6, atol=1e-30)


def test_softmax_of_empty_batch_and_bad_axis():
    assert act.softmax(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="axis 2 is out of range for an input of rank 2"):
        act.softmax(np.zeros((2, 3)), axis=2)


# --- parametrised layer activations ------------------------------------------------------


def o_relu(x: float, negative_slope: float, max_value: float | None, threshold: float) -> float:
    if x > threshold:
        return x if max_value is None else min(x, max_value)
    return negative_slope * (x - threshold)


RELU_X = np.concatenate([np.linspace(-10.0, 10.0, 81), [0.5, 1.0, 2.0, 6.0, 7.0, 1e4, -1e4]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("max_value", [None, 0.0, 0.5, 1.0, 6.0, 10.0])
@pytest.mark.parametrize("negative_slope", [0.0, 0.1, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0, 2.0, 7.0])
def test_relu_layer_grid(dtype, max_value, negative_slope, threshold):
    x = RELU_X.astype(dtype)
    with np.errstate(all="raise"):
        got = act.relu(x, negative_slope=negative_slope, max_value=max_value, threshold=threshold)
    params = (negative_slope, max_value, threshold)
    want = np.array([o_relu(float(v), *params) for v in x])
    assert_matches(got, want, dtype)
    at_threshold = x == dtype(threshold)
    assert np.all(got[at_threshold] == 0.0)


@pytest.mark.parametrize(
    "kwargs, want",
    [
        # the examples of the Keras 3 docstrings of keras.activations.relu and layers.ReLU
        ({}, [0.0, 0.0, 0.0, 5.0, 10.0]),
        ({"negative_slope": 0.5}, [-5.0, -2.5, 0.0, 5.0, 10.0]),
        ({"max_value": 5.0}, [0.0, 0.0, 0.0, 5.0, 5.0]),
        ({"threshold": 5.0}, [0.0, 0.0, 0.0, 0.0, 10.0]),
        ({"max_value": 10.0, "negative_slope": 0.5}, [-5.0, -2.5, 0.0, 5.0, 10.0]),
    ],
)
def test_relu_keras_examples(kwargs, want):
    np.testing.assert_array_equal(act.relu(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]), **kwargs), want)


@pytest.mark.parametrize("name", ["negative_slope", "max_value", "threshold"])
def test_relu_refuses_negative_arguments(name):
    with pytest.raises(ValueError, match=f"relu {name} must be a number >= 0. Received: {name}=-1"):
        act.relu(np.zeros(3), **{name: -1.0})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3, 1.0, 1.5])
def test_leaky_relu_alpha(dtype, alpha):
    x = INPUTS.astype(dtype)
    got = act.leaky_relu(x, alpha=alpha)
    assert_matches(got, oracle(lambda v: v if v >= 0 else alpha * v, x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_elu_alpha(dtype, alpha):
    x = INPUTS.astype(dtype)
    with np.errstate(all="raise"):
        got = act.elu(x, alpha=alpha)
    assert_matches(got, oracle(lambda v: v if v > 0 else alpha * math.expm1(v), x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("theta", [0.0, 1.0, 2.5])
def test_thresholded_relu(dtype, theta):
    x = np.concatenate([INPUTS, [theta, 1.0, 2.5]]).astype(dtype)
    got = act.thresholded_relu(x, theta=theta)
    assert_matches(got, oracle(lambda v: v if v > theta else 0.0, x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha_shape", [(3, 4, 2), (1, 1, 2), (2,)])
def test_prelu_broadcasts_alpha_over_the_sample_shape(dtype, alpha_shape):
    rng = np.random.default_rng(6)
    x = rng.normal(0.0, 3.0, size=(5, 3, 4, 2)).astype(dtype)
    alpha = rng.uniform(-0.5, 2.0, size=alpha_shape)
    full_alpha = np.broadcast_to(alpha.astype(dtype), x.shape)
    want = np.array(
        [
            v if v >= 0 else a * v
            for v, a in zip(x.ravel().tolist(), full_alpha.ravel().tolist(), strict=False)
        ]
    ).reshape(x.shape)
    before = x.copy()
    assert_matches(act.prelu(x, alpha), want, dtype)
    np.testing.assert_array_equal(x, before)
    assert act.prelu(x, alpha, inplace=True) is x
    assert_matches(x, want, dtype)


def test_prelu_refuses_an_alpha_that_does_not_broadcast():
    message = r"alpha of shape \(3,\) does not broadcast to the input shape \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        act.prelu(np.zeros((2, 4)), np.ones(3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_tail_has_full_relative_accuracy(dtype):
    # 1 + erf(x/√2) cancels for negative x; the result must still be accurate there
    stop = -37.0 if dtype == np.float64 else -13.0
    x = np.linspace(stop, 0.0, 2001).astype(dtype)
    got = act.gelu(x)
    want = oracle(ORACLES["gelu"], x)
    assert_matches(got, want, dtype)


# --- the monotone flag (max pooling may run first) ---------------------------------------


@pytest.mark.parametrize("name", [n for n in ACTIVATION_NAMES if act.ACTIVATIONS[n].monotone])
@pytest.mark.parametrize("dtype", DTYPES)
def test_monotone_activations_commute_with_max_bit_for_bit(name, dtype) -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(scale=3.0, size=4096).astype(dtype)
    b = (a + rng.normal(scale=1e-3, size=4096)).astype(dtype)  # close pairs, both signs
    f = act.ACTIVATIONS[name].function
    assert np.array_equal(f(np.maximum(a, b)), np.maximum(f(a), f(b)))


@pytest.mark.parametrize("name", ["elu", "selu", "sigmoid", "tanh", "gelu", "silu", "softplus"])
def test_smooth_activations_are_not_flagged_monotone(name) -> None:
    # smooth functions round differently at different points: never assumed to commute
    assert not act.ACTIVATIONS[name].monotone
