"""Tests for builder.graph and the graph forward pass: `inputs:`, compilation errors with
their positions, unused-output warnings, bounded live activations, and the summary of a
graph model.

The residual network's reference output is computed here by hand from the model's weights
with a naive loop convolution, so it checks the engine against an independent
implementation rather than against itself.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from builder.config import parse
from builder.errors import ConfigError, Problem
from builder.model import Model

ROOT = Path(__file__).resolve().parent.parent
EPSILON = 0.001  # BatchNormalization's default


def build(text: str) -> Model:
    return Model.from_spec(parse(textwrap.dedent(text)))


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        build(text)
    return info.value.problems


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------- NumPy reference


def conv2d_naive(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, strides: int = 1, padding: str = "valid"
) -> np.ndarray:
    """Keras Conv2D by explicit loops; `same` pads as TensorFlow (the extra cell at the end)."""
    n, height, width, channels = x.shape
    kh, kw, _, filters = kernel.shape
    if padding == "same":
        out_h, out_w = math.ceil(height / strides), math.ceil(width / strides)
        pad_h = max((out_h - 1) * strides + kh - height, 0)
        pad_w = max((out_w - 1) * strides + kw - width, 0)
        top, left = pad_h // 2, pad_w // 2
        x = np.pad(x, ((0, 0), (top, pad_h - top), (left, pad_w - left), (0, 0)))
    else:
        out_h, out_w = (height - kh) // strides + 1, (width - kw) // strides + 1
    out = np.zeros((n, out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    for c in range(channels):
                        for f in range(filters):
                            pixel = x[:, i * strides + a, j * strides + b, c]
                            out[:, i, j, f] += pixel * kernel[a, b, c, f]
    return out + bias


def batch_norm(x: np.ndarray, w: dict[str, np.ndarray], layer: str) -> np.ndarray:
    mean, var = w[f"{layer}/moving_mean"], w[f"{layer}/moving_variance"]
    return w[f"{layer}/gamma"] * (x - mean) / np.sqrt(var + EPSILON) + w[f"{layer}/beta"]


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- residual network

RESIDUAL = """\
input_shape: [6, 6, 2]
dtype: float64
layers:
  - Conv2D: {filters: 3, kernel_size: 3, padding: same}                 # conv2d
  - BatchNormalization                                                   # batch_normalization
  - relu                                                                 # activation
  - Conv2D: {filters: 3, kernel_size: 3, strides: 2, padding: same}     # conv2d_1
  - BatchNormalization                                                   # batch_normalization_1
  - Conv2D: {filters: 3, kernel_size: 1, strides: 2, inputs: [input]}   # conv2d_2: projection
  - Add: {inputs: [batch_normalization_1, conv2d_2]}                     # add
  - relu                                                                 # activation_1
  - Conv2D: {filters: 3, kernel_size: 3, padding: same}                 # conv2d_3
  - Add: {inputs: [conv2d_3, activation_1]}                              # add_1: identity
  - GlobalAveragePooling2D
  - Dense: {units: 4, activation: softmax}
"""


def randomize_weights(model: Model, directory: Path) -> None:
    """Load random weights (positive variances) so that no layer is an identity."""
    rng = np.random.default_rng(7)
    arrays = {
        key: rng.uniform(0.5, 2.0, size=array.shape)
        if key.endswith("moving_variance")
        else rng.normal(size=array.shape)
        for key, array in model.weights.items()
    }
    np.savez(directory / "weights.npz", **arrays)
    model.load_weights(directory / "weights.npz")


def residual_by_hand(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    h = conv2d_naive(x, w["conv2d/kernel"], w["conv2d/bias"], padding="same")
    h = relu(batch_norm(h, w, "batch_normalization"))
    h = conv2d_naive(h, w["conv2d_1/kernel"], w["conv2d_1/bias"], strides=2, padding="same")
    h = batch_norm(h, w, "batch_normalization_1")
    shortcut = conv2d_naive(x, w["conv2d_2/kernel"], w["conv2d_2/bias"], strides=2)
    block1 = relu(h + shortcut)
    block2 = conv2d_naive(block1, w["conv2d_3/kernel"], w["conv2d_3/bias"], padding="same") + block1
    pooled = block2.mean(axis=(1, 2))
    return softmax(pooled @ w["dense/kernel"] + w["dense/bias"])


def test_residual_network_equals_the_computation_by_hand(tmp_path: Path) -> None:
    model = build(RESIDUAL)
    randomize_weights(model, tmp_path)
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 2))
    expected = residual_by_hand(x, model.weights)
    assert model.output_shape == (4,)
    np.testing.assert_allclose(model(x), expected, rtol=1e-9, atol=1e-12)


def test_residual_network_shapes_and_inputs() -> None:
    model = build(RESIDUAL)
    nodes = {node.name: node for node in model.nodes}
    assert nodes["conv2d_1"].output_shape == (3, 3, 3)
    assert nodes["conv2d_2"].inputs == ("input",)
    assert nodes["conv2d_2"].output_shape == (3, 3, 3)
    assert nodes["add"].inputs == ("batch_normalization_1", "conv2d_2")
    assert nodes["add"].input_shape == ((3, 3, 3), (3, 3, 3))
    assert nodes["add_1"].inputs == ("conv2d_3", "activation_1")
    assert nodes["batch_normalization_1"].inputs == ("conv2d_1",)  # default: the previous layer
    assert not model.graph.is_sequential
    assert model.graph.warnings == ()


def test_residual_network_float32_is_close_to_float64(tmp_path: Path) -> None:
    model = build(RESIDUAL)
    randomize_weights(model, tmp_path)
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 2))
    expected = residual_by_hand(x, model.weights)
    single = build(RESIDUAL.replace("float64", "float32"))
    single.load_weights(tmp_path / "weights.npz")
    y = single(x.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-6)


def test_forward_does_not_modify_the_callers_input() -> None:
    model = build(RESIDUAL)
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 2))
    before = x.copy()
    model(x)
    model.forward(x)
    np.testing.assert_array_equal(x, before)


# --------------------------------------------------------------------------- compilation errors


def test_unknown_input_suggests_a_close_name() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, name: conv_a}
          - relu
          - Add: {inputs: [conv_a, activaton]}
        """
    )
    assert (problem.line, problem.col) == (5, 28)  # the misspelt name in the list
    assert str(problem) == (
        "<string>:5:28: layers[2] (Add) inputs: unknown layer 'activaton'; did you mean 'activation'?"
    )


def test_unknown_input_without_a_close_name() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3}
          - Add: {inputs: [conv2d, zzz_unrelated]}
        """
    )
    assert (problem.line, problem.col) == (4, 28)
    assert problem.message == "unknown layer 'zzz_unrelated'"


def test_reference_to_a_later_layer() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, inputs: [input]}
          - Add:
              inputs: [conv2d, activation]
          - relu
        """
    )
    assert (problem.line, problem.col) == (5, 24)
    assert problem.where == "layers[1] (Add) inputs"
    assert problem.message.startswith("'activation' is defined later (layers[2])")


def test_a_layer_reading_itself_is_a_cycle() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3}
          - Add: {name: total, inputs: [conv2d, total]}
        """
    )
    assert (problem.line, problem.col) == (4, 41)
    assert problem.message == "'total' cannot read its own output (a cycle)"


def test_add_with_one_input() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3}
          - Add: {inputs: [conv2d]}
        """
    )
    assert (problem.line, problem.col) == (4, 19)  # the inputs list
    assert (
        str(problem) == "<string>:4:19: layers[1] (Add) inputs: Add needs at least 2 inputs, got 1"
    )


def test_merge_without_inputs_reads_only_the_previous_layer() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3}
          - Add
        """
    )
    assert (problem.line, problem.col) == (4, 5)  # no inputs list: the layer entry
    assert problem.message == "Add needs at least 2 inputs, got 1"


def test_subtract_with_three_inputs() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - relu
          - Subtract: {inputs: [input, activation, input]}
        """
    )
    assert (problem.line, problem.col) == (4, 24)
    assert problem.where == "layers[1] (Subtract) inputs"
    assert "exactly 2" in problem.message and "got 3" in problem.message


def test_elementwise_shape_mismatch_names_both_shapes() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, padding: same}
          - Add: {inputs: [input, conv2d]}
        """
    )
    assert (problem.line, problem.col) == (4, 5)
    assert str(problem) == (
        "<string>:4:5: layers[1] (Add): inputs of shapes (None, 8, 8, 3) and (None, 8, 8, 4) "
        "cannot be combined element-wise"
    )


def test_concatenate_mismatch_names_the_shapes() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - MaxPooling2D: {pool_size: 2}
          - Concatenate: {axis: 1, inputs: [input, max_pooling2d]}
        """
    )
    assert (problem.line, problem.col) == (4, 5)
    assert problem.where == "layers[1] (Concatenate)"
    assert "(None, 8, 8, 3)" in problem.message and "(None, 4, 4, 3)" in problem.message
    assert "axis 1" in problem.message


def test_concatenate_rank_mismatch() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Flatten
          - Concatenate: {inputs: [input, flatten]}
        """
    )
    assert (problem.line, problem.col) == (4, 5)
    assert "same rank" in problem.message
    assert "(None, 8, 8, 3)" in problem.message and "(None, 192)" in problem.message


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        (4, "axis=4 is out of range for a 3-D input"),
        (0, "axis=0 is the batch axis; choose a per-sample axis"),
    ],
)
def test_concatenate_axis_must_be_a_per_sample_axis(axis: int, message: str) -> None:
    problem = only_problem(
        f"""\
        input_shape: [8, 8, 3]
        layers:
          - relu
          - Concatenate: {{axis: {axis}, inputs: [input, activation]}}
        """
    )
    assert (problem.line, problem.col) == (4, 25)  # the axis value
    assert problem.where == "layers[1] (Concatenate) axis"
    assert problem.message == message


def test_a_single_input_layer_given_two_inputs() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - relu
          - Conv2D: {filters: 2, kernel_size: 1, inputs: [input, activation]}
        """
    )
    assert (problem.line, problem.col) == (4, 50)
    assert "got 2" in problem.message


def test_reshape_size_mismatch() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Reshape: {target_shape: [8, 8, 4]}
        """
    )
    assert (problem.line, problem.col) == (3, 29)  # the target_shape value
    assert problem.where == "layers[0] (Reshape) target_shape"
    assert "192" in problem.message and "256" in problem.message


def test_reshape_with_minus_one_that_does_not_divide() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Reshape:
              target_shape: [-1, 5]
        """
    )
    assert (problem.line, problem.col) == (4, 21)
    assert "192 is not divisible by 5" in problem.message


def test_conv_after_flatten_is_a_rank_error() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Flatten
          - Conv2D: {filters: 4, kernel_size: 3}
        """
    )
    assert str(problem) == (
        "<string>:4:5: layers[1] (Conv2D): Conv2D needs a 3-D input per sample, got shape (None, 192)"
    )


def test_zero_padding_of_a_flat_input_is_a_rank_error() -> None:
    problem = only_problem(
        """\
        input_shape: [12]
        layers:
          - ZeroPadding2D: {padding: 1}
        """
    )
    assert str(problem) == (
        "<string>:3:5: layers[0] (ZeroPadding2D): ZeroPadding2D needs a 3-D input per sample, "
        "got shape (None, 12)"
    )


def test_kernel_larger_than_the_input() -> None:
    problem = only_problem(
        """\
        input_shape: [8, 8, 3]
        layers:
          - MaxPooling2D: {pool_size: 4}
          - Conv2D: {filters: 4, kernel_size: 3}
        """
    )
    assert (problem.line, problem.col) == (4, 39)  # the kernel_size value
    assert problem.where == "layers[1] (Conv2D) kernel_size"
    assert "3" in problem.message and "2" in problem.message


def test_every_problem_is_reported_once_without_cascades() -> None:
    """Both root causes are reported; the layers fed by the failed one are not."""
    problems = problems_of(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Flatten
          - Conv2D: {filters: 4, kernel_size: 3}
          - Conv2D: {filters: 4, kernel_size: 3}
          - Add: {inputs: [conv2d, nothing]}
        """
    )
    assert [(p.line, p.col) for p in problems] == [(4, 5), (6, 28)]
    assert "3-D input" in problems[0].message
    assert problems[1].message == "unknown layer 'nothing'"


def test_errors_in_a_file_carry_its_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "input_shape: [8, 8, 3]\nlayers:\n  - Add: {inputs: [input, nope]}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        Model.from_spec(parse(path))
    assert str(info.value) == f"{path}:3:27: layers[0] (Add) inputs: unknown layer 'nope'"


# --------------------------------------------------------------------------- warnings


def test_unused_output_is_a_warning_at_its_layer() -> None:
    model = build(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, padding: same}
          - Conv2D: {filters: 4, kernel_size: 1, name: forgotten}
          - Add: {inputs: [input, input]}
        """
    )
    (warning,) = model.graph.warnings
    assert (warning.line, warning.col) == (4, 5)
    assert warning.where == "layers[1] (Conv2D)"
    assert "'forgotten'" in warning.message and "never used" in warning.message
    # conv2d feeds `forgotten`, so only `forgotten` is unused; the model still runs.
    assert model(np.zeros((1, 8, 8, 3), dtype=np.float32)).shape == (1, 8, 8, 3)


def test_a_sequential_model_has_no_warnings() -> None:
    model = build(
        """\
        input_shape: [8, 8, 3]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3}
          - Flatten
          - Dense: {units: 2}
        """
    )
    assert model.graph.warnings == ()
    assert model.graph.is_sequential


# --------------------------------------------------------------------------- live activations


def deep_residual_yaml(blocks: int) -> str:
    lines = [
        "input_shape: [4, 4, 2]",
        "layers:",
        "  - Conv2D: {filters: 2, kernel_size: 1, name: stem}",
    ]
    previous = "stem"
    for k in range(blocks):
        lines += [
            f"  - Conv2D: {{filters: 2, kernel_size: 3, padding: same, activation: relu, name: b{k}_conv1}}",
            f"  - Conv2D: {{filters: 2, kernel_size: 3, padding: same, name: b{k}_conv2}}",
            f"  - Add: {{inputs: [b{k}_conv2, {previous}], name: b{k}_add}}",
            f"  - ReLU: {{name: b{k}_out}}",
        ]
        previous = f"b{k}_out"
    lines.append("  - GlobalAveragePooling2D")
    return "\n".join(lines) + "\n"


def test_deep_residual_network_keeps_few_activations_alive() -> None:
    model = build(deep_residual_yaml(20))
    assert len(model.nodes) == 1 + 20 * 4 + 1
    counts: list[int] = []
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 2)).astype(np.float32)
    y = model.forward(x, observe=counts.append)
    assert len(counts) == len(model.nodes)
    # Two are needed: a block's input (for the shortcut) and the newest activation. Allow
    # one more, but never a number that grows with depth: all 20 blocks look the same.
    assert max(counts) <= 3
    blocks = [counts[1 + 4 * k : 5 + 4 * k] for k in range(20)]
    assert all(block == blocks[0] for block in blocks)
    assert counts[-1] == 1  # only the output remains
    np.testing.assert_allclose(y, model(x), rtol=1e-6)


# --------------------------------------------------------------------------- summary


def test_summary_of_a_graph_model_has_connected_to() -> None:
    model = build(RESIDUAL)
    text = str(model.summary())
    header = next(line for line in text.splitlines() if "Layer (type)" in line)
    assert header.rstrip().endswith("Connected to")
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith(" ")}
    assert rows["input"].rstrip().endswith("-")
    assert rows["conv2d_2"].rstrip().endswith("input")
    assert rows["add"].rstrip().endswith("batch_normalization_1, conv2d_2")
    assert rows["add_1"].rstrip().endswith("conv2d_3, activation_1")


def test_summary_json_lists_inputs_per_layer() -> None:
    model = build(RESIDUAL)
    layers = json.loads(model.summary().to_json())["layers"]
    assert {layer["name"]: layer["inputs"] for layer in layers} == {
        "conv2d": ["input"],
        "batch_normalization": ["conv2d"],
        "activation": ["batch_normalization"],
        "conv2d_1": ["activation"],
        "batch_normalization_1": ["conv2d_1"],
        "conv2d_2": ["input"],
        "add": ["batch_normalization_1", "conv2d_2"],
        "activation_1": ["add"],
        "conv2d_3": ["activation_1"],
        "add_1": ["conv2d_3", "activation_1"],
        "global_average_pooling2d": ["add_1"],
        "dense": ["global_average_pooling2d"],
    }


# --------------------------------------------------------------------------- example configs


@pytest.mark.parametrize("name", ["resnet_small", "inception_block", "unet_encoder"])
def test_example_graph_configs_compile_and_run(name: str) -> None:
    path = ROOT / "configs" / f"{name}.yaml"
    assert path.read_text(encoding="utf-8").startswith(
        "# yaml-language-server: $schema=../schemas/model.schema.json\n"
    )
    model = Model.from_spec(parse(path))
    assert model.graph.warnings == ()
    assert not model.graph.is_sequential
    assert "Connected to" in str(model.summary())
    x = np.random.default_rng(4).normal(size=(2, *model.input_shape)).astype(np.float32)
    y = model(x)
    assert y.shape == (2, *model.output_shape)
    assert np.isfinite(y).all()


def test_resnet_small_has_projection_shortcuts() -> None:
    model = Model.from_spec(parse(ROOT / "configs" / "resnet_small.yaml"))
    nodes = {node.name: node for node in model.nodes}
    adds = [node for node in model.nodes if node.layer.type_name == "Add"]
    assert len(adds) >= 3
    projections = [
        node
        for node in model.nodes
        if node.layer.type_name == "Conv2D"
        and node.layer.spec.kernel_size == (1, 1)
        and node.layer.spec.strides == (2, 2)
    ]
    assert projections
    assert model.output_shape == (10,)
    assert nodes["predictions"].layer.activation_label() == "softmax"


def test_inception_block_concatenates_four_branches() -> None:
    model = Model.from_spec(parse(ROOT / "configs" / "inception_block.yaml"))
    (mixed,) = [node for node in model.nodes if node.layer.type_name == "Concatenate"]
    assert len(mixed.inputs) == 4
    assert mixed.output_shape[-1] == sum(shape[-1] for shape in mixed.input_shape)
