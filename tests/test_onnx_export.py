"""ONNX export: random configs (and, in test_onnx_examples/test_onnx_catalogue, every example
config and the catalogue layers) are valid ONNX (`onnx.checker`) and compute what the NumPy
engine computes, under onnxruntime and under the `onnx` package's
ReferenceEvaluator (a second, independent implementation of every op).

Tolerance (`assert_close`): 1e-5 relative at float32, 1e-12 at float64, with the output's
largest magnitude as the floor. onnxruntime 1.32 has no float64 kernel for Conv,
ConvTranspose, AveragePool, Resize and Erf; for a float64 model using one, the test checks that onnxruntime says
exactly that (NOT_IMPLEMENTED for an op in `ORT_LACKS_FLOAT64`), and the ReferenceEvaluator
gives the float64 check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml
from onnx_helpers import (
    assert_close,
    check_export,
    random_config,
    random_input,
    random_weights,
    run_onnxruntime,
    run_reference,
)

import builder
from builder.errors import (
    ConfigError,
    DataError,
    MissingExtraError,
    ResourceError,
)
from builder.layers.activation import NamedActivation
from builder.onnx_export import CONVERTERS, save_onnx, to_onnx
from builder.ops.names import ACTIVATION_NAMES
from builder.registry import LAYERS

ROOT = Path(__file__).resolve().parent.parent
RANDOM_SEEDS = range(120)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_configs_match_numpy_engine(seed: int, tmp_path: Path) -> None:
    _, model = random_config(seed, "float64" if seed % 3 == 2 else "float32")
    random_weights(model, seed, tmp_path)
    check_export(model, random_input(model, seed))


def test_random_configs_cover_every_layer_type_and_activation() -> None:
    """The generator above reaches every converter and every activation name."""
    types: set[str] = set()
    activations: set[str] = set()
    several = 0
    for seed in RANDOM_SEEDS:
        config, _ = random_config(seed)
        several += "outputs" in config and len(config["inputs"]) == 2
        for layer in config["layers"]:
            types.add(layer["type"])
            value = layer.get("activation")
            if isinstance(value, str):
                activations.add(value)
            elif isinstance(value, dict):  # an inline advanced activation
                types.add(value["type"])
    layer_types = {cls.__name__ for cls in CONVERTERS if cls is not NamedActivation}
    assert layer_types <= types
    assert set(ACTIVATION_NAMES) <= activations
    assert several >= 20  # two inputs and two outputs


def test_every_registered_layer_type_has_a_converter() -> None:
    classes = {entry.layer for entry in LAYERS.values()}
    assert classes <= set(CONVERTERS), classes - set(CONVERTERS)


def _dense_with(activation: Any, dtype: str) -> Any:
    return builder.load(
        yaml.safe_dump(
            {
                "input_shape": [3, 4],
                "dtype": dtype,
                "layers": [{"type": "Dense", "units": 6, "activation": activation}],
            }
        )
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_every_activation_name(name: str, dtype: str, tmp_path: Path) -> None:
    """Without Conv, onnxruntime runs float64 too, except Erf (gelu)."""
    model = _dense_with(name, dtype)
    random_weights(model, 3, tmp_path)
    x = random_input(model, 4, count=4) * 2
    result = check_export(model, x)
    if dtype == "float64":
        lacking = "Erf" if name == "gelu" else None
        assert (
            result["onnxruntime"] if isinstance(result["onnxruntime"], str) else None
        ) == lacking


ADVANCED_BLOCKS = [
    {"type": "ReLU", "max_value": 0.7, "negative_slope": 0.35, "threshold": 0.25},
    {"type": "ReLU", "max_value": 6.0},
    {"type": "ReLU", "threshold": 0.1},
    {"type": "LeakyReLU", "alpha": 0.05},
    {"type": "LeakyReLU", "alpha": 0.5},
    {"type": "ELU", "alpha": 0.7},
    {"type": "ThresholdedReLU", "theta": 0.3},
    {"type": "PReLU", "shared_axes": [1]},
    {"type": "PReLU"},
    {"type": "Softmax", "axis": 1},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("block", ADVANCED_BLOCKS, ids=lambda b: "-".join(map(str, b.values())))
def test_advanced_activations_at_both_dtypes(
    block: dict[str, Any], dtype: str, tmp_path: Path
) -> None:
    """Float constants that a 32-bit ONNX attribute would round are float64 initializers."""
    model = _dense_with(block, dtype)
    random_weights(model, 5, tmp_path)
    result = check_export(model, random_input(model, 6, count=4))
    assert not isinstance(result["onnxruntime"], str)  # these all run at float64 too


def test_keras_values_are_explicit() -> None:
    model = builder.load(
        yaml.safe_dump(
            {
                "input_shape": [6, 6, 2],
                "layers": [
                    {
                        "type": "Conv2D",
                        "filters": 2,
                        "kernel_size": 3,
                        "strides": 2,
                        "padding": "same",
                        "name": "c",
                    },
                    {"type": "LeakyReLU", "name": "leaky"},
                    {"type": "BatchNormalization", "name": "bn"},
                    {
                        "type": "AveragePooling2D",
                        "pool_size": 2,
                        "strides": 1,
                        "padding": "same",
                        "name": "avg",
                    },
                ],
            }
        )
    )
    nodes = {node.name: node for node in to_onnx(model).graph.node}
    attributes = {
        name: {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        for name, node in nodes.items()
    }
    # 6 cells, kernel 3, stride 2: total pad 1, on the end (TensorFlow), not the start.
    assert attributes["c"]["pads"] == [0, 0, 1, 1]
    assert attributes["leaky"]["alpha"] == pytest.approx(0.3)
    assert attributes["bn"]["epsilon"] == pytest.approx(0.001)
    assert attributes["avg"]["count_include_pad"] == 0
    assert attributes["avg"]["pads"] == [0, 0, 1, 1]


def test_names_layout_and_initializers() -> None:
    model = builder.load(ROOT / "configs" / "seed_cnn.yaml")
    proto = to_onnx(model)
    assert proto.opset_import[0].version >= 17
    names = {node.name for node in proto.graph.node}
    assert {node.name for node in model.nodes} <= names
    (graph_input,) = proto.graph.input
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == "input" and dims == ["N", 28, 28, 1]  # NHWC
    out_dims = [
        d.dim_value or d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim
    ]
    assert out_dims == ["N", 3, 3, 64]
    weights = {init.name: onnx.numpy_helper.to_array(init) for init in proto.graph.initializer}
    kernel = model.weights["conv2d/kernel"]  # (kh, kw, C, F) → (F, C, kh, kw)
    np.testing.assert_array_equal(weights["conv2d/kernel"], kernel.transpose(3, 2, 0, 1))
    # NCHW inside: one Transpose in, one out, none between the three convolutions.
    assert [node.op_type for node in proto.graph.node].count("Transpose") == 2


def test_save_onnx_writes_atomically(tmp_path: Path) -> None:
    model = builder.load(ROOT / "configs" / "seed_cnn.yaml")
    target = tmp_path / "model.onnx"
    save_onnx(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    loaded = onnx.load(str(target))
    x = random_input(model, 2)
    assert_close(run_reference(loaded, x), model(x), "saved")
    with pytest.raises(DataError, match="does not exist"):
        save_onnx(model, tmp_path / "missing" / "model.onnx")


def test_unsupported_layer_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from builder.layers.core import Flatten

    monkeypatch.delitem(CONVERTERS, Flatten)
    model = builder.load("input_shape: [2, 2, 1]\nlayers:\n  - Flatten\n  - Dense: {units: 3}\n")
    with pytest.raises(ConfigError, match=r"layers\[0\].*ONNX export does not support Flatten"):
        to_onnx(model)


def test_missing_onnx_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx → ImportError
    model = builder.load(ROOT / "configs" / "seed_cnn.yaml")
    with pytest.raises(MissingExtraError) as error:
        to_onnx(model)
    assert str(error.value) == (
        "ONNX export needs the 'onnx' extra: pip install \"yaml-model-builder[onnx]\""
    )


def test_inline_prelu_uses_host_weights(tmp_path: Path) -> None:
    model = builder.load(
        "input_shape: [4, 4, 2]\nlayers:\n"
        "  - Conv2D: {filters: 3, kernel_size: 3, activation: {PReLU: {shared_axes: [1, 2]}}}\n"
    )
    random_weights(model, 9, tmp_path)
    proto = check_export(model, random_input(model, 9))["proto"]
    assert "conv2d/alpha" in {init.name for init in proto.graph.initializer}


def test_cli_export(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from builder.cli import cli

    model = builder.load(ROOT / "configs" / "seed_cnn.yaml")
    random_weights(model, 11, tmp_path)
    target = tmp_path / "seed.onnx"
    result = CliRunner().invoke(
        cli,
        ["export", str(ROOT / "configs" / "seed_cnn.yaml"), "--weights"]
        + [str(tmp_path / "weights_11.npz"), "-o", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"{target}: ONNX opset 18, 8 layers, 55,744 parameters\n"
    x = random_input(model, 12)
    assert_close(run_onnxruntime(onnx.load(str(target)), x), model(x), "exported file")
    wrong = CliRunner().invoke(
        cli, ["export", str(ROOT / "configs" / "seed_cnn.yaml"), "-o", str(tmp_path / "m.tflite")]
    )
    assert wrong.exit_code == 1 and "writes .keras or .onnx files" in wrong.output
    assert not (tmp_path / "m.tflite").exists()


def test_weights_over_two_gib_are_refused_before_allocating() -> None:
    # 2^15 · 2^15 float32 kernel = 4 GiB: refused from the parameter count alone.
    model = builder.load("input_shape: [32768]\nlayers:\n  - Dense: {units: 32768}\n")
    with pytest.raises(ResourceError, match="over the 2 GiB that one ONNX file can hold"):
        to_onnx(model)


def test_outputs_are_named_after_their_layers(tmp_path: Path) -> None:
    """An output whose last node is an activation or a Transpose back to NHWC still carries
    the layer's name; the tensor that had it is renamed, node names stay; an output layer
    may also feed later layers."""
    model = builder.load(
        "inputs: {pixels: [5, 5, 2]}\noutputs: [conv, leaky]\nlayers:\n"
        "  - Conv2D: {filters: 3, kernel_size: 3, activation: relu, name: conv, inputs: [pixels]}\n"
        "  - Conv2D: {filters: 2, kernel_size: 1, name: after}\n"
        "  - LeakyReLU: {alpha: 0.3, name: leaky}\n"
    )
    random_weights(model, 13, tmp_path)
    proto = check_export(model, random_input(model, 13))["proto"]
    assert [value.name for value in proto.graph.input] == ["pixels"]
    assert [value.name for value in proto.graph.output] == ["conv", "leaky"]
    makers = {output: node for node in proto.graph.node for output in node.output}
    assert makers["conv"].op_type == "Transpose"  # NCHW back to NHWC, after the Relu
    assert makers["conv/main"].name == "conv" and makers["conv/main"].op_type == "Conv"
    assert makers["leaky"].op_type == "Transpose"
    assert makers["leaky/main"].name == "leaky" and makers["leaky/main"].op_type == "LeakyRelu"
    readers = {node.name: list(node.input) for node in proto.graph.node}
    assert readers["after"][0] == "conv/activation"  # the NCHW tensor, no round trip
