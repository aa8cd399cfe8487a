"""The execution plan: max pooling run before a ReLU-like activation must give the same bits
as the written order, and only where that is exact.

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
    steps = model.plan.steps
    first = steps[0].node.name
    activation_owner = first if inline else model.nodes[1].name
    assert [step.then for step in steps] == [None, activation_owner, None], "pool, then f"
    if inline:  # the conv computes its linear part only
        assert [step.linear_only for step in steps] == [True, False, False]
    else:  # the activation layer has no step of its own; the pooling reads the conv
        assert [step.node.name for step in steps] == [first, "max_pooling2d", "flatten"]
        assert steps[1].inputs == ("conv2d",)
    x = np.random.default_rng(0).normal(scale=2.0, size=(5, 9, 8, 2))
    assert np.array_equal(model(x), layer_by_layer(model, x))


@pytest.mark.parametrize(
    "activation", ["elu", "gelu", "sigmoid", "{PReLU: {}}", "{ELU: {alpha: 0.5}}"]
)
def test_other_activations_keep_their_order(activation: str) -> None:
    model = builder.load(config(activation, inline=True, padding="valid"))
    assert [step.then for step in model.plan.steps] == [None, None, None]
    assert not any(step.linear_only for step in model.plan.steps)


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
    assert [step.node.name for step in model.plan.steps] == [node.name for node in model.nodes]
    assert all(step.then is None for step in model.plan.steps)


def test_readers_count_each_array_once_per_step_that_reads_it() -> None:
    model = builder.load(
        """
input_shape: [6, 6, 1]
layers:
  - Conv2D: {filters: 2, kernel_size: 3, padding: same, name: conv}
  - Add: {inputs: [conv, conv], name: twice}
  - Conv2D: {filters: 2, kernel_size: 1, inputs: [input], name: side}
  - Add: {inputs: [twice, side]}
"""
    )
    # the model output `add` has one reader: the caller (so it is never freed or overwritten)
    assert model.plan.readers == {"input": 2, "conv": 2, "twice": 1, "side": 1, "add": 1}
