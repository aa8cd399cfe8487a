"""Tests for the merge layers (Add ... Concatenate), ZeroPadding2D and Reshape.

Every model is built from YAML text with `inputs:`, so parsing, graph compilation and the
forward pass are all exercised. Expected values are written here in plain NumPy
(`np.add`, `np.concatenate`, `np.pad`, `np.reshape`), never computed by the code under
test. Models run in float64 so that the comparisons can be tight.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from functools import reduce

import numpy as np
import pytest

from builder.config import parse
from builder.model import Model

RTOL = 1e-12


def build(text: str) -> Model:
    return Model.from_spec(parse(textwrap.dedent(text)))


def sample(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- element-wise merges

MERGES: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {
    "Add": lambda xs: reduce(np.add, xs),
    "Subtract": lambda xs: xs[0] - xs[1],
    "Multiply": lambda xs: reduce(np.multiply, xs),
    "Average": lambda xs: reduce(np.add, xs) / len(xs),
    "Maximum": lambda xs: reduce(np.maximum, xs),
    "Minimum": lambda xs: reduce(np.minimum, xs),
}

# The branches a merge reads: the model input itself, tanh of it and sigmoid of it.
BRANCHES = """\
input_shape: [4, 3]
dtype: float64
layers:
  - Activation: {activation: tanh, name: t, inputs: [input]}
  - Activation: {activation: sigmoid, name: s, inputs: [input]}
"""


def branch_values(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"input": x, "t": np.tanh(x), "s": sigmoid(x)}


# Subtract takes exactly two inputs (its error with three is tested in test_graph.py).
MERGE_CASES = [
    (merge, inputs)
    for merge in sorted(MERGES)
    for inputs in (["input", "t"], ["t", "input"], ["input", "t", "s"])
    if merge != "Subtract" or len(inputs) == 2
]


@pytest.mark.parametrize(("merge", "inputs"), MERGE_CASES)
def test_elementwise_merge_matches_numpy(merge: str, inputs: list[str]) -> None:
    model = build(BRANCHES + f"  - {merge}: {{inputs: [{', '.join(inputs)}]}}\n")
    x = sample(5, 4, 3)
    values = branch_values(x)
    expected = MERGES[merge]([values[name] for name in inputs])
    assert model.output_shape == (4, 3)
    np.testing.assert_allclose(model(x), expected, rtol=RTOL)


def test_average_of_three_is_the_mean() -> None:
    model = build(BRANCHES + "  - Average: {inputs: [input, t, s]}\n")
    x = sample(2, 4, 3)
    expected = (x + np.tanh(x) + sigmoid(x)) / 3
    np.testing.assert_allclose(model(x), expected, rtol=RTOL)


# Broadcasting: a flat input of 12 values gives a (4, 3) branch by Reshape and a second
# branch by Dense, whose weights the test reads back to compute the reference.
BROADCAST = """\
input_shape: [12]
dtype: float64
layers:
  - Reshape: {target_shape: [4, 3], name: grid, inputs: [input]}
  - Dense: {units: %(units)d, bias_initializer: random_normal, name: small, inputs: [input]}
%(extra)s  - %(merge)s: {inputs: [grid, %(other)s]}
"""


def dense_branch(model: Model, x: np.ndarray) -> np.ndarray:
    return x @ model.weights["small/kernel"] + model.weights["small/bias"]


@pytest.mark.parametrize("merge", sorted(MERGES))
def test_lower_rank_input_broadcasts_as_keras(merge: str) -> None:
    """Per-sample shapes (4, 3) and (3,) → (4, 3): Keras expands the lower-rank input at
    axis 1 (right after the batch axis), so the (3,) vector is added to every row."""
    model = build(BROADCAST % {"units": 3, "extra": "", "merge": merge, "other": "small"})
    x = sample(5, 12)
    grid = x.reshape(5, 4, 3)
    vector = dense_branch(model, x)[:, np.newaxis, :]  # Keras: ops.expand_dims(x, 1)
    assert model.output_shape == (4, 3)
    expected = MERGES[merge]([grid, np.broadcast_to(vector, grid.shape)])
    np.testing.assert_allclose(model(x), expected, rtol=RTOL)


@pytest.mark.parametrize("merge", sorted(MERGES))
@pytest.mark.parametrize("size_one", [[4, 1], [1, 3]])
def test_size_one_axis_stretches(merge: str, size_one: list[int]) -> None:
    units = size_one[0] * size_one[1]
    reshape = f"  - Reshape: {{target_shape: {size_one}, name: column}}\n"
    model = build(BROADCAST % {"units": units, "extra": reshape, "merge": merge, "other": "column"})
    x = sample(5, 12)
    grid = x.reshape(5, 4, 3)
    column = dense_branch(model, x).reshape(5, *size_one)
    assert model.output_shape == (4, 3)
    np.testing.assert_allclose(
        model(x), MERGES[merge]([grid, np.broadcast_to(column, grid.shape)]), rtol=RTOL
    )


def test_broadcast_is_symmetric_in_input_order() -> None:
    """The smaller input may come first: Subtract(column, grid) = column − grid."""
    text = BROADCAST % {"units": 3, "extra": "", "merge": "Subtract", "other": "small"}
    model = build(text.replace("inputs: [grid, small]", "inputs: [small, grid]"))
    x = sample(3, 12)
    expected = dense_branch(model, x)[:, np.newaxis, :] - x.reshape(3, 4, 3)
    np.testing.assert_allclose(model(x), expected, rtol=RTOL)


def test_merge_reads_the_same_layer_twice() -> None:
    model = build(BRANCHES + "  - Multiply: {inputs: [t, t]}\n")
    x = sample(2, 4, 3)
    np.testing.assert_allclose(model(x), np.tanh(x) ** 2, rtol=RTOL)


def test_merge_does_not_modify_the_callers_input() -> None:
    model = build(BRANCHES + "  - Add: {inputs: [input, input, t]}\n")
    x = sample(2, 4, 3)
    before = x.copy()
    np.testing.assert_allclose(model(x), 2 * before + np.tanh(before), rtol=RTOL)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("relu_first", [True, False])
def test_views_of_a_shared_activation_are_not_overwritten(relu_first: bool) -> None:
    """Reshape returns a view; a layer allowed to work in place must not write through it
    into memory another live branch still reads."""
    relu = "  - ReLU: {name: rr, inputs: [r1]}\n"
    exp = "  - Activation: {activation: exponential, name: e, inputs: [r2]}\n"
    model = build(
        "input_shape: [4, 3]\n"
        "dtype: float64\n"
        "layers:\n"
        "  - Activation: {activation: tanh, name: a}\n"
        "  - Reshape: {target_shape: [12], name: r1}\n"
        "  - Reshape: {target_shape: [12], name: r2, inputs: [a]}\n"
        + (relu + exp if relu_first else exp + relu)
        + "  - Add: {inputs: [rr, e, r1]}\n"
    )
    x = sample(2, 4, 3)
    a = np.tanh(x).reshape(2, 12)
    np.testing.assert_allclose(model(x), np.maximum(a, 0) + np.exp(a) + a, rtol=RTOL)


def test_merge_keeps_float32() -> None:
    model = build(BRANCHES.replace("float64", "float32") + "  - Average: {inputs: [input, t]}\n")
    x = sample(2, 4, 3).astype(np.float32)
    y = model(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, (x + np.tanh(x)) / 2, rtol=1e-6)


# --------------------------------------------------------------------------- Concatenate

# From a (4, 6, 8) input: 2x2 max pooling gives (2, 3, 8); pooling over one axis only
# gives (2, 6, 8) or (4, 3, 8); a reshape of the pooled map gives (4, 6, 2).
CONCAT = """\
input_shape: [4, 6, 8]
dtype: float64
layers:
  - MaxPooling2D: {pool_size: [2, 1], name: half_rows, inputs: [input]}
  - MaxPooling2D: {pool_size: [1, 2], name: half_cols, inputs: [input]}
  - MaxPooling2D: {pool_size: 2, name: pooled, inputs: [input]}
  - Reshape: {target_shape: [4, 6, 2], name: few_channels}
  - Activation: {activation: tanh, name: t, inputs: [input]}
  - Concatenate: {axis: %(axis)d, inputs: [%(inputs)s]}
"""


def concat_branches(x: np.ndarray) -> dict[str, np.ndarray]:
    n = x.shape[0]
    pooled = x.reshape(n, 2, 2, 3, 2, 8).max(axis=(2, 4))
    return {
        "input": x,
        "half_rows": x.reshape(n, 2, 2, 6, 8).max(axis=2),
        "half_cols": x.reshape(n, 4, 3, 2, 8).max(axis=3),
        "few_channels": pooled.reshape(n, 4, 6, 2),
        "t": np.tanh(x),
    }


@pytest.mark.parametrize(
    ("axis", "inputs", "shape"),
    [
        (-1, ["input", "few_channels"], (4, 6, 10)),
        (3, ["few_channels", "input", "t"], (4, 6, 18)),
        (1, ["input", "half_rows"], (6, 6, 8)),
        (1, ["half_rows", "t", "half_rows"], (8, 6, 8)),
        (2, ["half_cols", "input"], (4, 9, 8)),
        (-2, ["input", "half_cols"], (4, 9, 8)),
        (-3, ["t", "half_rows"], (6, 6, 8)),
    ],
)
def test_concatenate_matches_numpy(axis: int, inputs: list[str], shape: tuple[int, ...]) -> None:
    model = build(CONCAT % {"axis": axis, "inputs": ", ".join(inputs)})
    x = sample(3, 4, 6, 8)
    values = concat_branches(x)
    # The YAML axis counts the batch axis, as in Keras; NumPy sees the batched arrays too.
    expected = np.concatenate([values[name] for name in inputs], axis=axis)
    assert model.output_shape == shape
    assert model(x).shape == (3, *shape)
    np.testing.assert_array_equal(model(x), expected)


def test_concatenate_default_axis_is_last() -> None:
    text = CONCAT % {"axis": -1, "inputs": "input, few_channels"}
    model = build(text.replace("{axis: -1, ", "{"))
    x = sample(2, 4, 6, 8)
    expected = np.concatenate([x, concat_branches(x)["few_channels"]], axis=-1)
    np.testing.assert_array_equal(model(x), expected)


def test_concatenate_of_vectors() -> None:
    model = build(
        """\
        input_shape: [5]
        dtype: float64
        layers:
          - Activation: {activation: tanh, name: t}
          - Concatenate: {inputs: [input, t, input]}
        """
    )
    x = sample(3, 5)
    assert model.output_shape == (15,)
    np.testing.assert_array_equal(model(x), np.concatenate([x, np.tanh(x), x], axis=1))


# --------------------------------------------------------------------------- ZeroPadding2D


@pytest.mark.parametrize(
    ("padding", "pads"),
    [
        ("1", ((1, 1), (1, 1))),  # the Keras default
        ("2", ((2, 2), (2, 2))),
        ("[1, 3]", ((1, 1), (3, 3))),  # (symmetric height padding, symmetric width padding)
        ("[[1, 2], [3, 0]]", ((1, 2), (3, 0))),  # ((top, bottom), (left, right))
        ("[[0, 0], [0, 4]]", ((0, 0), (0, 4))),
    ],
)
def test_zero_padding_matches_np_pad(
    padding: str, pads: tuple[tuple[int, int], tuple[int, int]]
) -> None:
    text = "{}" if padding == "1" else f"{{padding: {padding}}}"
    model = build(
        f"""\
        input_shape: [3, 4, 2]
        dtype: float64
        layers:
          - ZeroPadding2D: {text}
        """
    )
    (top, bottom), (left, right) = pads
    assert model.output_shape == (3 + top + bottom, 4 + left + right, 2)
    x = sample(2, 3, 4, 2)
    expected = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    np.testing.assert_array_equal(model(x), expected)


def test_zero_padding_inside_a_graph_feeds_a_merge() -> None:
    """Pad a pooled map back to the input's size and add it to the input."""
    model = build(
        """\
        input_shape: [4, 4, 1]
        dtype: float64
        layers:
          - MaxPooling2D: {pool_size: 2, name: pooled}
          - ZeroPadding2D: {padding: [[0, 2], [2, 0]], name: padded}
          - Add: {inputs: [input, padded]}
        """
    )
    x = sample(2, 4, 4, 1)
    pooled = x.reshape(2, 2, 2, 2, 2, 1).max(axis=(2, 4))
    expected = x + np.pad(pooled, ((0, 0), (0, 2), (2, 0), (0, 0)))
    np.testing.assert_array_equal(model(x), expected)


# --------------------------------------------------------------------------- Reshape


@pytest.mark.parametrize(
    ("target", "shape"),
    [
        ([24], (24,)),
        ([6, 4], (6, 4)),
        ([2, 3, 4], (2, 3, 4)),
        ([-1], (24,)),
        ([-1, 3], (8, 3)),
        ([2, -1, 4], (2, 3, 4)),
        ([4, 3, 2, -1], (4, 3, 2, 1)),
    ],
)
def test_reshape_matches_np_reshape(target: list[int], shape: tuple[int, ...]) -> None:
    model = build(
        f"""\
        input_shape: [4, 3, 2]
        dtype: float64
        layers:
          - Reshape: {{target_shape: {target}}}
        """
    )
    assert model.output_shape == shape
    x = sample(3, 4, 3, 2)
    np.testing.assert_array_equal(model(x), np.reshape(x, (3, *shape)))


def test_reshape_round_trip_keeps_row_major_order() -> None:
    """A flat vector reshaped to an image is laid out row-major, as np.reshape does."""
    model = build(
        """\
        input_shape: [12]
        dtype: float64
        layers:
          - Reshape: {target_shape: [2, 3, 2]}
          - ZeroPadding2D: {padding: [[1, 0], [0, 1]]}
          - Reshape: {target_shape: [-1]}
        """
    )
    x = sample(2, 12)
    image = np.pad(x.reshape(2, 2, 3, 2), ((0, 0), (1, 0), (0, 1), (0, 0)))
    assert model.output_shape == (24,)
    np.testing.assert_array_equal(model(x), image.reshape(2, 24))
