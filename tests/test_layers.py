"""Tests for the layers (builder/layers/): shapes, parameter counts, MACs, formulas, shape errors.

Every model is built from YAML text, so parsing, graph compilation and the forward pass
are exercised together. Expected shapes, parameter counts and MACs are written by hand
from the Keras formulas (Conv2D: H' = floor((H − d·(k − 1) − 1)/s) + 1 for `valid`,
ceil(H/s) for `same`; params kh·kw·(C/groups)·F (+F); MACs H'·W'·F·kh·kw·C/groups;
Dense: params in·units (+units), MACs prod(leading)·in·units). Numerical expectations
come from formulas written here with plain NumPy or Python loops, never from the code
under test. Weights are set through a `.npz` file and `Model.load_weights`.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from builder.config import parse
from builder.errors import ConfigError
from builder.model import Model

Shape = tuple[int, ...]


def build(entries: list[str] | str, input_shape: Shape, dtype: str = "float64") -> Model:
    """A model from layer entries written in YAML flow style (one per line)."""
    if isinstance(entries, str):
        entries = [entries]
    lines = [f"input_shape: {list(input_shape)}", f"dtype: {dtype}", "layers:"]
    lines += [f"  - {entry}" for entry in entries]
    return Model.from_spec(parse("\n".join(lines) + "\n"))


def set_weights(model: Model, folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Give `model` these weights through a weights file, as a user would."""
    path = folder / "weights.npz"
    np.savez(path, **arrays)
    model.load_weights(path)


def sample(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


# --------------------------------------------------------------------------- shapes, params, MACs
#
# (layer entry, input shape, output shape, params, trainable params, MACs), all by hand.

CONV_CASES = [
    # valid: 8 − 3 + 1 = 6; params 3·3·2·4 + 4; MACs 6·6·4·(3·3·2)
    ("Conv2D: {filters: 4, kernel_size: 3}", (8, 8, 2), (6, 6, 4), 76, 76, 6 * 6 * 4 * 18),
    ("Convolution2D: {filters: 4, kernel_size: [3, 3]}", (8, 8, 2), (6, 6, 4), 76, 76, 2592),
    # same: ceil(8/1) = 8
    (
        "Conv2D: {filters: 4, kernel_size: 3, padding: same}",
        (8, 8, 2),
        (8, 8, 4),
        76,
        76,
        8 * 8 * 4 * 18,
    ),
    # valid, stride 2: floor((9 − 3)/2) + 1 = 4; params 3·3·3·5 + 5
    (
        "Conv2D: {filters: 5, kernel_size: 3, strides: 2}",
        (9, 9, 3),
        (4, 4, 5),
        140,
        140,
        16 * 5 * 27,
    ),
    # same, stride 2: ceil(9/2) = 5
    (
        "Conv2D: {filters: 5, kernel_size: 3, strides: 2, padding: same}",
        (9, 9, 3),
        (5, 5, 5),
        140,
        140,
        25 * 5 * 27,
    ),
    # rectangular kernel and strides, same: ceil(7/2) = 4, ceil(10/3) = 4; params 2·4·1·2 + 2
    (
        "Conv2D: {filters: 2, kernel_size: [2, 4], strides: [2, 3], padding: same}",
        (7, 10, 1),
        (4, 4, 2),
        18,
        18,
        16 * 2 * 8,
    ),
    # even kernel, same: 6; params 4·4·1·1 + 1
    ("Conv2D: {filters: 1, kernel_size: 4, padding: same}", (6, 6, 1), (6, 6, 1), 17, 17, 36 * 16),
    # dilation 2: reach 5, 10 − 5 + 1 = 6
    (
        "Conv2D: {filters: 3, kernel_size: 3, dilation_rate: 2}",
        (10, 10, 1),
        (6, 6, 3),
        30,
        30,
        36 * 3 * 9,
    ),
    # dilation [2, 1]: 10 − 5 + 1 = 6, 8 − 3 + 1 = 6; params 3·3·2·2 + 2
    (
        "Conv2D: {filters: 2, kernel_size: 3, dilation_rate: [2, 1]}",
        (10, 8, 2),
        (6, 6, 2),
        38,
        38,
        36 * 2 * 18,
    ),
    # dilation 2 with stride 2 (Keras refuses it, we compute it): floor((11 − 5)/2) + 1 = 4
    (
        "Conv2D: {filters: 1, kernel_size: 3, dilation_rate: 2, strides: 2}",
        (11, 11, 1),
        (4, 4, 1),
        10,
        10,
        16 * 9,
    ),
    # dilation 2, same: ceil(7/1) = 7
    (
        "Conv2D: {filters: 2, kernel_size: 3, dilation_rate: 2, padding: same}",
        (7, 7, 1),
        (7, 7, 2),
        20,
        20,
        49 * 2 * 9,
    ),
    # groups 2: kernel (3, 3, 4/2, 6) → 108 + 6
    (
        "Conv2D: {filters: 6, kernel_size: 3, groups: 2}",
        (5, 5, 4),
        (3, 3, 6),
        114,
        114,
        9 * 6 * 9 * 2,
    ),
    # groups 3 with a 1×1 kernel: kernel (1, 1, 2, 3) → 6 + 3
    ("Conv2D: {filters: 3, kernel_size: 1, groups: 3}", (4, 4, 6), (4, 4, 3), 9, 9, 16 * 3 * 2),
    # use_bias false: 1·1·3·4
    (
        "Conv2D: {filters: 4, kernel_size: 1, use_bias: false}",
        (5, 5, 3),
        (5, 5, 4),
        12,
        12,
        25 * 4 * 3,
    ),
    # inline activations change nothing but PReLU, which adds its alpha
    ("Conv2D: {filters: 4, kernel_size: 3, activation: relu}", (8, 8, 2), (6, 6, 4), 76, 76, 2592),
    (
        "Conv2D: {filters: 4, kernel_size: 3, activation: {LeakyReLU: {alpha: 0.05}}}",
        (8, 8, 2),
        (6, 6, 4),
        76,
        76,
        2592,
    ),
    (
        "Conv2D: {filters: 4, kernel_size: 3, activation: {type: ReLU, max_value: 6.0}}",
        (8, 8, 2),
        (6, 6, 4),
        76,
        76,
        2592,
    ),
    # inline PReLU: alpha (6, 6, 4) = 144
    (
        "Conv2D: {filters: 4, kernel_size: 3, activation: {PReLU: {}}}",
        (8, 8, 2),
        (6, 6, 4),
        220,
        220,
        2592,
    ),
    # inline PReLU shared over H and W: alpha (1, 1, 4)
    (
        "Conv2D: {filters: 4, kernel_size: 3, activation: {PReLU: {shared_axes: [1, 2]}}}",
        (8, 8, 2),
        (6, 6, 4),
        80,
        80,
        2592,
    ),
]

POOLING_CASES = [
    # strides default to pool_size
    ("MaxPooling2D", (8, 8, 3), (4, 4, 3), 0, 0, 0),
    ("MaxPooling2D: {pool_size: 2}", (5, 5, 1), (2, 2, 1), 0, 0, 0),  # odd size, last row dropped
    ("MaxPool2D: {pool_size: [2, 2]}", (7, 6, 2), (3, 3, 2), 0, 0, 0),
    # pool 3, strides 3: floor((7 − 3)/3) + 1 = 2; same: ceil(7/3) = 3
    ("MaxPooling2D: {pool_size: 3}", (7, 7, 2), (2, 2, 2), 0, 0, 0),
    ("MaxPooling2D: {pool_size: 3, padding: same}", (7, 7, 2), (3, 3, 2), 0, 0, 0),
    ("MaxPooling2D: {pool_size: 3, strides: 1}", (5, 5, 1), (3, 3, 1), 0, 0, 0),
    # H: (5 − 2)/1 + 1 = 4; W: floor((7 − 3)/2) + 1 = 3
    ("MaxPooling2D: {pool_size: [2, 3], strides: [1, 2]}", (5, 7, 4), (4, 3, 4), 0, 0, 0),
    ("AveragePooling2D", (8, 8, 3), (4, 4, 3), 0, 0, 0),
    ("AveragePooling2D: {pool_size: 2, padding: same}", (5, 5, 1), (3, 3, 1), 0, 0, 0),
    ("AvgPool2D: {pool_size: 3, strides: 2}", (9, 9, 2), (4, 4, 2), 0, 0, 0),
    ("AveragePooling2D: {pool_size: 3, strides: 2, padding: same}", (9, 9, 2), (5, 5, 2), 0, 0, 0),
    ("GlobalMaxPooling2D", (4, 5, 3), (3,), 0, 0, 0),
    ("GlobalMaxPool2D: {keepdims: true}", (4, 5, 3), (1, 1, 3), 0, 0, 0),
    ("GlobalAveragePooling2D", (4, 5, 3), (3,), 0, 0, 0),
    ("GlobalAvgPool2D: {keepdims: true}", (4, 5, 3), (1, 1, 3), 0, 0, 0),
]

CORE_CASES = [
    ("Flatten", (3, 4, 5), (60,), 0, 0, 0),
    ("Flatten", (7,), (7,), 0, 0, 0),
    # Dense on 1-D: 7·5 + 5; MACs 7·5
    ("Dense: {units: 5}", (7,), (5,), 40, 40, 35),
    # Dense on 3-D: acts on the last axis; MACs 3·4·7·5
    ("Dense: {units: 5}", (3, 4, 7), (3, 4, 5), 40, 40, 3 * 4 * 7 * 5),
    ("Dense: {units: 5, use_bias: false}", (3, 4, 7), (3, 4, 5), 35, 35, 420),
    ("Dense: {units: 5, activation: softmax}", (7,), (5,), 40, 40, 35),
    # inline PReLU on a 3-D Dense output: alpha (3, 4, 5) = 60
    ("Dense: {units: 5, activation: {PReLU: {}}}", (3, 4, 7), (3, 4, 5), 100, 100, 420),
    ("Dropout: {rate: 0.5}", (3, 4, 5), (3, 4, 5), 0, 0, 0),
    ("Dropout: {rate: 0}", (6,), (6,), 0, 0, 0),
]

NORMALIZATION_CASES = [
    # gamma, beta (trainable), moving_mean, moving_variance (not): 4·C, trainable 2·C
    ("BatchNormalization", (4, 4, 6), (4, 4, 6), 24, 12, 0),
    ("BatchNormalization: {center: false}", (4, 4, 6), (4, 4, 6), 18, 6, 0),
    ("BatchNormalization: {scale: false}", (4, 4, 6), (4, 4, 6), 18, 6, 0),
    ("BatchNormalization: {center: false, scale: false}", (4, 4, 6), (4, 4, 6), 12, 0, 0),
    # axis counts the batch axis as 0: axis 1 on (3, 5, 7) normalises the 3 rows
    ("BatchNormalization: {axis: 1}", (3, 5, 7), (3, 5, 7), 12, 6, 0),
    ("BatchNormalization: {axis: 2}", (3, 5, 7), (3, 5, 7), 20, 10, 0),
    ("BatchNormalization: {axis: -2}", (3, 5, 7), (3, 5, 7), 20, 10, 0),
    ("BatchNormalization", (9,), (9,), 36, 18, 0),
]

ACTIVATION_CASES = [
    ("Activation: {activation: tanh}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("relu", (6,), (6,), 0, 0, 0),
    ("Activation: {activation: {LeakyReLU: {alpha: 0.1}}}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("ReLU", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("ReLU: {max_value: 6.0, negative_slope: 0.1, threshold: 0.5}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("LeakyReLU", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("LeakyReLU: {negative_slope: 0.2}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    # PReLU: alpha has the input's shape, size 1 along shared axes (1-based, batch is 0)
    ("PReLU", (4, 5, 3), (4, 5, 3), 60, 60, 0),
    ("PReLU: {shared_axes: [1, 2]}", (4, 5, 3), (4, 5, 3), 3, 3, 0),
    ("PReLU: {shared_axes: [3]}", (4, 5, 3), (4, 5, 3), 20, 20, 0),
    ("PReLU: {shared_axes: 2}", (4, 5, 3), (4, 5, 3), 12, 12, 0),
    ("PReLU: {shared_axes: [1, 2, 3]}", (4, 5, 3), (4, 5, 3), 1, 1, 0),
    ("ELU: {alpha: 0.5}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("ThresholdedReLU: {theta: 0.2}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("Softmax", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("Softmax: {axis: 1}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    ("Softmax: {axis: -3}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
]

LAYER_CASES = CONV_CASES + POOLING_CASES + CORE_CASES + NORMALIZATION_CASES + ACTIVATION_CASES


@pytest.mark.parametrize(
    ("entry", "input_shape", "output_shape", "params", "trainable", "macs"),
    LAYER_CASES,
    ids=[f"{case[0]}-{case[1]}" for case in LAYER_CASES],
)
def test_layer_shape_params_macs(
    entry: str, input_shape: Shape, output_shape: Shape, params: int, trainable: int, macs: int
) -> None:
    model = build(entry, input_shape)
    (node,) = model.nodes
    assert node.output_shape == output_shape
    assert model.output_shape == output_shape
    assert model.count_params() == params
    assert model.count_params(trainable=True) == trainable
    assert model.count_params(trainable=False) == params - trainable
    assert node.macs == macs
    # the shape inferred before any data flows is the shape the forward pass produces
    x = sample(2, *input_shape)
    assert model(x).shape == (2, *output_shape)


# Weight layouts are Keras's: Conv2D (kh, kw, C/groups, filters), Dense (in, units).
WEIGHT_SHAPE_CASES = [
    (
        "Conv2D: {filters: 6, kernel_size: [2, 3], groups: 2, name: c}",
        (5, 5, 4),
        {"c/kernel": (2, 3, 2, 6), "c/bias": (6,)},
    ),
    (
        "Conv2D: {filters: 4, kernel_size: 3, use_bias: false, activation: {PReLU: {shared_axes: [1, 2]}}, name: c}",
        (8, 8, 2),
        {"c/kernel": (3, 3, 2, 4), "c/alpha": (1, 1, 4)},
    ),
    ("Dense: {units: 5, name: d}", (3, 4, 7), {"d/kernel": (7, 5), "d/bias": (5,)}),
    (
        "Dense: {units: 5, activation: {PReLU: {}}, name: d}",
        (7,),
        {"d/kernel": (7, 5), "d/bias": (5,), "d/alpha": (5,)},
    ),
    (
        "BatchNormalization: {axis: 1, name: bn}",
        (3, 5, 7),
        {"bn/gamma": (3,), "bn/beta": (3,), "bn/moving_mean": (3,), "bn/moving_variance": (3,)},
    ),
    (
        "BatchNormalization: {center: false, name: bn}",
        (3, 5, 7),
        {"bn/gamma": (7,), "bn/moving_mean": (7,), "bn/moving_variance": (7,)},
    ),
    ("PReLU: {shared_axes: [3], name: p}", (4, 5, 3), {"p/alpha": (4, 5, 1)}),
    ("PReLU: {name: p}", (4, 5, 3), {"p/alpha": (4, 5, 3)}),
]


@pytest.mark.parametrize(("entry", "input_shape", "expected"), WEIGHT_SHAPE_CASES)
def test_weight_keys_and_shapes(entry: str, input_shape: Shape, expected: dict[str, Shape]) -> None:
    model = build(entry, input_shape)
    assert {key: array.shape for key, array in model.weights.items()} == expected


def test_inline_prelu_weight_is_named_after_its_layer() -> None:
    model = build(
        [
            "Conv2D: {filters: 2, kernel_size: 3, activation: {PReLU: {alpha_initializer: ones}}}",
            "Dense: {units: 3, activation: {type: PReLU, shared_axes: [1, 2]}}",
        ],
        (5, 5, 1),
    )
    assert set(model.weights) == {
        "conv2d/kernel",
        "conv2d/bias",
        "conv2d/alpha",
        "dense/kernel",
        "dense/bias",
        "dense/alpha",
    }
    assert model.weights["conv2d/alpha"].shape == (3, 3, 2)
    np.testing.assert_array_equal(model.weights["conv2d/alpha"], np.ones((3, 3, 2)))
    assert model.weights["dense/alpha"].shape == (1, 1, 3)


# --------------------------------------------------------------------------- numerical checks


def test_batch_normalization_inference_formula(tmp_path: Path) -> None:
    model = build("BatchNormalization: {epsilon: 0.01, name: bn}", (2, 3, 4))
    gamma, beta = np.array([1.0, 2.0, -0.5, 3.0]), np.array([0.1, -0.2, 0.3, 0.0])
    mean, variance = np.array([0.5, -1.0, 2.0, 0.0]), np.array([1.0, 4.0, 0.25, 9.0])
    set_weights(
        model,
        tmp_path,
        {
            "bn/gamma": gamma,
            "bn/beta": beta,
            "bn/moving_mean": mean,
            "bn/moving_variance": variance,
        },
    )
    x = sample(3, 2, 3, 4)
    expected = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        c = index[-1]
        expected[index] = gamma[c] * (x[index] - mean[c]) / math.sqrt(variance[c] + 0.01) + beta[c]
    np.testing.assert_allclose(model(x), expected, rtol=1e-12, atol=1e-14)


def test_batch_normalization_axis_1_on_a_3d_input(tmp_path: Path) -> None:
    model = build("BatchNormalization: {axis: 1, name: bn}", (3, 2, 5))
    gamma, beta = np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.0, -3.0])
    mean, variance = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 2.0])
    set_weights(
        model,
        tmp_path,
        {
            "bn/gamma": gamma,
            "bn/beta": beta,
            "bn/moving_mean": mean,
            "bn/moving_variance": variance,
        },
    )
    x = sample(2, 3, 2, 5)
    expected = np.empty_like(x)
    for index in np.ndindex(*x.shape):
        r = index[1]  # axis 1 of the batched tensor: the first per-sample axis
        expected[index] = gamma[r] * (x[index] - mean[r]) / math.sqrt(variance[r] + 0.001) + beta[r]
    np.testing.assert_allclose(model(x), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("center", "scale"), [(False, True), (True, False), (False, False)])
def test_batch_normalization_without_center_or_scale(
    tmp_path: Path, center: bool, scale: bool
) -> None:
    model = build(
        f"BatchNormalization: {{center: {str(center).lower()}, scale: {str(scale).lower()}, name: bn}}",
        (3,),
    )
    gamma, beta = np.array([2.0, 3.0, 4.0]), np.array([10.0, 20.0, 30.0])
    mean, variance = np.array([1.0, 2.0, 3.0]), np.array([3.999, 0.999, 8.999])  # + eps: 4, 1, 9
    arrays = {"bn/moving_mean": mean, "bn/moving_variance": variance}
    if center:
        arrays["bn/beta"] = beta
    if scale:
        arrays["bn/gamma"] = gamma
    set_weights(model, tmp_path, arrays)
    x = np.array([[5.0, 4.0, 6.0]])
    normalised = np.array([[4.0 / 2.0, 2.0 / 1.0, 3.0 / 3.0]])
    expected = normalised * (gamma if scale else 1.0) + (beta if center else 0.0)
    np.testing.assert_allclose(model(x), expected, rtol=1e-12)


def test_batch_normalization_float32(tmp_path: Path) -> None:
    model = build("BatchNormalization: {name: bn}", (4,), dtype="float32")
    set_weights(
        model,
        tmp_path,
        {
            "bn/gamma": np.full(4, 2.0),
            "bn/beta": np.full(4, 1.0),
            "bn/moving_mean": np.full(4, 3.0),
            "bn/moving_variance": np.full(4, 0.999),
        },
    )
    y = model(np.array([[3.0, 4.0, 2.0, 5.0]], dtype=np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[1.0, 3.0, -1.0, 5.0]], rtol=1e-6)


def test_dense_on_3d_input_matches_einsum(tmp_path: Path) -> None:
    model = build("Dense: {units: 4, name: d}", (3, 2, 5))
    kernel, bias = sample(5, 4, seed=1), sample(4, seed=2)
    set_weights(model, tmp_path, {"d/kernel": kernel, "d/bias": bias})
    x = sample(6, 3, 2, 5)
    expected = np.einsum("nijk,ku->niju", x, kernel) + bias
    np.testing.assert_allclose(model(x), expected, rtol=1e-12, atol=1e-13)


def test_dense_inline_prelu_on_3d_input(tmp_path: Path) -> None:
    model = build(
        "Dense: {units: 2, use_bias: false, activation: {PReLU: {shared_axes: [1]}}, name: d}",
        (3, 4),
    )
    kernel, alpha = sample(4, 2, seed=3), np.array([[0.1, -2.0]])
    set_weights(model, tmp_path, {"d/kernel": kernel, "d/alpha": alpha})
    x = sample(5, 3, 4)
    z = np.einsum("nik,ku->niu", x, kernel)
    expected = np.empty_like(z)
    for n, i, u in np.ndindex(*z.shape):
        expected[n, i, u] = z[n, i, u] if z[n, i, u] >= 0 else alpha[0, u] * z[n, i, u]
    np.testing.assert_allclose(model(x), expected, rtol=1e-12, atol=1e-13)


def test_softmax_axis_1_matches_formula() -> None:
    model = build("Softmax: {axis: 1}", (3, 4))
    x = sample(2, 3, 4) * 5
    expected = np.empty_like(x)
    for n in range(2):
        for j in range(4):
            column = [math.exp(x[n, i, j]) for i in range(3)]
            for i in range(3):
                expected[n, i, j] = column[i] / sum(column)
    y = model(x)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_allclose(y.sum(axis=1), np.ones((2, 4)), rtol=1e-12)


def test_softmax_default_axis_is_last() -> None:
    model = build("Softmax", (3, 4))
    x = sample(2, 3, 4)
    e = np.exp(x)
    np.testing.assert_allclose(model(x), e / e.sum(axis=2, keepdims=True), rtol=1e-12)


def test_softmax_large_logits_float32() -> None:
    model = build("Softmax", (3,), dtype="float32")
    y = model(np.array([[1e4, 0.0, -1e4], [5e3, 5e3, 5e3]], dtype=np.float32))
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize(
    ("shared_axes", "alpha_shape"),
    [("null", (2, 3, 4)), ("[1, 2]", (1, 1, 4)), ("[3]", (2, 3, 1)), ("[2]", (2, 1, 4))],
)
def test_prelu_with_shared_axes_matches_formula(
    tmp_path: Path, shared_axes: str, alpha_shape: Shape
) -> None:
    model = build(f"PReLU: {{shared_axes: {shared_axes}, name: p}}", (2, 3, 4))
    alpha = sample(*alpha_shape, seed=5)
    set_weights(model, tmp_path, {"p/alpha": alpha})
    x = sample(3, 2, 3, 4)
    expected = np.empty_like(x)
    for n, h, w, c in np.ndindex(*x.shape):
        a = alpha[
            min(h, alpha_shape[0] - 1), min(w, alpha_shape[1] - 1), min(c, alpha_shape[2] - 1)
        ]
        expected[n, h, w, c] = x[n, h, w, c] if x[n, h, w, c] >= 0 else a * x[n, h, w, c]
    np.testing.assert_allclose(model(x), expected, rtol=1e-12)


def test_prelu_default_alpha_is_zero() -> None:
    model = build("PReLU", (4,))
    np.testing.assert_array_equal(model(np.array([[-2.0, -0.5, 0.0, 3.0]])), [[0.0, 0.0, 0.0, 3.0]])


def keras_relu(x: float, negative_slope: float, max_value: float | None, threshold: float) -> float:
    """Keras 3 `ReLU.static_call` for one number, step by step."""
    if threshold != 0:
        y = x if x > threshold else 0.0
    else:
        y = max(x, 0.0)
    if max_value is not None:
        y = min(max(y, 0.0), max_value)
    if negative_slope != 0:
        y -= negative_slope * max(threshold - x, 0.0)
    return y


RELU_ARGUMENTS = [
    (0.0, None, 0.0),
    (0.0, 6.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.1, None, 0.0),
    (0.1, 2.0, 0.0),
    (0.0, None, 0.5),
    (0.2, None, 0.5),
    (0.2, 2.0, 0.5),
    (0.0, 2.0, 1.0),
    (0.5, 0.25, 1.0),  # max_value below the threshold: 0 up to the threshold, then the cap
    (1.5, 3.0, 2.0),
]
RELU_INPUTS = [
    -1e4,
    -3.0,
    -1.0,
    -0.25,
    0.0,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    3.0,
    6.0,
    7.5,
    1e4,
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("negative_slope", "max_value", "threshold"), RELU_ARGUMENTS)
def test_relu_layer_combinations(
    dtype: str, negative_slope: float, max_value: float | None, threshold: float
) -> None:
    cap = "null" if max_value is None else max_value
    entry = f"ReLU: {{negative_slope: {negative_slope}, max_value: {cap}, threshold: {threshold}}}"
    model = build(entry, (len(RELU_INPUTS),), dtype=dtype)
    x = np.array([RELU_INPUTS], dtype=dtype)
    expected = [[keras_relu(v, negative_slope, max_value, threshold) for v in RELU_INPUTS]]
    y = model(x)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, expected, rtol=1e-6 if dtype == "float32" else 1e-12)


def test_relu_at_the_threshold_is_zero() -> None:
    # x exactly at the threshold: the "x > threshold" branch does not apply, and
    # negative_slope·(x − threshold) is 0.
    model = build("ReLU: {threshold: 1.5, negative_slope: 0.3, max_value: 4.0}", (3,))
    np.testing.assert_array_equal(
        model(np.array([[1.5, 1.5000001, 1.4999999]])), [[0.0, 1.5000001, 0.3 * (1.4999999 - 1.5)]]
    )


def test_inline_relu_block_on_conv(tmp_path: Path) -> None:
    model = build(
        "Conv2D: {filters: 1, kernel_size: 1, name: c, activation: {ReLU: {threshold: 1.0, negative_slope: 0.5}}}",
        (1, 4, 1),
    )
    set_weights(
        model, tmp_path, {"c/kernel": np.full((1, 1, 1, 1), 2.0), "c/bias": np.array([-1.0])}
    )
    x = np.array([-1.0, 0.5, 1.0, 2.0]).reshape(1, 1, 4, 1)
    # z = 2x − 1 = −3, 0, 1, 3; below or at the threshold 1: 0.5·(z − 1); above: z
    expected = np.array([0.5 * (-3 - 1.0), 0.5 * (0 - 1.0), 0.0, 3.0]).reshape(1, 1, 4, 1)
    np.testing.assert_allclose(model(x), expected, rtol=1e-12)


def test_leaky_relu_elu_thresholded_relu_by_hand() -> None:
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]])
    cases = {
        "LeakyReLU": [-0.6, -0.15, 0.0, 0.5, 1.0, 3.0],
        "LeakyReLU: {alpha: 0.05}": [-0.1, -0.025, 0.0, 0.5, 1.0, 3.0],
        "LeakyReLU: {negative_slope: 0.5}": [-1.0, -0.25, 0.0, 0.5, 1.0, 3.0],
        "ELU": [math.exp(-2) - 1, math.exp(-0.5) - 1, 0.0, 0.5, 1.0, 3.0],
        "ELU: {alpha: 0.5}": [
            0.5 * (math.exp(-2) - 1),
            0.5 * (math.exp(-0.5) - 1),
            0.0,
            0.5,
            1.0,
            3.0,
        ],
        "ThresholdedReLU": [0.0, 0.0, 0.0, 0.0, 0.0, 3.0],  # theta 1: x == 1 gives 0
        "ThresholdedReLU: {theta: 0.5}": [0.0, 0.0, 0.0, 0.0, 1.0, 3.0],
        "ThresholdedReLU: {theta: 0}": [0.0, 0.0, 0.0, 0.5, 1.0, 3.0],
        "Activation: {activation: relu}": [0.0, 0.0, 0.0, 0.5, 1.0, 3.0],
        "relu6": [0.0, 0.0, 0.0, 0.5, 1.0, 3.0],
        "Activation: {activation: tanh}": list(np.tanh(x[0])),
        "Dropout: {rate: 0.9}": list(x[0]),
    }
    for entry, expected in cases.items():
        np.testing.assert_allclose(build(entry, (6,))(x), [expected], rtol=1e-12, err_msg=entry)


def test_average_pooling_same_divides_by_real_cells() -> None:
    model = build("AveragePooling2D: {pool_size: [1, 2], padding: same}", (1, 5, 1))
    x = np.arange(1.0, 6.0).reshape(1, 1, 5, 1)
    np.testing.assert_allclose(model(x).ravel(), [1.5, 3.5, 5.0], rtol=1e-12)


def test_max_pooling_same_pads_with_minus_infinity() -> None:
    model = build("MaxPooling2D: {pool_size: 2, padding: same}", (3, 3, 1))
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # all negative: a zero pad would win
    np.testing.assert_array_equal(model(x)[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])


def test_global_pooling_keepdims_values() -> None:
    x = sample(2, 3, 4, 5)
    for entry, reduce in (
        ("GlobalAveragePooling2D: {keepdims: true}", np.mean),
        ("GlobalMaxPooling2D: {keepdims: true}", np.max),
    ):
        expected = np.empty((2, 1, 1, 5))
        for n, c in np.ndindex(2, 5):
            expected[n, 0, 0, c] = reduce([x[n, h, w, c] for h in range(3) for w in range(4)])
        np.testing.assert_allclose(build(entry, (3, 4, 5))(x), expected, rtol=1e-12)


def test_flatten_is_row_major() -> None:
    x = sample(2, 3, 4, 5)
    expected = np.array(
        [[x[n, h, w, c] for h in range(3) for w in range(4) for c in range(5)] for n in range(2)]
    )
    np.testing.assert_array_equal(build("Flatten", (3, 4, 5))(x), expected)


# --------------------------------------------------------------------------- shape errors


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Model.from_spec(parse(textwrap.dedent(text)))
    return str(caught.value)


def position(text: str, line_number: int, value: str) -> str:
    """`<string>:LINE:COL:` of the first `value` on that (1-based) line of `text`."""
    line = textwrap.dedent(text).splitlines()[line_number - 1]
    return f"<string>:{line_number}:{line.index(value) + 1}:"


def test_kernel_larger_than_input() -> None:
    text = """\
        input_shape: [3, 3, 1]
        layers:
          - Dense: {units: 2}
          - Conv2D: {filters: 2, kernel_size: 5}
        """
    message = config_error(text)
    assert message.startswith(position(text, 4, "5}") + " layers[1] (Conv2D) kernel_size:")
    assert "5" in message and "3" in message and "valid" in message


def test_dilated_kernel_larger_than_input() -> None:
    text = """\
        input_shape: [6, 6, 1]
        layers:
          - Conv2D: {filters: 2, kernel_size: 3, dilation_rate: 3}
        """
    message = config_error(text)
    assert message.startswith("<string>:3:") and "layers[0] (Conv2D)" in message
    assert "7" in message  # the dilated kernel reaches 3·(3 − 1) + 1 = 7 cells


def test_same_padding_never_too_small() -> None:
    model = build("Conv2D: {filters: 1, kernel_size: 5, padding: same}", (2, 2, 1))
    assert model.output_shape == (2, 2, 1)


def test_conv_on_a_flat_input() -> None:
    text = """\
        input_shape: [6, 6, 1]
        layers:
          - Flatten
          - Conv2D: {filters: 2, kernel_size: 3}
        """
    message = config_error(text)
    assert message.startswith("<string>:4:") and "layers[1] (Conv2D)" in message
    assert "3-D" in message and "(None, 36)" in message


def test_pool_larger_than_input() -> None:
    text = """\
        input_shape: [3, 3, 1]
        layers:
          - MaxPooling2D: {pool_size: 4}
        """
    message = config_error(text)
    assert message.startswith(position(text, 3, "4}") + " layers[0] (MaxPooling2D) pool_size:")
    assert "4" in message and "3" in message


def test_channels_not_divisible_by_groups() -> None:
    text = """\
        input_shape: [5, 5, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, groups: 2}
        """
    message = config_error(text)
    assert message.startswith(position(text, 3, "2}") + " layers[0] (Conv2D) groups:")
    assert "3" in message and "groups=2" in message


def test_prelu_shared_axes_out_of_range() -> None:
    text = """\
        input_shape: [4, 4, 3]
        layers:
          - PReLU: {shared_axes: [1, 4]}
        """
    message = config_error(text)
    assert message.startswith(position(text, 3, "[1, 4]") + " layers[0] (PReLU) shared_axes:")
    assert "4" in message


def test_inline_prelu_shared_axes_out_of_range_points_at_the_value() -> None:
    text = """\
        input_shape: [4, 4, 3]
        layers:
          - Conv2D: {filters: 2, kernel_size: 3, activation: {PReLU: {shared_axes: [5]}}}
        """
    message = config_error(text)
    assert message.startswith(position(text, 3, "[5]"))
    assert "layers[0] (Conv2D)" in message and "activation" in message and "5" in message


@pytest.mark.parametrize("axis", [0, 4, -5])
def test_softmax_axis_refused(axis: int) -> None:
    text = f"""\
        input_shape: [4, 4, 3]
        layers:
          - Softmax: {{axis: {axis}}}
        """
    message = config_error(text)
    assert message.startswith(position(text, 3, f"{axis}}}") + " layers[0] (Softmax) axis:")
    if axis == 0:
        assert "batch" in message


def test_batch_normalization_batch_axis_refused() -> None:
    text = """\
        input_shape: [4, 4, 3]
        layers:
          - BatchNormalization: {axis: 0}
        """
    message = config_error(text)
    assert "layers[0] (BatchNormalization) axis:" in message and "batch" in message


def test_global_pooling_on_a_flat_input() -> None:
    text = """\
        input_shape: [5]
        layers:
          - GlobalMaxPooling2D
        """
    message = config_error(text)
    assert message.startswith("<string>:3:") and "layers[0] (GlobalMaxPooling2D)" in message


def test_every_shape_error_is_reported_without_cascade() -> None:
    text = """\
        input_shape: [3, 3, 1]
        layers:
          - Conv2D: {filters: 2, kernel_size: 5, name: a, inputs: [input]}
          - MaxPooling2D: {pool_size: 4, name: b, inputs: [input]}
          - Conv2D: {filters: 2, kernel_size: 1, name: c, inputs: [a]}
        """
    message = config_error(text)
    lines = message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("<string>:3:") and lines[1].startswith("<string>:4:")


# --------------------------------------------------------------------------- Conv2D vs a naive loop


def naive_conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
    groups: int,
) -> np.ndarray:
    """Direct convolution, one output cell at a time (TensorFlow `same` padding)."""
    n, height, width, channels = x.shape
    kh, kw, per_group, filters = kernel.shape
    reach = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    if padding == "same":
        out_h, out_w = -(-height // strides[0]), -(-width // strides[1])
        pad_h = max((out_h - 1) * strides[0] + reach[0] - height, 0)
        pad_w = max((out_w - 1) * strides[1] + reach[1] - width, 0)
        x = np.pad(
            x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
        )
    else:
        out_h = (height - reach[0]) // strides[0] + 1
        out_w = (width - reach[1]) // strides[1] + 1
    out = np.zeros((n, out_h, out_w, filters))
    per_filter_group = filters // groups
    for b, i, j, f in np.ndindex(n, out_h, out_w, filters):
        g = f // per_filter_group
        total = 0.0 if bias is None else bias[f]
        for a, c, k in np.ndindex(kh, kw, per_group):
            total += (
                x[
                    b,
                    i * strides[0] + a * dilation[0],
                    j * strides[1] + c * dilation[1],
                    g * per_group + k,
                ]
                * kernel[a, c, k, f]
            )
        out[b, i, j, f] = total
    return out


NAIVE_CONV_CASES = [
    # (kernel_size, strides, padding, dilation, groups, filters, input shape, use_bias)
    ((3, 3), (1, 1), "valid", (1, 1), 1, 3, (5, 6, 2), True),
    ((2, 2), (1, 1), "same", (1, 1), 1, 2, (4, 5, 3), True),
    ((3, 2), (2, 3), "same", (1, 1), 1, 2, (7, 8, 1), False),
    ((3, 3), (2, 2), "valid", (2, 1), 1, 2, (9, 7, 2), True),
    ((2, 3), (1, 1), "same", (2, 2), 2, 4, (6, 5, 4), True),
    ((1, 1), (2, 2), "valid", (1, 1), 3, 6, (5, 5, 3), True),
]


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "dilation", "groups", "filters", "shape", "use_bias"),
    NAIVE_CONV_CASES,
)
def test_conv2d_matches_naive_loop(
    tmp_path: Path,
    kernel_size: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
    groups: int,
    filters: int,
    shape: Shape,
    use_bias: bool,
) -> None:
    entry = (
        f"Conv2D: {{name: c, filters: {filters}, kernel_size: {list(kernel_size)}, strides: {list(strides)}, "
        f"padding: {padding}, dilation_rate: {list(dilation)}, groups: {groups}, "
        f"use_bias: {str(use_bias).lower()}, activation: {{LeakyReLU: {{alpha: 0.1}}}}}}"
    )
    model = build(entry, shape)
    kernel = sample(*kernel_size, shape[-1] // groups, filters, seed=7)
    bias = sample(filters, seed=8) if use_bias else None
    set_weights(model, tmp_path, {"c/kernel": kernel, **({"c/bias": bias} if use_bias else {})})
    x = sample(2, *shape, seed=9)
    z = naive_conv2d(x, kernel, bias, strides, padding, dilation, groups)
    expected = np.where(z >= 0, z, 0.1 * z)
    np.testing.assert_allclose(model(x), expected, rtol=1e-12, atol=1e-12)
