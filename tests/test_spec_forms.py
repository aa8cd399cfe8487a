"""The spellings of a config that must give the same spec: the three entry forms, Keras
aliases, inline activation forms, YAML anchors and merge keys; Keras automatic names; error
positions inside shorthand; the default model name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builder.config import parse
from builder.errors import ConfigError

HEADER = "input_shape: [28, 28, 3]\nlayers:\n"


def config(*entries: str) -> str:
    return HEADER + "".join(f"  - {entry}\n" for entry in entries)


def dump(text: str) -> dict[str, Any]:
    return parse(text).model_dump()


def error_lines(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return [str(problem) for problem in info.value.problems]


# --------------------------------------------------------------------------- entry forms


@pytest.mark.parametrize(
    ("canonical", "shorthand", "other"),
    [
        pytest.param(
            "{type: Conv2D, filters: 32, kernel_size: 3, name: conv1}",
            "Conv2D: {filters: 32, kernel_size: 3, name: conv1}",
            "{Conv2D: {filters: 32, kernel_size: [3, 3], name: conv1}}",
            id="Conv2D",
        ),
        pytest.param("{type: Flatten}", "Flatten: {}", "Flatten", id="Flatten"),
        pytest.param("{type: Flatten}", "Flatten:", "Flatten: null", id="Flatten-null"),
        pytest.param(
            "{type: Activation, activation: relu}",
            "Activation: {activation: relu}",
            "relu",
            id="relu",
        ),
        pytest.param(
            "{type: Activation, activation: softmax}",
            "{Activation: {activation: softmax}}",
            "softmax",
            id="softmax",
        ),
        pytest.param("{type: LeakyReLU}", "LeakyReLU: ~", "LeakyReLU", id="LeakyReLU"),
        pytest.param(
            "{type: MaxPooling2D, pool_size: 2}",
            "MaxPooling2D: {pool_size: [2, 2]}",
            "MaxPooling2D",
            id="MaxPooling2D",
        ),
    ],
)
def test_three_entry_forms_give_equal_specs(canonical: str, shorthand: str, other: str) -> None:
    expected = dump(config(canonical))
    assert dump(config(shorthand)) == expected
    assert dump(config(other)) == expected


def test_block_style_shorthand_equals_flow_style_canonical() -> None:
    block = (
        HEADER
        + """\
  - Conv2D:
      filters: 16
      kernel_size: [3, 3]
      activation:
        LeakyReLU:
          alpha: 0.05
  - Flatten:
  - Dense:
      units: 10
"""
    )
    flow = config(
        "{type: Conv2D, filters: 16, kernel_size: 3, activation: {type: LeakyReLU, alpha: 0.05}}",
        "{type: Flatten}",
        "{type: Dense, units: 10}",
    )
    assert dump(block) == dump(flow)


def test_bare_activation_name_is_an_activation_layer() -> None:
    layer = parse(config("relu")).layers[0]
    assert (layer.type_name, layer.activation, layer.name) == ("Activation", "relu", "activation")


def test_the_spec_section_2_example() -> None:
    text = """\
# yaml-language-server: $schema=../schemas/model.schema.json
name: small_cnn              # optional; default: the file's stem
input_shape: [28, 28, 1]     # per-sample shape, channels_last (H, W, C); required
dtype: float32               # float32 (default) | float64
seed: 0                      # weight-initialisation seed; default 0
layers:
  - Conv2D: {filters: 32, kernel_size: [3, 3]}
  - LeakyReLU: {alpha: 0.05}
  - MaxPooling2D: {pool_size: [2, 2]}
  - Conv2D: {filters: 64, kernel_size: 3, activation: relu}
  - Conv2D:
      filters: 64
      kernel_size: 3
      activation: {LeakyReLU: {alpha: 0.05}}   # advanced activation inline
  - Flatten
  - Dense: {units: 10, activation: softmax}
"""
    spec = parse(text)
    assert spec.name == "small_cnn"
    assert spec.layer_names == [
        "conv2d",
        "leaky_re_lu",
        "max_pooling2d",
        "conv2d_1",
        "conv2d_2",
        "flatten",
        "dense",
    ]
    inline = spec.layers[4].activation
    assert (inline.type_name, inline.alpha) == ("LeakyReLU", 0.05)


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    ("alias", "canonical", "arguments", "auto_name"),
    [
        ("Convolution2D", "Conv2D", "{filters: 4, kernel_size: 3}", "conv2d"),
        ("MaxPool2D", "MaxPooling2D", "{pool_size: 3}", "max_pooling2d"),
        ("AvgPool2D", "AveragePooling2D", "{pool_size: 3}", "average_pooling2d"),
        ("GlobalMaxPool2D", "GlobalMaxPooling2D", "{keepdims: true}", "global_max_pooling2d"),
        (
            "GlobalAvgPool2D",
            "GlobalAveragePooling2D",
            "{keepdims: true}",
            "global_average_pooling2d",
        ),
    ],
)
def test_keras_alias_is_stored_under_the_canonical_type(
    alias: str, canonical: str, arguments: str, auto_name: str
) -> None:
    spec = parse(config(f"{alias}: {arguments}"))
    assert spec.layers[0].type_name == canonical
    assert spec.layers[0].name == auto_name
    expected = dump(config(f"{canonical}: {arguments}"))
    assert dump(config(f"{alias}: {arguments}")) == expected
    assert dump(config(f"{{type: {alias}, {arguments[1:]}")) == expected
    names = parse(config(f"{alias}: {arguments}", f"{canonical}: {arguments}")).layer_names
    assert names == [auto_name, f"{auto_name}_1"]  # the alias counts with its canonical type


def test_bare_aliases_count_with_their_canonical_type() -> None:
    spec = parse(
        config("MaxPool2D", "MaxPooling2D", "AvgPool2D", "AveragePooling2D: {pool_size: 1}")
    )
    assert spec.layer_names == [
        "max_pooling2d",
        "max_pooling2d_1",
        "average_pooling2d",
        "average_pooling2d_1",
    ]
    assert [layer.type_name for layer in spec.layers] == [
        "MaxPooling2D",
        "MaxPooling2D",
        "AveragePooling2D",
        "AveragePooling2D",
    ]


# --------------------------------------------------------------------------- inline activations


@pytest.mark.parametrize(
    ("shorthand", "canonical"),
    [
        ("{LeakyReLU: {alpha: 0.05}}", "{type: LeakyReLU, alpha: 0.05}"),
        ("{LeakyReLU: {negative_slope: 0.05}}", "{type: LeakyReLU, alpha: 0.05}"),
        ("{PReLU: null}", "{type: PReLU}"),
        (
            "{PReLU: {alpha_initializer: ones, shared_axes: [1, 2]}}",
            "{type: PReLU, alpha_initializer: ones, shared_axes: [1, 2]}",
        ),
        ("{ReLU: {max_value: 6}}", "{type: ReLU, max_value: 6}"),
        ("{ELU: {}}", "{type: ELU, alpha: 1.0}"),
        ("{ThresholdedReLU: {theta: 0.5}}", "{type: ThresholdedReLU, theta: 0.5}"),
        ("{Softmax: {axis: -1}}", "{type: Softmax}"),
    ],
)
def test_inline_activation_forms_are_equal(shorthand: str, canonical: str) -> None:
    for layer in (
        "Conv2D: {filters: 4, kernel_size: 3, activation: %s}",
        "Dense: {units: 4, activation: %s}",
        "Activation: {activation: %s}",
    ):
        assert dump(config(layer % shorthand)) == dump(config(layer % canonical))


def test_inline_activation_is_a_spec_not_a_layer() -> None:
    inline = (
        parse(config("Dense: {units: 4, activation: {LeakyReLU: {alpha: 0.05}}}"))
        .layers[0]
        .activation
    )
    assert inline.type_name == "LeakyReLU"
    assert inline.alpha == 0.05
    assert inline.name is None  # no auto name: it is the Dense layer's activation


def test_null_activation_means_linear() -> None:
    assert parse(config("Dense: {units: 4, activation: null}")).layers[0].activation == "linear"


def test_inline_activation_takes_no_name() -> None:
    assert error_lines(config("Activation: {activation: {PReLU: {name: x}}}")) == [
        "<string>:3:30: layers[0] (Activation) activation (PReLU): an inline activation takes no name or inputs"
        " (the layer's are used)"
    ]


# --------------------------------------------------------------------------- YAML anchors and merge keys


def test_anchors_and_aliases_give_the_written_out_spec() -> None:
    anchored = (
        HEADER
        + """\
  - Conv2D: &conv {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - Conv2D: *conv
  - &pool {MaxPooling2D: {pool_size: 2}}
  - *pool
  - Dense: {units: 4, activation: &leaky {LeakyReLU: {alpha: 0.1}}}
  - Activation: {activation: *leaky}
"""
    )
    written = config(
        "Conv2D: {filters: 8, kernel_size: 3, padding: same, activation: relu}",
        "Conv2D: {filters: 8, kernel_size: 3, padding: same, activation: relu}",
        "MaxPooling2D: {pool_size: 2}",
        "MaxPooling2D: {pool_size: 2}",
        "Dense: {units: 4, activation: {LeakyReLU: {alpha: 0.1}}}",
        "Activation: {activation: {LeakyReLU: {alpha: 0.1}}}",
    )
    assert dump(anchored) == dump(written)
    assert parse(anchored).layer_names == [
        "conv2d",
        "conv2d_1",
        "max_pooling2d",
        "max_pooling2d_1",
        "dense",
        "activation",
    ]


def test_merge_keys_give_the_written_out_spec() -> None:
    merged = (
        HEADER
        + """\
  - Conv2D: &base
      filters: 8
      kernel_size: 3
      padding: same
  - Conv2D:
      <<: *base
      filters: 16
  - Conv2D: {<<: *base, strides: 2}
  - &dense {type: Dense, units: 4}
  - {<<: [*dense, {activation: relu, units: 99}], name: head}
"""
    )
    written = config(
        "Conv2D: {filters: 8, kernel_size: 3, padding: same}",
        "Conv2D: {filters: 16, kernel_size: 3, padding: same}",
        "Conv2D: {filters: 8, kernel_size: 3, padding: same, strides: 2}",
        "{type: Dense, units: 4}",
        "{type: Dense, units: 4, activation: relu, name: head}",
    )
    assert dump(merged) == dump(written)


def test_errors_in_an_aliased_block_point_at_the_anchor() -> None:
    text = (
        HEADER
        + """\
  - Conv2D: &conv {filters: 8, kernel_size: 0}
  - Conv2D: *conv
"""
    )
    assert error_lines(text) == [
        "<string>:3:45: layers[0] (Conv2D) kernel_size: must be a positive integer, got 0",
        "<string>:3:45: layers[1] (Conv2D) kernel_size: must be a positive integer, got 0",
    ]


# --------------------------------------------------------------------------- automatic names


def test_auto_names_match_keras() -> None:
    spec = parse(
        config(
            "Conv2D: {filters: 4, kernel_size: 1}",
            "Conv2D: {filters: 4, kernel_size: 1}",
            "LeakyReLU",
            "MaxPooling2D",
            "PReLU",
            "BatchNormalization",
            "ThresholdedReLU",
            "ZeroPadding2D",
            "ReLU",
            "ELU",
            "Softmax",
            "relu",
            "Activation: {activation: tanh}",
            "GlobalAveragePooling2D",
            "Dense: {units: 4}",
            "Dense: {units: 4}",
            "LeakyReLU",
        )
    )
    assert spec.layer_names == [
        "conv2d",
        "conv2d_1",
        "leaky_re_lu",
        "max_pooling2d",
        "p_re_lu",
        "batch_normalization",
        "thresholded_re_lu",
        "zero_padding2d",
        "re_lu",
        "elu",
        "softmax",
        "activation",
        "activation_1",
        "global_average_pooling2d",
        "dense",
        "dense_1",
        "leaky_re_lu_1",
    ]


def test_auto_names_skip_names_the_user_gave() -> None:
    # builder/spec/model.py: numbered per type in order, never reusing a user's name
    spec = parse(
        config(
            "{type: Conv2D, filters: 4, kernel_size: 1, name: conv2d_1}",
            "Conv2D: {filters: 4, kernel_size: 1}",
            "Conv2D: {filters: 4, kernel_size: 1}",
            "Conv2D: {filters: 4, kernel_size: 1}",
        )
    )
    assert spec.layer_names == ["conv2d_1", "conv2d", "conv2d_2", "conv2d_3"]


def test_a_user_name_later_in_the_file_is_also_skipped() -> None:
    spec = parse(
        config(
            "Dense: {units: 4}",
            "Dense: {units: 4}",
            "Flatten: {name: dense}",
            "Flatten: {name: dense_2}",
        )
    )
    assert spec.layer_names == ["dense_1", "dense_3", "dense", "dense_2"]


def test_a_user_may_name_a_layer_like_another_type() -> None:
    spec = parse(config("Flatten: {name: conv2d}", "Conv2D: {filters: 1, kernel_size: 1}"))
    assert spec.layer_names == ["conv2d", "conv2d_1"]


def test_auto_names_are_per_model_not_per_process() -> None:
    first = parse(config("Dense: {units: 1}")).layer_names
    second = parse(config("Dense: {units: 1}")).layer_names
    assert first == second == ["dense"]


# --------------------------------------------------------------------------- positions in shorthand


def test_error_positions_inside_shorthand_point_at_the_user_text() -> None:
    text = (
        HEADER
        + """\
  - Conv2D: {filters: 4, kernel_size: 0}
  - Conv2D:
      filters: 4
      kernel_size: 3
      strides: [1, 0]
  - MaxPool2D: {padding: full}
  - Dense:
      unit: 3
"""
    )
    assert error_lines(text) == [
        "<string>:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer, got 0",
        "<string>:7:16: layers[1] (Conv2D) strides: must be a positive integer or a list of two positive integers,"
        " got [1, 0]",
        "<string>:8:26: layers[2] (MaxPooling2D) padding: must be one of 'valid' or 'same', got 'full' (a string)",
        "<string>:10:7: layers[3] (Dense) unit: unknown field 'unit'; did you mean 'units'?",
    ]


def test_error_positions_inside_inline_activations() -> None:
    text = (
        HEADER
        + """\
  - Conv2D: {filters: 4, kernel_size: 3, activation: {LeakyReLU: {alpha: -0.05}}}
  - Conv2D:
      filters: 4
      kernel_size: 3
      activation:
        LeakyReLU:
          alpha: 0.1
          beta: 1
  - Dense:
      units: 3
      activation:
        type: ReLU
        max_value: -6
"""
    )
    assert error_lines(text) == [
        "<string>:3:74: layers[0] (Conv2D) activation (LeakyReLU) alpha: must be >= 0.0, got -0.05",
        "<string>:10:11: layers[1] (Conv2D) activation (LeakyReLU) beta: unknown field 'beta'",
        "<string>:15:20: layers[2] (Dense) activation (ReLU) max_value: must be >= 0.0, got -6",
    ]


def test_unknown_inline_activation_type_points_at_its_name() -> None:
    # at the unknown type name itself, as for `{type: Conv2d}`, not at the `{` before it
    assert error_lines(config("Dense: {units: 3, activation: {LeakyRelu: {alpha: 1}}}")) == [
        "<string>:3:36: layers[0] (Dense) activation (LeakyRelu): unknown layer or activation type 'LeakyRelu';"
        " did you mean 'LeakyReLU'?",
    ]


def test_shorthand_missing_field_points_at_the_entry() -> None:
    text = HEADER + "  - Dense:\n  - Conv2D:\n      filters: 3\n"
    assert error_lines(text) == [
        "<string>:3:5: layers[0] (Dense) units: required field is missing",
        "<string>:4:5: layers[1] (Conv2D) kernel_size: required field is missing",
    ]


def test_unknown_shorthand_type_points_at_the_type_key() -> None:
    assert error_lines(
        config("Conv2d: {filters: 4, kernel_size: 3}", "Dense: {units: 2}", "relU")
    ) == [
        "<string>:3:5: layers[0] (Conv2d): unknown layer or activation type 'Conv2d'; did you mean 'Conv2D'?",
        "<string>:5:5: layers[2] (relU): unknown layer or activation type 'relU'; did you mean 'relu'?",
    ]


def test_shorthand_arguments_that_are_not_a_mapping() -> None:
    problems = error_lines(config("Flatten: 3"))
    assert len(problems) == 1
    # the position of `3`, the type it belongs to, and what was received
    assert problems[0].startswith("<string>:3:14: layers[0] (Flatten)")
    assert problems[0].endswith("got 3")


# --------------------------------------------------------------------------- model name


def test_default_model_name_is_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "tiny_net.yaml"
    path.write_text(config("Flatten"), encoding="utf-8")
    assert parse(path).name == "tiny_net"
    assert parse(str(path)).name == "tiny_net"


def test_default_model_name_of_text_is_model() -> None:
    assert parse(config("Flatten")).name == "model"


def test_a_given_model_name_wins(tmp_path: Path) -> None:
    path = tmp_path / "tiny_net.yml"
    path.write_text("name: mine\n" + config("Flatten"), encoding="utf-8")
    assert parse(path).name == "mine"
