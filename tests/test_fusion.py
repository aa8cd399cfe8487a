"""BatchNormalization folded into the Conv2D/Dense before it (builder.fusion).

Oracles: the plain layer-by-layer evaluation of the same compiled layers with the same
weights (`node.layer(x, weights)` in order, nothing fused), and for the folding also a
formula written here: the naive loop convolution of test_ops_conv, then
gamma·(y − mean)/sqrt(var + eps) + beta, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import builder
from tests.test_execution_plan import layer_by_layer
from tests.test_ops_conv import naive_conv2d


def randomise(model: builder.model.Model, seed: int = 0) -> None:
    """Random weights everywhere (moving_variance positive), written in place before the
    first forward pass."""
    rng = np.random.default_rng(seed)
    for key, array in model.weights.items():
        values = rng.standard_normal(array.shape)
        if key.endswith("moving_variance"):
            values = rng.uniform(0.2, 2.0, array.shape)
        array[...] = values


def fused(model: builder.model.Model) -> list[tuple[str, tuple[str, ...]]]:
    """(step name, names of the layers it absorbed) for every fused step."""
    return [
        (step.output, tuple(node.name for node in step.absorbed))
        for step in model.plan.steps
        if step.absorbed
    ]


def load(layers: str, dtype: str = "float64", shape: str = "[9, 8, 3]") -> builder.model.Model:
    return builder.load(f"input_shape: {shape}\ndtype: {dtype}\nlayers:\n{layers}")


CONV_BN = """
  - Conv2D: {filters: 5, kernel_size: 3, padding: same, name: conv}
  - BatchNormalization: {epsilon: 0.01, name: bn}
"""


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 2e-5)])
def test_batch_norm_folds_into_the_convolution(dtype: str, tolerance: float) -> None:
    model = load(CONV_BN + "  - Flatten\n", dtype)
    randomise(model)
    assert fused(model) == [("bn", ("conv",))]
    x = np.random.default_rng(1).standard_normal((4, 9, 8, 3)).astype(dtype)
    y = model.predict(x)
    np.testing.assert_allclose(y, layer_by_layer(model, x), rtol=tolerance, atol=tolerance)
    # the formula, independently of the layers
    w = model.weights
    conv = naive_conv2d(x, w["conv/kernel"], w["conv/bias"], (1, 1), "same", (1, 1), 1)
    std = np.sqrt(w["bn/moving_variance"].astype(np.float64) + 0.01)
    expected = w["bn/gamma"] * (conv - w["bn/moving_mean"]) / std + w["bn/beta"]
    np.testing.assert_allclose(y, expected.reshape(4, -1), rtol=tolerance, atol=tolerance)


def test_conv_batch_norm_relu_max_pool_folds_and_pools_first() -> None:
    model = load(
        CONV_BN
        + """
  - ReLU: {name: relu}
  - MaxPooling2D: {pool_size: 2, name: pool}
"""
    )
    randomise(model, 2)
    assert fused(model) == [("bn", ("conv",))]  # the ReLU runs after the pooling instead
    x = np.random.default_rng(3).standard_normal((3, 9, 8, 3))
    np.testing.assert_allclose(model.predict(x), layer_by_layer(model, x), rtol=1e-12, atol=1e-12)


def test_conv_batch_norm_activation_keeps_the_activation_step() -> None:
    model = load(CONV_BN + "  - LeakyReLU: {alpha: 0.1, name: act}\n  - Flatten\n")
    randomise(model, 4)
    assert fused(model) == [("bn", ("conv",))]
    assert [step.output for step in model.plan.steps] == ["bn", "act", "flatten"]
    x = np.random.default_rng(5).standard_normal((3, 9, 8, 3))
    np.testing.assert_allclose(model.predict(x), layer_by_layer(model, x), rtol=1e-12, atol=1e-12)


def test_dense_batch_norm_folds() -> None:
    model = load(
        "  - Flatten\n  - Dense: {units: 7, name: dense}\n  - BatchNormalization: {name: bn}\n"
    )
    randomise(model, 8)
    assert fused(model) == [("bn", ("dense",))]
    x = np.random.default_rng(9).standard_normal((4, 9, 8, 3))
    np.testing.assert_allclose(model.predict(x), layer_by_layer(model, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "layers",
    [
        # the convolution has an activation: the normalisation comes after it
        "  - Conv2D: {filters: 4, kernel_size: 3, activation: relu}\n  - BatchNormalization: {}\n",
        # the normalisation acts on the height axis, not the channels
        "  - Conv2D: {filters: 4, kernel_size: 3}\n  - BatchNormalization: {axis: 1}\n",
        # not a normalisation
        "  - Conv2D: {filters: 4, kernel_size: 3, activation: relu}\n  - Softmax: {}\n",
    ],
)
def test_what_does_not_fold_is_left_alone(layers: str) -> None:
    model = load(layers)
    randomise(model, 10)
    assert fused(model) == []
    x = np.random.default_rng(11).standard_normal((2, 9, 8, 3))
    np.testing.assert_array_equal(model.predict(x), layer_by_layer(model, x))


def test_a_convolution_read_twice_or_returned_is_not_folded() -> None:
    model = builder.load(
        """
input_shape: [6, 6, 2]
dtype: float64
outputs: [conv, bn]
layers:
  - Conv2D: {filters: 3, kernel_size: 3, name: conv}
  - BatchNormalization: {name: bn}
"""
    )
    assert fused(model) == []


def test_new_weights_are_folded_again(tmp_path) -> None:
    model = load(CONV_BN + "  - Flatten\n")
    randomise(model, 12)
    x = np.random.default_rng(13).standard_normal((2, 9, 8, 3))
    first = model.predict(x)
    other = load(CONV_BN + "  - Flatten\n")
    randomise(other, 14)
    other.save_weights(tmp_path / "w.npz")
    model.load_weights(tmp_path / "w.npz")
    second = model.predict(x)
    assert not np.allclose(first, second)
    np.testing.assert_allclose(second, layer_by_layer(other, x), rtol=1e-12, atol=1e-12)


def test_memory_estimate_keeps_the_convolution_scratch() -> None:
    # The fused step's scratch is the convolution's (its patch matrix), not the norm's.
    plain = load("  - Conv2D: {filters: 5, kernel_size: 3, padding: same}\n")
    folded = load(CONV_BN)
    assert folded.plan.work_bytes_per_sample >= plain.plan.work_bytes_per_sample


def test_weights_are_folded_once_for_many_chunks(monkeypatch) -> None:
    from builder.layers.normalization import BatchNormalization

    calls = []
    affine = BatchNormalization.affine

    def counting(self, params):
        calls.append(1)
        return affine(self, params)

    monkeypatch.setattr(BatchNormalization, "affine", counting)
    model = load(CONV_BN + "  - Flatten\n")
    randomise(model, 15)
    x = np.random.default_rng(16).standard_normal((10, 9, 8, 3))
    y = model.predict(x, batch_size=2)  # five chunks
    assert len(calls) == 1
    np.testing.assert_allclose(y, layer_by_layer(model, x), rtol=1e-12, atol=1e-12)
