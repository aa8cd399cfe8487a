"""Issue 12: the mistakes a Keras user makes in the first hour, each with the user's own
input, and the conveniences they expect (shorthand, anchors, trainable). Messages are
checked word for word; numbers against hand computation."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result

import builder
from builder.cli import cli
from builder.config import parse
from builder.errors import ConfigError
from builder.model import Model
from builder.sizes import format_bytes
from builder.spec.schema import json_schema

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "configs" / "seed_cnn.yaml")


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return str(caught.value).splitlines()


def refused(result: Result, path: str) -> list[str]:
    """The error lines of a refused CLI call, the file name replaced by `F`."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr.replace(path, "F").splitlines()


# --------------------------------------------------------------------------- 1: batch size


@pytest.mark.parametrize("batch_size", [-2, -1, 0, 2.5, True])
def test_batch_size_must_be_a_positive_integer(batch_size: Any) -> None:
    model = Model.from_spec(parse(SEED))
    x = np.zeros((3, 28, 28, 1), dtype=np.float32)
    expected = f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
    with pytest.raises(ValueError) as caught:
        model.predict(x, batch_size=batch_size)
    assert str(caught.value) == expected
    with pytest.raises(ValueError):
        model.predict_chunks(x, batch_size=batch_size)


# --------------------------------------------------------------------------- 2: inline blocks

HEAD = "input_shape: [4, 4, 1]\nlayers:\n"
ADVANCED = "ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax"


@pytest.mark.parametrize(
    "block, message",
    [
        (
            "{Conv2D: {filters: 2, kernel_size: 3}}",
            "Conv2D is a layer, not an activation; an inline activation is an activation "
            f"name such as relu, or one of {ADVANCED}",
        ),
        (
            "{Flatten: {}}",
            "Flatten is a layer, not an activation; an inline activation is an activation "
            f"name such as relu, or one of {ADVANCED}",
        ),
        ("{relu: {}}", "'relu' is an activation name, not a block: write activation: relu"),
    ],
)
def test_a_layer_as_inline_activation_is_named_as_a_layer(
    tmp_path: Path, block: str, message: str
) -> None:
    name = block[1:].split(":")[0]
    path = write(tmp_path, HEAD + f"  - Dense: {{units: 3, activation: {block}}}\n")
    lines = refused(invoke("validate", path), path)
    assert lines == [f"F:3:36: layers[0] (Dense) activation ({name}): {message}"]


# --------------------------------------------------------------------------- 3: CONFIG is a path


def test_a_missing_config_path_is_no_such_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "configs" / "seed_cnn")  # the user forgot `.yaml`
    for command in ("summarize", "graph", "validate"):
        assert refused(invoke(command, missing), missing) == ["F: no such file"]
    assert refused(invoke("run", missing, "--random", "1"), missing) == ["F: no such file"]


def test_yaml_text_on_the_command_line_is_a_path_too() -> None:
    text = "input_shape: [4]"
    assert refused(invoke("summarize", text), text) == ["F: no such file"]


def test_dash_reads_the_config_from_stdin() -> None:
    result = invoke(
        "summarize", "-", "--format", "json", stdin="input_shape: [4]\nlayers: [{Dense: 2}]\n"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["name"] == "model" and report["total_params"] == 4 * 2 + 2
    result = invoke("validate", "-", stdin="input_shape: [4]\nlayers: [{Dense: 0}]\n")
    assert (
        result.stderr
        == "<stdin>:2:18: layers[0] (Dense) units: must be a positive integer, got 0\n"
    )


def test_python_parse_still_takes_text_or_a_path() -> None:
    assert parse("input_shape: [4]\nlayers: [{Dense: 2}]\n").layers[0].units == 2  # type: ignore[attr-defined]
    assert parse(SEED).name == "seed_cnn"


# --------------------------------------------------------------------------- 4: indentation


def test_fields_not_indented_under_the_layer(tmp_path: Path) -> None:
    text = HEAD + "  - Flatten\n  - Dense:\n    units: 3\n    activation: relu\n"
    path = write(tmp_path, text)
    assert refused(invoke("validate", path), path) == [
        "F:5:5: layers[1] (Dense): the arguments of Dense must be indented under it: write "
        "'Dense:' and indent units, activation below it (or Dense: {units: ...})"
    ]


def test_a_type_with_null_beside_foreign_keys_is_not_taken_for_indentation() -> None:
    # `name` of a different layer type would be a field too, but `filters` is not a Dense field
    lines = errors(HEAD + "  - Dense:\n    filters: 3\n")
    assert lines == [
        "<string>:3:5: layers[0]: has no type: write {type: Conv2D, ...} or {Conv2D: {...}}"
    ]


# --------------------------------------------------------------------------- 5: Keras habits

INPUT_HINT = (
    "give the per-sample shape once, as the top-level input_shape (without the batch axis), "
    "e.g. input_shape: [28, 28, 1]"
)


def test_input_shape_and_input_dim_inside_a_layer() -> None:
    lines = errors(
        "input_shape: [4]\nlayers:\n  - Dense: {units: 3, input_shape: [4]}\n"
        "  - Dense: {units: 3, input_dim: 3}\n"
    )
    assert lines == [
        f"<string>:3:23: layers[0] (Dense) input_shape: a layer takes no input_shape: {INPUT_HINT}",
        f"<string>:4:23: layers[1] (Dense) input_dim: a layer takes no input_dim: {INPUT_HINT}",
    ]


def test_an_input_layer() -> None:
    lines = errors(
        "input_shape: [4]\nlayers:\n  - Input: {shape: [4]}\n  - InputLayer: {shape: [4]}\n"
    )
    assert lines == [
        f"<string>:3:5: layers[0] (Input): there is no Input layer here: {INPUT_HINT}",
        f"<string>:4:5: layers[1] (InputLayer): there is no InputLayer layer here: {INPUT_HINT}",
    ]


def test_input_shape_with_the_batch_axis() -> None:
    lines = errors("input_shape: [null, 28, 28, 1]\nlayers: [Flatten]\n")
    assert lines == [
        "<string>:1:14: input_shape: input_shape is per sample, without the batch axis: "
        "write [28, 28, 1], got [null, 28, 28, 1]"
    ]


TRAINING = """input_shape: [4]
layers:
  - Dense: {units: 3, trainable: false, kernel_regularizer: {class_name: L2, config: {l2: 0.01}}}
  - Dense: {units: 2, kernel_constraint: {MaxNorm: {max_value: 2}}, bias_regularizer: null}
"""


def test_trainable_false_moves_the_params_to_non_trainable(tmp_path: Path) -> None:
    path = write(tmp_path, TRAINING)
    result = invoke("summarize", path)
    assert result.exit_code == 0, result.output
    # dense: 4·3 + 3 = 15 frozen; dense_1: 3·2 + 2 = 8 trainable; float32
    assert "Total params: 23 (92.00 B)" in result.stdout
    assert "Trainable params: 8 (32.00 B)" in result.stdout
    assert "Non-trainable params: 15 (60.00 B)" in result.stdout
    report = json.loads(invoke("summarize", path, "--format", "json").stdout)
    assert [(r["params"], r["trainable_params"]) for r in report["layers"]] == [(15, 0), (8, 8)]
    assert (report["trainable_params"], report["non_trainable_params"]) == (8, 15)


def test_regularisers_and_constraints_are_noted_once(tmp_path: Path) -> None:
    path = write(tmp_path, TRAINING)
    note = (
        "F:3:5: layers[0] (Dense): note: kernel_constraint, kernel_regularizer "
        "(layers[0], layers[1]) only act in training; ignored at inference"
    )
    for command in ("validate", "summarize"):
        result = invoke(command, path)
        assert result.exit_code == 0, result.output
        assert result.stderr.replace(path, "F").splitlines() == [note]


def test_trainable_false_runs_the_same_numbers() -> None:
    frozen = Model.from_spec(parse(TRAINING))
    plain = Model.from_spec(parse(TRAINING.replace("trainable: false, ", "")))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(frozen.predict(x), plain.predict(x))


# --------------------------------------------------------------------------- 6: string activations


def test_advanced_activation_named_as_a_string() -> None:
    spec = parse(HEAD + "  - Dense: {units: 3, activation: LeakyReLU}\n  - Activation: PReLU\n")
    dense, activation = spec.layers
    assert dense.activation.type_name == "LeakyReLU" and dense.activation.alpha == 0.3  # type: ignore[attr-defined]
    assert activation.activation.type_name == "PReLU"  # type: ignore[attr-defined]


def test_advanced_activation_string_computes_the_keras_default_slope() -> None:
    model = Model.from_spec(
        parse("input_shape: [2]\nlayers:\n  - Activation: {activation: LeakyReLU}\n")
    )
    y = model.predict(np.array([[-2.0, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(y, [[-0.6, 3.0]], rtol=1e-6)  # alpha 0.3 by hand


def test_lowercase_advanced_activation_suggests_the_block() -> None:
    assert errors(HEAD + "  - Dense: {units: 3, activation: prelu}\n") == [
        "<string>:3:35: layers[0] (Dense) activation: unknown value 'prelu' (a string); "
        "did you mean {PReLU: {}}?"
    ]


# --------------------------------------------------------------------------- 7: x- keys


def test_top_level_x_keys_hold_anchors() -> None:
    spec = parse(
        "input_shape: [8, 8, 1]\n"
        "x-conv: &conv {kernel_size: 3, padding: same, activation: relu}\n"
        "layers:\n  - Conv2D: {filters: 2, <<: *conv}\n  - Conv2D: {filters: 4, <<: *conv}\n"
    )
    assert [(layer.filters, layer.padding) for layer in spec.layers] == [(2, "same"), (4, "same")]  # type: ignore[attr-defined]


def test_other_top_level_keys_mention_x() -> None:
    assert errors("input_shape: [4]\nconv_defaults: &c {units: 3}\nlayers:\n  - Dense: *c\n") == [
        "<string>:2:1: conv_defaults: unknown field 'conv_defaults' (top-level keys starting "
        "with 'x-' are ignored: a place for anchors)"
    ]


# --------------------------------------------------------------------------- 8: one error per slip


def test_a_misspelt_field_is_reported_once(tmp_path: Path) -> None:
    path = write(
        tmp_path, "input_shape: [28, 28, 1]\nlayers:\n  - Conv2D: {filter: 32, kernel_size: 3}\n"
    )
    assert refused(invoke("validate", path), path) == [
        "F:3:14: layers[0] (Conv2D) filter: unknown field 'filter'; did you mean 'filters'?"
    ]


def test_a_missing_field_without_a_near_miss_is_still_reported() -> None:
    assert errors(HEAD + "  - Conv2D: {kernel_size: 3, stride: 2}\n") == [
        "<string>:3:5: layers[0] (Conv2D) filters: required field is missing",
        "<string>:3:30: layers[0] (Conv2D) stride: unknown field 'stride'; did you mean 'strides'?",
    ]


# --------------------------------------------------------------------------- 9: scalar shorthand

SCALARS = """input_shape: [8, 8, 3]
layers:
  - MaxPooling2D: 2
  - AveragePooling2D: [2, 1]
  - Activation: relu
  - LeakyReLU: 0.1
  - ELU: 0.5
  - Dropout: 0.25
  - Flatten
  - Dense: 10
"""


def test_scalar_stands_for_the_first_keras_argument() -> None:
    pool, avg, act, leaky, elu, drop, _, dense = parse(SCALARS).layers
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2)  # type: ignore[attr-defined]
    assert avg.pool_size == (2, 1)  # type: ignore[attr-defined]
    assert act.activation == "relu"  # type: ignore[attr-defined]
    assert leaky.alpha == 0.1  # type: ignore[attr-defined]
    assert elu.alpha == 0.5  # type: ignore[attr-defined]
    assert drop.rate == 0.25  # type: ignore[attr-defined]
    assert dense.units == 10  # type: ignore[attr-defined]


def test_scalar_errors_point_at_the_scalar() -> None:
    assert errors(HEAD + "  - Dropout: 1.5\n") == [
        "<string>:3:14: layers[0] (Dropout) rate: must be <= 1.0, got 1.5"
    ]


def test_scalar_for_a_layer_with_two_required_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  - Conv2D: 32\n")
    assert refused(invoke("validate", path), path) == [
        "F:3:13: layers[0] (Conv2D): Conv2D needs filters and kernel_size, so a single value "
        "cannot stand for its arguments: write Conv2D: {filters: ..., kernel_size: ...}, got 32"
    ]


def test_schema_accepts_the_new_forms() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    single_input = HEAD + "  - Dense: {units: 3, activation: LeakyReLU, inputs: input}\n"
    anchors = "input_shape: [4]\nx-d: &d {units: 3}\nlayers: [{Dense: *d}]\n"
    for text in (SCALARS, TRAINING, single_input, anchors):
        validator.validate(yaml.safe_load(text))
    assert not validator.is_valid(yaml.safe_load("input_shape: [4]\nlayers: [{Dense: 0}]\n"))


# --------------------------------------------------------------------------- 10: inputs: a


def test_a_single_input_name_as_a_string() -> None:
    spec = parse(
        "input_shape: [4]\nlayers:\n  - Dense: {units: 3, name: a}\n  - Dense: {units: 2, inputs: a}\n"
    )
    assert spec.layers[1].inputs == ["a"]
    with pytest.raises(ConfigError) as caught:  # a graph error, at the string itself
        Model.from_spec(parse("input_shape: [4]\nlayers:\n  - Dense: {units: 3, inputs: inptu}\n"))
    assert str(caught.value) == (
        "<string>:3:31: layers[0] (Dense) inputs: unknown layer 'inptu'; did you mean 'input'?"
    )


# --------------------------------------------------------------------------- 12: byte sizes


def test_one_byte_formatter_base_1024() -> None:
    assert format_bytes(0) == "0.00 B"
    assert format_bytes(1023) == "1023.00 B"
    assert format_bytes(1024) == "1.00 KB"
    assert format_bytes(55_744 * 4) == "217.75 KB"  # 222,976 / 1024
    assert format_bytes(3 * 1024**3 // 2) == "1.50 GB"


def test_run_refusals_use_the_same_units() -> None:
    result = invoke("run", SEED, "--random", "1000", "--max-memory", "100KB")
    assert result.exit_code == 1
    # 55,744 params · 4 bytes = 217.75 KB; 100 KiB = 100.00 KB
    assert result.stderr == (
        "the weights need 217.75 KB, over the memory limit of 100.00 KB (raise it with --max-memory)\n"
    )


# --------------------------------------------------------------------------- 14: JSON activation


def test_json_activation_is_null_without_an_activation_argument(tmp_path: Path) -> None:
    text = (
        "input_shape: [4, 4, 2]\nlayers:\n  - Conv2D: {filters: 2, kernel_size: 1}\n"
        "  - MaxPooling2D: {pool_size: 2, name: p}\n  - Add: {inputs: [p, p]}\n  - Flatten\n  - LeakyReLU\n"
        "  - Activation: tanh\n  - Dense: {units: 2, activation: softmax}\n"
    )
    report = json.loads(invoke("summarize", write(tmp_path, text), "--format", "json").stdout)
    assert [r["activation"] for r in report["layers"]] == [
        "linear",
        None,
        None,
        None,
        None,
        "tanh",
        "softmax",
    ]


# --------------------------------------------------------------------------- 15: one sample


def test_cli_and_api_agree_on_one_sample_without_the_batch_axis(tmp_path: Path) -> None:
    x = np.random.default_rng(7).normal(size=(28, 28, 1)).astype(np.float32)
    np.save(tmp_path / "one.npy", x)
    result = invoke(
        "run", SEED, "--input", str(tmp_path / "one.npy"), "--output", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    api = Model.from_spec(parse(SEED)).predict(x)
    assert api.shape == (1, 3, 3, 64)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), api)


def test_stdin_config_has_the_file_size_limit() -> None:
    result = invoke("validate", "-", stdin="input_shape: [4]\n" + "#" * (1024 * 1024))
    assert result.exit_code == 1
    assert result.stderr == "<stdin>: the config is larger than the limit of 1.00 MB\n"


def test_inline_activation_takes_no_trainable() -> None:
    assert errors(HEAD + "  - Dense: {units: 3, activation: {PReLU: {trainable: false}}}\n") == [
        "<string>:3:35: layers[0] (Dense) activation (PReLU): an inline activation takes no "
        "trainable or training-only arguments: give them to the layer that holds it"
    ]


def test_keras_export_keeps_trainable_and_drops_training_only_arguments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input_shape: [4, 4, 1]\nlayers:\n  - MaxPooling2D: {pool_size: 2, kernel_constraint: {a: 1}}\n"
        "  - Flatten\n  - Dense: {units: 2, trainable: false, kernel_regularizer: {L2: {}}}\n",
    )
    exported = tmp_path / "m.keras"
    result = invoke("export", path, "-o", str(exported))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(exported) as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
    configs = {layer["class_name"]: layer["config"] for layer in layers}
    assert configs["Dense"]["trainable"] is False
    assert configs["MaxPooling2D"]["trainable"] is True
    for config in configs.values():
        assert not {"kernel_regularizer", "kernel_constraint"} & set(config)


def test_keras_round_trip_keeps_trainable_false(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "input_shape: [4]\nlayers:\n  - Dense: {units: 3, trainable: false, kernel_regularizer: {L2: {}}}\n"
        "  - Dense: 2\n",
    )
    exported, back = tmp_path / "m.keras", tmp_path / "back.yaml"
    assert invoke("export", path, "-o", str(exported)).exit_code == 0
    assert invoke("import", str(exported), "-o", str(back)).exit_code == 0
    text = back.read_text()
    assert "trainable: false" in text and "regularizer" not in text
    assert [layer.trainable for layer in parse(str(back)).layers] == [False, True]


def test_family_training_only_arguments_are_accepted_and_noted(tmp_path: Path) -> None:
    # Keras configs of these layers carry their own regularisers/constraints
    config = tmp_path / "m.yaml"
    config.write_text(
        "input_shape: [8, 8, 3]\nlayers:\n"
        "  - DepthwiseConv2D: {kernel_size: 3, depthwise_regularizer: {class_name: L2}}\n"
        "  - BatchNormalization: {gamma_constraint: null, beta_regularizer: {class_name: L1}}\n"
        "  - SeparableConv2D: {filters: 4, kernel_size: 1, pointwise_constraint: {c: 1}}\n"
        "  - PReLU: {alpha_regularizer: {class_name: L2}}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{config}: ok\n"
    assert "depthwise_regularizer" in result.stderr and "alpha_regularizer" in result.stderr
    assert "gamma_constraint" not in result.stderr  # null: not given


@pytest.mark.parametrize("type_name", ["MaxPooling1D", "AveragePooling1D", "MaxPool1D"])
def test_scalar_shorthand_of_the_1d_pooling_layers(type_name: str) -> None:
    # pool_size 3 over 10 steps, strides = pool_size: floor((10 - 3) / 3) + 1 = 3 steps
    model = builder.load(f"input_shape: [10, 3]\nlayers:\n  - {type_name}: 3\n")
    spec = model.nodes[0].layer.spec
    assert (spec.pool_size, spec.strides, model.output_shape) == (3, 3, (3, 3))
