"""Max pooling run before a ReLU-like activation must give the same bits as the written order.

The oracle is the plain layer-by-layer evaluation of the same compiled layers, with the
weights the model uses: `node.layer(x, weights)` in order, no reordering.
"""

from __future__ import annotations

import numpy as np
import pytest

import builder

ACTIVATIONS = [
    "relu",
    "relu6",
    "leaky_relu",
    "{LeakyReLU: {alpha: 0.05}}",
    "{ReLU: {max_value: 0.5, threshold: 1.0, negative_slope: 0.2}}",
    "{ThresholdedReLU: {theta: 0.3}}",
]


def layer_by_layer(model: builder.model.Model, x: np.ndarray) -> np.ndarray:
    weights = {node.name: {} for node in model.nodes}
    for key, array in model.weights.items():
        layer, _, name = key.partition("/")
        weights[layer][name] = array
    for node in model.nodes:
        x = node.layer(x, weights[node.name])
    return x


def config(activation: str, inline: bool, padding: str) -> str:
    conv = f"Conv2D: {{filters: 4, kernel_size: 3, padding: same, activation: {activation}}}"
    if not inline:
        conv = "Conv2D: {filters: 4, kernel_size: 3, padding: same}\n  - " + (
            f"Activation: {{activation: {activation}}}"
            if not activation.startswith("{")
            else activation[1:-1]
        )
    return f"""
input_shape: [9, 8, 2]
dtype: float64
layers:
  - {conv}
  - MaxPooling2D: {{pool_size: 3, strides: 2, padding: {padding}}}
  - Flatten
"""


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("inline", [True, False])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_first_gives_identical_bits(activation: str, inline: bool, padding: str) -> None:
    model = builder.load(config(activation, inline, padding))
    assert model._pool_first, "the plan should pool before this activation"
    x = np.random.default_rng(0).normal(scale=2.0, size=(5, 9, 8, 2))
    assert np.array_equal(model(x), layer_by_layer(model, x))


@pytest.mark.parametrize(
    "activation", ["elu", "gelu", "sigmoid", "{PReLU: {}}", "{ELU: {alpha: 0.5}}"]
)
def test_other_activations_keep_their_order(activation: str) -> None:
    model = builder.load(config(activation, inline=True, padding="valid"))
    assert not model._pool_first


def test_an_activation_read_twice_is_not_moved() -> None:
    model = builder.load(
        """
input_shape: [6, 6, 1]
layers:
  - Conv2D: {filters: 2, kernel_size: 3, padding: same, name: conv}
  - ReLU: {name: act}
  - MaxPooling2D: {pool_size: 2, name: pool}
  - Flatten: {name: flat_pool}
  - Flatten: {inputs: [act], name: flat_act}
  - Concatenate: {inputs: [flat_pool, flat_act]}
"""
    )
    assert not model._pool_first
