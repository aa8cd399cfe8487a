"""Every layer type of `builder.registry.LAYERS`: a valid minimal example whose every default is
Keras 3's, and each constraint violated once, with the exact error line `FILE:LINE:COL: path: message`.

The expected defaults are written here from the Keras 3 signatures (`keras.layers.Conv2D(filters,
kernel_size, strides=(1, 1), padding="valid", ...)`), never read from the code under test. Every
layer sits on line 3 of its config, after `  - `, so a column is 5 + its offset in the entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import catalogue_cases
import pytest

from builder.config import parse
from builder.errors import ConfigError
from builder.registry import LAYERS
from builder.spec.layers import TYPE_NAMES, LayerSpec
from builder.spec.model import ModelSpec

HEADER = "input_shape: [8, 8, 4]\nlayers:\n"


def config(*entries: str) -> str:
    return HEADER + "".join(f"  - {entry}\n" for entry in entries)


def only_layer(entry: str) -> LayerSpec:
    spec = parse(config(entry))
    assert len(spec.layers) == 1
    return spec.layers[0]


def error_lines(text: str | Path) -> list[str]:
    """The printed problems of a config that must be refused."""
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(problem) for problem in info.value.problems]


def fields(layer: LayerSpec) -> dict[str, Any]:
    """Every field of a layer except those all layers share (`name`, `inputs`, ...) and the
    training-only arguments (regularisers, constraints: accepted, ignored, default null)."""
    return {
        key: getattr(layer, key)
        for key in type(layer).model_fields
        if key not in LayerSpec.model_fields and key not in layer.training_only_fields()
    }


# --------------------------------------------------------------------------- defaults

# type → (minimal entry, auto name, every field with its Keras 3 default)
CONV_DEFAULTS = {
    "strides": (1, 1),
    "padding": "valid",
    "dilation_rate": (1, 1),
    "groups": 1,
    "activation": "linear",  # Keras: activation=None, i.e. linear
    "use_bias": True,
    "kernel_initializer": "glorot_uniform",
    "bias_initializer": "zeros",
    "data_format": "channels_last",
}
POOL_DEFAULTS = {
    "pool_size": (2, 2),
    "strides": (2, 2),
    "padding": "valid",
    "data_format": "channels_last",
}  # strides null (Keras's default) is resolved to pool_size by the spec
DENSE_DEFAULTS = {
    "activation": "linear",
    "use_bias": True,
    "kernel_initializer": "glorot_uniform",
    "bias_initializer": "zeros",
}

DEFAULTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "Conv2D": (
        "Conv2D: {filters: 32, kernel_size: 3}",
        "conv2d",
        {"type": "Conv2D", "filters": 32, "kernel_size": (3, 3), **CONV_DEFAULTS},
    ),
    "MaxPooling2D": ("MaxPooling2D", "max_pooling2d", {"type": "MaxPooling2D", **POOL_DEFAULTS}),
    "AveragePooling2D": (
        "AveragePooling2D",
        "average_pooling2d",
        {"type": "AveragePooling2D", **POOL_DEFAULTS},
    ),
    "GlobalMaxPooling2D": (
        "GlobalMaxPooling2D",
        "global_max_pooling2d",
        {"type": "GlobalMaxPooling2D", "keepdims": False, "data_format": "channels_last"},
    ),
    "GlobalAveragePooling2D": (
        "GlobalAveragePooling2D",
        "global_average_pooling2d",
        {"type": "GlobalAveragePooling2D", "keepdims": False, "data_format": "channels_last"},
    ),
    "Flatten": ("Flatten", "flatten", {"type": "Flatten", "data_format": "channels_last"}),
    "Dense": ("Dense: {units: 10}", "dense", {"type": "Dense", "units": 10, **DENSE_DEFAULTS}),
    "Dropout": ("Dropout: {rate: 0.5}", "dropout", {"type": "Dropout", "rate": 0.5, "seed": None}),
    "BatchNormalization": (
        "BatchNormalization",
        "batch_normalization",
        {
            "type": "BatchNormalization",
            "axis": -1,
            "momentum": 0.99,
            "epsilon": 0.001,
            "center": True,
            "scale": True,
            "beta_initializer": "zeros",
            "gamma_initializer": "ones",
            "moving_mean_initializer": "zeros",
            "moving_variance_initializer": "ones",
        },
    ),
    "Activation": (
        "Activation: {activation: tanh}",
        "activation",
        {"type": "Activation", "activation": "tanh"},
    ),
    "ReLU": (
        "ReLU",
        "re_lu",
        {"type": "ReLU", "max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    ),
    # negative_slope is only the Keras 3 spelling of alpha: folded into alpha, then None
    "LeakyReLU": (
        "LeakyReLU",
        "leaky_re_lu",
        {"type": "LeakyReLU", "alpha": 0.3, "negative_slope": None},
    ),
    "PReLU": (
        "PReLU",
        "p_re_lu",
        {"type": "PReLU", "alpha_initializer": "zeros", "shared_axes": None},
    ),
    "ELU": ("ELU", "elu", {"type": "ELU", "alpha": 1.0}),
    "ThresholdedReLU": (
        "ThresholdedReLU",
        "thresholded_re_lu",
        {"type": "ThresholdedReLU", "theta": 1.0},
    ),
    "Softmax": ("Softmax", "softmax", {"type": "Softmax", "axis": -1}),
    "ZeroPadding2D": (
        "ZeroPadding2D",
        "zero_padding2d",
        {"type": "ZeroPadding2D", "padding": ((1, 1), (1, 1)), "data_format": "channels_last"},
    ),
    "Reshape": (
        "Reshape: {target_shape: [16, -1]}",
        "reshape",
        {"type": "Reshape", "target_shape": (16, -1)},
    ),
    "Add": ("Add", "add", {"type": "Add"}),
    "Subtract": ("Subtract", "subtract", {"type": "Subtract"}),
    "Multiply": ("Multiply", "multiply", {"type": "Multiply"}),
    "Average": ("Average", "average", {"type": "Average"}),
    "Maximum": ("Maximum", "maximum", {"type": "Maximum"}),
    "Minimum": ("Minimum", "minimum", {"type": "Minimum"}),
    "Concatenate": ("Concatenate", "concatenate", {"type": "Concatenate", "axis": -1}),
    **catalogue_cases.DEFAULTS,
}


def test_every_registry_type_has_a_defaults_case() -> None:
    assert list(DEFAULTS) == list(LAYERS)


@pytest.mark.parametrize("type_name", list(DEFAULTS))
def test_minimal_layer_has_the_keras_defaults(type_name: str) -> None:
    entry, auto_name, expected = DEFAULTS[type_name]
    layer = only_layer(entry)
    assert type(layer) is LAYERS[type_name].spec
    assert layer.type_name == type_name
    assert layer.name == auto_name
    assert layer.inputs is None
    assert fields(layer) == expected
    for key, value in expected.items():  # (1, 1) == [1, 1] is False, but 1 == 1.0 is True
        assert type(fields(layer)[key]) is type(value), key


def test_spec_dumps_without_warnings_and_round_trips_through_json() -> None:
    # pytest runs with warnings as errors: a tuple held in a field declared as a list
    # (input_shape, Reshape.target_shape, PReLU.shared_axes) makes Pydantic warn on dump
    text = config(
        *(entry for entry, _, _ in DEFAULTS.values()),
        "PReLU: {shared_axes: [1, 2]}",
        "Dense: {units: 2, activation: {PReLU: {shared_axes: 1}}}",
    )
    spec = parse(text)
    dumped = spec.model_dump(mode="json")
    assert dumped["input_shape"] == [8, 8, 4]
    assert ModelSpec.model_validate(dumped).model_dump() == spec.model_dump()


@pytest.mark.parametrize("type_name", list(DEFAULTS))
def test_canonical_form_gives_the_same_defaults(type_name: str) -> None:
    entry, _, expected = DEFAULTS[type_name]
    type_, _, arguments = entry.partition(":")
    canonical = f"{{type: {type_}" + (f", {arguments.strip()[1:-1]}}}" if arguments else "}")
    assert fields(only_layer(canonical)) == expected


def test_given_values_are_kept_and_pairs_normalised() -> None:
    layer = only_layer(
        "Conv2D: {filters: 8, kernel_size: [3, 5], strides: 2, padding: same, dilation_rate: [1, 2],"
        " groups: 4, activation: relu, use_bias: false, kernel_initializer: he_normal,"
        " bias_initializer: ones, name: conv_a}"
    )
    assert layer.name == "conv_a"
    assert fields(layer) == {
        "type": "Conv2D",
        "filters": 8,
        "kernel_size": (3, 5),
        "strides": (2, 2),
        "padding": "same",
        "dilation_rate": (1, 2),
        "groups": 4,
        "activation": "relu",
        "use_bias": False,
        "kernel_initializer": "he_normal",
        "bias_initializer": "ones",
        "data_format": "channels_last",
    }
    pool = only_layer("AveragePooling2D: {pool_size: [3, 2], strides: 1, padding: same}")
    assert (pool.pool_size, pool.strides, pool.padding) == ((3, 2), (1, 1), "same")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("Dropout: {rate: 0}", 0),
        ("Dropout: {rate: 1}", 1),  # Keras: 0 <= rate <= 1
        ("Dropout: {rate: 0.25}", 0.25),
    ],
)
def test_dropout_rate_bounds_are_inclusive(entry: str, expected: float) -> None:
    assert only_layer(entry).rate == expected


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("ReLU: {max_value: 0, negative_slope: 0, threshold: 0}", (0, 0, 0)),
        ("ReLU: {max_value: 6.0, negative_slope: 0.1, threshold: 0.5}", (6.0, 0.1, 0.5)),
    ],
)
def test_relu_arguments_may_be_zero(entry: str, expected: tuple[float, float, float]) -> None:
    layer = only_layer(entry)
    assert (layer.max_value, layer.negative_slope, layer.threshold) == expected


def test_leaky_relu_negative_slope_is_an_alias_of_alpha() -> None:
    assert only_layer("LeakyReLU: {negative_slope: 0.2}").alpha == 0.2
    assert only_layer("LeakyReLU: {alpha: 0.05}").alpha == 0.05
    assert only_layer("LeakyReLU: {alpha: 0}").alpha == 0


def test_thresholded_relu_theta_zero_and_elu_any_alpha() -> None:
    assert only_layer("ThresholdedReLU: {theta: 0}").theta == 0
    assert only_layer("ELU: {alpha: 0.5}").alpha == 0.5


@pytest.mark.parametrize(
    ("padding", "expected"),
    [
        ("2", ((2, 2), (2, 2))),
        ("[1, 2]", ((1, 1), (2, 2))),  # symmetric (rows, cols), as Keras
        ("[[1, 2], [3, 4]]", ((1, 2), (3, 4))),
        ("0", ((0, 0), (0, 0))),
    ],
)
def test_zero_padding_forms(
    padding: str, expected: tuple[tuple[int, int], tuple[int, int]]
) -> None:
    assert only_layer(f"ZeroPadding2D: {{padding: {padding}}}").padding == expected


def test_prelu_shared_axes_int_or_list() -> None:
    assert only_layer("PReLU: {shared_axes: [1, 2]}").shared_axes == (1, 2)
    assert only_layer("PReLU: {shared_axes: 3}").shared_axes == (3,)


def test_groups_dividing_filters_is_accepted() -> None:
    assert only_layer("Conv2D: {filters: 6, kernel_size: 3, groups: 3}").groups == 3


@pytest.mark.parametrize("name", ["conv1", "_x", "block1.conv-2", "Dense_A", "a"])
def test_valid_names(name: str) -> None:
    assert only_layer(f"Flatten: {{name: {name}}}").name == name


# --------------------------------------------------------------------------- constraints


def case(case_id: str, entry: str, *expected: str) -> Any:
    return pytest.param(entry, list(expected), id=case_id)


CONSTRAINTS = [
    case(
        "conv-filters-zero",
        "Conv2D: {filters: 0, kernel_size: 3}",
        "<string>:3:23: layers[0] (Conv2D) filters: must be a positive integer, got 0",
    ),
    case(
        "conv-filters-negative",
        "Conv2D: {filters: -8, kernel_size: 3}",
        "<string>:3:23: layers[0] (Conv2D) filters: must be a positive integer, got -8",
    ),
    case(
        "conv-filters-float",
        "Conv2D: {filters: 3.0, kernel_size: 3}",
        "<string>:3:23: layers[0] (Conv2D) filters: must be a positive integer, got 3.0",
    ),
    case(
        "conv-filters-yes",
        "Conv2D: {filters: yes, kernel_size: 3}",
        "<string>:3:23: layers[0] (Conv2D) filters: must be a positive integer, got true (a boolean)",
    ),
    case(
        "conv-filters-quoted",
        'Conv2D: {filters: "32", kernel_size: 3}',
        "<string>:3:23: layers[0] (Conv2D) filters: must be a positive integer, got '32' (a string)",
    ),
    case(
        "conv-kernel-zero",
        "Conv2D: {filters: 4, kernel_size: 0}",
        "<string>:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer, got 0",
    ),
    case(
        "conv-kernel-triple",
        "Conv2D: {filters: 4, kernel_size: [3, 3, 3]}",
        "<string>:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer or a list of two positive integers, got [3, 3, 3]",
    ),
    case(
        "conv-kernel-single",
        "Conv2D: {filters: 4, kernel_size: [3]}",
        "<string>:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer or a list of two positive integers, got [3]",
    ),
    case(
        "conv-kernel-pair-zero",
        "Conv2D: {filters: 4, kernel_size: [3, 0]}",
        "<string>:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer or a list of two positive integers, got [3, 0]",
    ),
    case(
        "conv-kernel-pair-bool",
        "Conv2D: {filters: 4, kernel_size: [on, 3]}",
        "<string>:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer or a list of two positive integers, got [true (a boolean), 3]",
    ),
    case(
        "conv-strides-zero",
        "Conv2D: {filters: 4, kernel_size: 3, strides: 0}",
        "<string>:3:51: layers[0] (Conv2D) strides: must be a positive integer, got 0",
    ),
    case(
        "conv-strides-pair-zero",
        "Conv2D: {filters: 4, kernel_size: 3, strides: [1, 0]}",
        "<string>:3:51: layers[0] (Conv2D) strides: must be a positive integer or a list of two positive integers, got [1, 0]",
    ),
    case(
        "conv-dilation-negative",
        "Conv2D: {filters: 4, kernel_size: 3, dilation_rate: -1}",
        "<string>:3:57: layers[0] (Conv2D) dilation_rate: must be a positive integer, got -1",
    ),
    case(
        "conv-dilation-triple",
        "Conv2D: {filters: 4, kernel_size: 3, dilation_rate: [1, 1, 1]}",
        "<string>:3:57: layers[0] (Conv2D) dilation_rate: must be a positive integer or a list of two positive integers, got [1, 1, 1]",
    ),
    case(
        "conv-groups-zero",
        "Conv2D: {filters: 4, kernel_size: 3, groups: 0}",
        "<string>:3:50: layers[0] (Conv2D) groups: must be a positive integer, got 0",
    ),
    case(
        "conv-groups-divide",
        "Conv2D: {filters: 6, kernel_size: 3, groups: 4}",
        "<string>:3:50: layers[0] (Conv2D) groups: filters (6) must be divisible by groups, got groups=4",
    ),
    case(
        "conv-data-format",
        "Conv2D: {filters: 4, kernel_size: 3, data_format: channels_first}",
        "<string>:3:55: layers[0] (Conv2D) data_format: only 'channels_last' is supported (inputs are (H, W, C)), got 'channels_first' (a string)",
    ),
    case(
        "conv-padding",
        "Conv2D: {filters: 4, kernel_size: 3, padding: full}",
        "<string>:3:51: layers[0] (Conv2D) padding: must be one of 'valid' or 'same', got 'full' (a string)",
    ),
    case(
        "conv-padding-case",
        "Conv2D: {filters: 4, kernel_size: 3, padding: Same}",
        "<string>:3:51: layers[0] (Conv2D) padding: must be one of 'valid' or 'same', got 'Same' (a string); did you mean 'same'?",
    ),
    case(
        "conv-activation-name",
        "Conv2D: {filters: 4, kernel_size: 3, activation: relU}",
        "<string>:3:54: layers[0] (Conv2D) activation: unknown value 'relU' (a string); did you mean 'relu'?",
    ),
    case(
        "conv-use-bias-int",
        "Conv2D: {filters: 4, kernel_size: 3, use_bias: 1}",
        "<string>:3:52: layers[0] (Conv2D) use_bias: must be true or false, got 1",
    ),
    case(
        "conv-kernel-initializer",
        "Conv2D: {filters: 4, kernel_size: 3, kernel_initializer: he_normel}",
        "<string>:3:62: layers[0] (Conv2D) kernel_initializer: unknown value 'he_normel' (a string); did you mean 'he_normal'?",
    ),
    case(
        "conv-bias-initializer",
        "Conv2D: {filters: 4, kernel_size: 3, bias_initializer: zero}",
        "<string>:3:60: layers[0] (Conv2D) bias_initializer: unknown value 'zero' (a string); did you mean 'zeros'?",
    ),
    case(
        "conv-unknown-key",
        "Conv2D: {filter: 4, kernel_size: 3}",
        "<string>:3:14: layers[0] (Conv2D) filter: unknown field 'filter'; did you mean 'filters'?",
    ),
    case(
        "conv-missing-filters",
        "Conv2D: {kernel_size: 3}",
        "<string>:3:5: layers[0] (Conv2D) filters: required field is missing",
    ),
    case(
        "conv-missing-kernel",
        "Conv2D: {filters: 4}",
        "<string>:3:5: layers[0] (Conv2D) kernel_size: required field is missing",
    ),
    case(
        "conv-alias-kernel-zero",
        "Convolution2D: {filters: 4, kernel_size: 0}",
        "<string>:3:46: layers[0] (Conv2D) kernel_size: must be a positive integer, got 0",
    ),
    case(
        "conv-unknown-type",
        "Conv2d: {filters: 4, kernel_size: 3}",
        "<string>:3:5: layers[0] (Conv2d): unknown layer or activation type 'Conv2d'; did you mean 'Conv2D'?",
    ),
    case(
        "maxpool-size-zero",
        "MaxPooling2D: {pool_size: 0}",
        "<string>:3:31: layers[0] (MaxPooling2D) pool_size: must be a positive integer, got 0",
    ),
    case(
        "maxpool-size-triple",
        "MaxPooling2D: {pool_size: [2, 2, 2]}",
        "<string>:3:31: layers[0] (MaxPooling2D) pool_size: must be a positive integer or a list of two positive integers, got [2, 2, 2]",
    ),
    case(
        "maxpool-strides-zero",
        "MaxPooling2D: {strides: 0}",
        "<string>:3:29: layers[0] (MaxPooling2D) strides: must be a positive integer, got 0",
    ),
    case(
        "maxpool-padding",
        "MaxPooling2D: {padding: causal}",
        "<string>:3:29: layers[0] (MaxPooling2D) padding: must be one of 'valid' or 'same', got 'causal' (a string)",
    ),
    case(
        "maxpool-alias-padding",
        "MaxPool2D: {padding: full}",
        "<string>:3:26: layers[0] (MaxPooling2D) padding: must be one of 'valid' or 'same', got 'full' (a string)",
    ),
    case(
        "avgpool-size-negative",
        "AveragePooling2D: {pool_size: -2}",
        "<string>:3:35: layers[0] (AveragePooling2D) pool_size: must be a positive integer, got -2",
    ),
    case(
        "avgpool-strides-single",
        "AveragePooling2D: {strides: [2]}",
        "<string>:3:33: layers[0] (AveragePooling2D) strides: must be a positive integer or a list of two positive integers, got [2]",
    ),
    case(
        "avgpool-padding",
        "AvgPool2D: {padding: full}",
        "<string>:3:26: layers[0] (AveragePooling2D) padding: must be one of 'valid' or 'same', got 'full' (a string)",
    ),
    case(
        "globalmax-keepdims-int",
        "GlobalMaxPooling2D: {keepdims: 1}",
        "<string>:3:36: layers[0] (GlobalMaxPooling2D) keepdims: must be true or false, got 1",
    ),
    case(
        "globalmax-keepdims-quoted",
        'GlobalMaxPooling2D: {keepdims: "yes"}',
        "<string>:3:36: layers[0] (GlobalMaxPooling2D) keepdims: must be true or false, got 'yes' (a string)",
    ),
    case(
        "globalavg-unknown-key",
        "GlobalAveragePooling2D: {keepdim: true}",
        "<string>:3:30: layers[0] (GlobalAveragePooling2D) keepdim: unknown field 'keepdim'; did you mean 'keepdims'?",
    ),
    case(
        "flatten-unknown-key",
        "Flatten: {axis: 1}",
        "<string>:3:15: layers[0] (Flatten) axis: unknown field 'axis'",
    ),
    case(
        "dense-units-zero",
        "Dense: {units: 0}",
        "<string>:3:20: layers[0] (Dense) units: must be a positive integer, got 0",
    ),
    case(
        "dense-units-yes",
        "Dense: {units: yes}",
        "<string>:3:20: layers[0] (Dense) units: must be a positive integer, got true (a boolean)",
    ),
    case(
        "dense-units-quoted",
        'Dense: {units: "32"}',
        "<string>:3:20: layers[0] (Dense) units: must be a positive integer, got '32' (a string)",
    ),
    case(
        "dense-missing-units",
        "Dense: {activation: relu}",
        "<string>:3:5: layers[0] (Dense) units: required field is missing",
    ),
    case(
        "dense-unknown-key",
        "Dense: {unit: 10}",
        "<string>:3:13: layers[0] (Dense) unit: unknown field 'unit'; did you mean 'units'?",
    ),
    case(
        "dense-activation",
        "Dense: {units: 10, activation: softmx}",
        "<string>:3:36: layers[0] (Dense) activation: unknown value 'softmx' (a string); did you mean 'softmax'?",
    ),
    case(
        "dense-use-bias-int",
        "Dense: {units: 10, use_bias: 0}",
        "<string>:3:34: layers[0] (Dense) use_bias: must be true or false, got 0",
    ),
    case(
        "dense-kernel-initializer",
        "Dense: {units: 10, kernel_initializer: xavier}",
        "<string>:3:44: layers[0] (Dense) kernel_initializer: must be one of 'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal', 'lecun_uniform', 'lecun_normal', 'zeros', 'ones', 'random_normal' or 'random_uniform', got 'xavier' (a string)",
    ),
    case(
        "dropout-missing-rate",
        "Dropout: {}",
        "<string>:3:5: layers[0] (Dropout) rate: required field is missing",
    ),
    case(
        "dropout-rate-high",
        "Dropout: {rate: 1.5}",
        "<string>:3:21: layers[0] (Dropout) rate: must be <= 1.0, got 1.5",
    ),
    case(
        "dropout-rate-negative",
        "Dropout: {rate: -0.1}",
        "<string>:3:21: layers[0] (Dropout) rate: must be >= 0.0, got -0.1",
    ),
    case(
        "dropout-rate-quoted",
        'Dropout: {rate: "0.5"}',
        "<string>:3:21: layers[0] (Dropout) rate: must be a number, got '0.5' (a string)",
    ),
    case(
        "dropout-rate-nan",
        "Dropout: {rate: .nan}",
        "<string>:3:21: layers[0] (Dropout) rate: must be a finite number, got nan",
    ),
    case(
        "bn-epsilon-zero",
        "BatchNormalization: {epsilon: 0}",
        "<string>:3:35: layers[0] (BatchNormalization) epsilon: must be > 0.0, got 0",
    ),
    case(
        "bn-epsilon-negative",
        "BatchNormalization: {epsilon: -1e-3}",
        "<string>:3:35: layers[0] (BatchNormalization) epsilon: must be > 0.0, got -0.001",
    ),
    case(
        "bn-momentum-high",
        "BatchNormalization: {momentum: 2}",
        "<string>:3:36: layers[0] (BatchNormalization) momentum: must be <= 1.0, got 2",
    ),
    case(
        "bn-center-int",
        "BatchNormalization: {center: 1}",
        "<string>:3:34: layers[0] (BatchNormalization) center: must be true or false, got 1",
    ),
    case(
        "bn-scale-quoted",
        'BatchNormalization: {scale: "yes"}',
        "<string>:3:33: layers[0] (BatchNormalization) scale: must be true or false, got 'yes' (a string)",
    ),
    case(
        "bn-axis-float",
        "BatchNormalization: {axis: 1.5}",
        "<string>:3:32: layers[0] (BatchNormalization) axis: must be an integer, got 1.5",
    ),
    case(
        "bn-gamma-initializer",
        "BatchNormalization: {gamma_initializer: one}",
        "<string>:3:45: layers[0] (BatchNormalization) gamma_initializer: unknown value 'one' (a string); did you mean 'ones'?",
    ),
    case(
        "activation-missing",
        "Activation: {}",
        "<string>:3:5: layers[0] (Activation) activation: required field is missing",
    ),
    case(
        "activation-unknown",
        "Activation: {activation: Relu}",
        "<string>:3:30: layers[0] (Activation) activation: unknown value 'Relu' (a string); did you mean 'relu'?",
    ),
    # like every other message: what was received
    case(
        "activation-not-a-name",
        "Activation: {activation: 3}",
        "<string>:3:30: layers[0] (Activation) activation: must be an activation name or an advanced activation block, got 3",
    ),
    case(
        "relu-max-value",
        "ReLU: {max_value: -1}",
        "<string>:3:23: layers[0] (ReLU) max_value: must be >= 0.0, got -1",
    ),
    case(
        "relu-negative-slope",
        "ReLU: {negative_slope: -0.1}",
        "<string>:3:28: layers[0] (ReLU) negative_slope: must be >= 0.0, got -0.1",
    ),
    case(
        "relu-threshold",
        "ReLU: {threshold: -2}",
        "<string>:3:23: layers[0] (ReLU) threshold: must be >= 0.0, got -2",
    ),
    case(
        "relu-max-value-string",
        "ReLU: {max_value: six}",
        "<string>:3:23: layers[0] (ReLU) max_value: must be a number, got 'six' (a string)",
    ),
    case(
        "leaky-alpha-negative",
        "LeakyReLU: {alpha: -0.1}",
        "<string>:3:24: layers[0] (LeakyReLU) alpha: must be >= 0.0, got -0.1",
    ),
    case(
        "leaky-negative-slope-negative",
        "LeakyReLU: {negative_slope: -0.1}",
        "<string>:3:33: layers[0] (LeakyReLU) negative_slope: must be >= 0.0, got -0.1",
    ),
    case(
        "leaky-both",
        "LeakyReLU: {alpha: 0.1, negative_slope: 0.1}",
        "<string>:3:5: layers[0] (LeakyReLU): give alpha or its alias negative_slope, not both",
    ),
    case(
        "leaky-alpha-bool",
        "LeakyReLU: {alpha: true}",
        "<string>:3:24: layers[0] (LeakyReLU) alpha: must be a number, got true (a boolean)",
    ),
    case(
        "leaky-unknown-key",
        "LeakyReLU: {alpah: 0.1}",
        "<string>:3:17: layers[0] (LeakyReLU) alpah: unknown field 'alpah'; did you mean 'alpha'?",
    ),
    case(
        "prelu-initializer",
        "PReLU: {alpha_initializer: zero}",
        "<string>:3:32: layers[0] (PReLU) alpha_initializer: unknown value 'zero' (a string); did you mean 'zeros'?",
    ),
    # one problem per wrong value, not one per member of the int-or-list union
    case(
        "prelu-shared-axes-zero",
        "PReLU: {shared_axes: 0}",
        "<string>:3:26: layers[0] (PReLU) shared_axes: must be a positive integer, got 0",
    ),
    case(
        "prelu-shared-axes-item-zero",
        "PReLU: {shared_axes: [1, 0]}",
        "<string>:3:30: layers[0] (PReLU) shared_axes[1]: must be a positive integer, got 0",
    ),
    case(
        "elu-alpha-bool",
        "ELU: {alpha: yes}",
        "<string>:3:18: layers[0] (ELU) alpha: must be a number, got true (a boolean)",
    ),
    case(
        "thresholded-theta",
        "ThresholdedReLU: {theta: -1}",
        "<string>:3:30: layers[0] (ThresholdedReLU) theta: must be >= 0.0, got -1",
    ),
    case(
        "softmax-axis-quoted",
        'Softmax: {axis: "1"}',
        "<string>:3:21: layers[0] (Softmax) axis: must be an integer, got '1' (a string)",
    ),
    case(
        "zeropad-negative",
        "ZeroPadding2D: {padding: -1}",
        "<string>:3:30: layers[0] (ZeroPadding2D) padding: must be an integer >= 0, a pair [rows, cols] or [[top, bottom], [left, right]], got -1",
    ),
    case(
        "zeropad-triple",
        "ZeroPadding2D: {padding: [1, 2, 3]}",
        "<string>:3:30: layers[0] (ZeroPadding2D) padding: must be an integer >= 0, a pair [rows, cols] or [[top, bottom], [left, right]], got [1, 2, 3]",
    ),
    # a quoted number is shown as a string, as everywhere else
    case(
        "zeropad-quoted",
        'ZeroPadding2D: {padding: "1"}',
        "<string>:3:30: layers[0] (ZeroPadding2D) padding: must be an integer >= 0, a pair [rows, cols] or [[top, bottom], [left, right]], got '1' (a string)",
    ),
    case(
        "reshape-missing",
        "Reshape: {}",
        "<string>:3:5: layers[0] (Reshape) target_shape: required field is missing",
    ),
    case(
        "reshape-two-unknowns",
        "Reshape: {target_shape: [-1, -1]}",
        "<string>:3:29: layers[0] (Reshape) target_shape: must hold positive sizes and at most one -1, got [-1, -1]",
    ),
    case(
        "reshape-zero",
        "Reshape: {target_shape: [0, 3]}",
        "<string>:3:29: layers[0] (Reshape) target_shape: must hold positive sizes and at most one -1, got [0, 3]",
    ),
    case(
        "reshape-empty",
        "Reshape: {target_shape: []}",
        "<string>:3:29: layers[0] (Reshape) target_shape: must have at least 1 item(s)",
    ),
    case(
        "add-unknown-key",
        "Add: {axis: 1}",
        "<string>:3:11: layers[0] (Add) axis: unknown field 'axis'",
    ),
    case(
        "subtract-unknown-key",
        "Subtract: {input: [a, b]}",
        "<string>:3:16: layers[0] (Subtract) input: unknown field 'input'; did you mean 'inputs'?",
    ),
    case(
        "multiply-inputs-not-names",
        "Multiply: {inputs: [input, 3]}",
        "<string>:3:32: layers[0] (Multiply) inputs[1]: must be a string, got 3",
    ),
    case(
        "average-unknown-key",
        "Average: {weights: [1, 2]}",
        "<string>:3:15: layers[0] (Average) weights: unknown field 'weights'",
    ),
    case(
        "maximum-inputs-number",
        "Maximum: {inputs: 3}",
        "<string>:3:23: layers[0] (Maximum) inputs: must be a list, got 3",
    ),
    case(
        "minimum-unknown-key",
        "Minimum: {axis: 1}",
        "<string>:3:15: layers[0] (Minimum) axis: unknown field 'axis'",
    ),
    case(
        "concatenate-axis",
        "Concatenate: {axis: x}",
        "<string>:3:25: layers[0] (Concatenate) axis: must be an integer, got 'x' (a string)",
    ),
    case(
        "bare-unknown-activation",
        "relU",
        "<string>:3:5: layers[0] (relU): unknown layer or activation type 'relU'; did you mean 'relu'?",
    ),
    case(
        "bare-needs-arguments",
        "Dense",
        "<string>:3:5: layers[0] (Dense) units: required field is missing",
    ),
    *catalogue_cases.CONSTRAINTS,
]


def test_every_registry_type_has_a_constraint_case() -> None:
    covered = set()
    for param in CONSTRAINTS:
        entry = param.values[0]
        covered.add(TYPE_NAMES.get(entry.split(":")[0], entry))
    assert set(LAYERS) <= covered, set(LAYERS) - covered


@pytest.mark.parametrize(("entry", "expected"), CONSTRAINTS)
def test_constraint_violated_once(entry: str, expected: list[str]) -> None:
    assert error_lines(config(entry)) == expected


def test_an_error_names_the_file_it_was_read_from(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(config("Conv2D: {filters: 4, kernel_size: 0}"), encoding="utf-8")
    expected = [f"{path}:3:39: layers[0] (Conv2D) kernel_size: must be a positive integer, got 0"]
    assert error_lines(path) == expected
    assert error_lines(str(path)) == expected


def test_block_style_positions() -> None:
    text = """\
input_shape: [8, 8, 4]
layers:
  - type: Conv2D
    filters: 4
    kernel_size: 0
  - Dense:
      units: "10"
      activation: relu
"""
    assert error_lines(text) == [
        "<string>:5:18: layers[0] (Conv2D) kernel_size: must be a positive integer, got 0",
        "<string>:7:14: layers[1] (Dense) units: must be a positive integer, got '10' (a string)",
    ]


def test_every_error_of_a_file_is_reported_in_order() -> None:
    text = config(
        "Conv2D: {filters: 0, kernel_size: 3, padding: full}",
        "Flatten",
        "Dense: {units: -1}",
    )
    assert error_lines(text) == [
        "<string>:3:23: layers[0] (Conv2D) filters: must be a positive integer, got 0",
        "<string>:3:51: layers[0] (Conv2D) padding: must be one of 'valid' or 'same', got 'full' (a string)",
        "<string>:5:20: layers[2] (Dense) units: must be a positive integer, got -1",
    ]


def test_unknown_type_in_the_canonical_form_points_at_the_type_value() -> None:
    assert error_lines(config("{type: Conv2d, filters: 4, kernel_size: 3}")) == [
        "<string>:3:12: layers[0] (Conv2d): unknown layer or activation type 'Conv2d'; did you mean 'Conv2D'?"
    ]


def test_a_layer_that_is_not_a_mapping_or_a_name() -> None:
    problems = error_lines(config("3"))
    assert len(problems) == 1
    assert problems[0].startswith("<string>:3:5: layers[0]: ")
    assert "got 3" in problems[0]
    assert "Input should be" not in problems[0]  # no raw Pydantic wording


def test_a_layer_without_type() -> None:
    assert error_lines(config("{name: x}")) == [
        "<string>:3:5: layers[0]: has no type: write {type: Conv2D, ...} or {Conv2D: {...}}"
    ]


# --------------------------------------------------------------------------- names


def test_name_pattern() -> None:
    assert error_lines(config("Dense: {units: 1, name: 1st}")) == [
        "<string>:3:29: layers[0] (Dense) name: must match ^[A-Za-z_][A-Za-z0-9_.-]*$ (letters, digits, _ . -),"
        " got '1st' (a string)"
    ]
    assert error_lines(config('Flatten: {name: "a b"}')) == [
        "<string>:3:21: layers[0] (Flatten) name: must match ^[A-Za-z_][A-Za-z0-9_.-]*$ (letters, digits, _ . -),"
        " got 'a b' (a string)"
    ]


def test_name_must_be_a_string() -> None:
    assert error_lines(config("Flatten: {name: 7}")) == [
        "<string>:3:21: layers[0] (Flatten) name: must be a string, got 7"
    ]


def test_duplicate_name_names_the_earlier_layer() -> None:
    text = config("Flatten: {name: head}", "Dense: {units: 2}", "Dense: {units: 1, name: head}")
    assert error_lines(text) == [
        "<string>:5:29: layers[2] (Dense) name: duplicate layer name 'head', already used by layers[0] (line 3)"
    ]


def test_duplicate_of_an_automatic_name_is_not_an_error() -> None:
    # the user's `flatten` wins; the automatic name moves on (Keras would clash)
    spec = parse(config("Flatten", "Dense: {units: 3, name: flatten}"))
    assert spec.layer_names == ["flatten_1", "flatten"]


def test_input_is_reserved() -> None:
    assert error_lines(config("{type: Flatten, name: input}")) == [
        "<string>:3:27: layers[0] (Flatten) name: 'input' is reserved for the model input"
    ]


def test_name_problems_are_reported_with_the_other_errors() -> None:
    # SPEC 6: all errors of a file are reported, not only those of the first stage
    text = config("Dense: {units: 0}", "Flatten: {name: head}", "Flatten: {name: head}")
    assert error_lines(text) == [
        "<string>:3:20: layers[0] (Dense) units: must be a positive integer, got 0",
        "<string>:5:21: layers[2] (Flatten) name: duplicate layer name 'head', already used by layers[1] (line 4)",
    ]


# --------------------------------------------------------------------------- top level


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "name: net\nlayers: [Flatten]\n",
            ["<string>:1:1: input_shape: required field is missing"],
            id="missing-input-shape",
        ),
        pytest.param(
            "input_shape: [28, 0, 1]\nlayers: [Flatten]\n",
            ["<string>:1:19: input_shape[1]: must be a positive integer, got 0"],
            id="input-shape-zero",
        ),
        pytest.param(
            "input_shape: [28, 28, yes]\nlayers: [Flatten]\n",
            ["<string>:1:23: input_shape[2]: must be a positive integer, got true (a boolean)"],
            id="input-shape-boolean",
        ),
        pytest.param(
            "input_shape: []\nlayers: [Flatten]\n",
            ["<string>:1:14: input_shape: must have at least 1 item(s)"],
            id="input-shape-empty",
        ),
        pytest.param(
            "input_shape: 28\nlayers: [Flatten]\n",
            ["<string>:1:14: input_shape: must be a list, got 28"],
            id="input-shape-scalar",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\ndtype: int8\nlayers: [Flatten]\n",
            ["<string>:2:8: dtype: must be one of 'float32' or 'float64', got 'int8' (a string)"],
            id="dtype",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\ndtype: Float32\nlayers: [Flatten]\n",
            [
                "<string>:2:8: dtype: must be one of 'float32' or 'float64', got 'Float32' (a string);"
                " did you mean 'float32'?"
            ],
            id="dtype-case",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nseed: -1\nlayers: [Flatten]\n",
            ["<string>:2:7: seed: must be an integer >= 0, got -1"],
            id="negative-seed",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nseed: 1.5\nlayers: [Flatten]\n",
            ["<string>:2:7: seed: must be an integer >= 0, got 1.5"],
            id="float-seed",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nlayers: []\n",
            ["<string>:2:9: layers: must have at least 1 item(s)"],
            id="empty-layers",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nlayers: Flatten\n",
            ["<string>:2:9: layers: must be a list, got 'Flatten' (a string)"],
            id="layers-not-a-list",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\n",
            ["<string>:1:1: layers: required field is missing"],
            id="missing-layers",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nlayers: [Flatten]\noptimizer: adam\n",
            [
                "<string>:3:1: optimizer: unknown field 'optimizer' (top-level keys starting "
                "with 'x-' are ignored: a place for anchors)"
            ],
            id="unknown-top-level-key",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nlayers: [Flatten]\nseeds: 1\n",
            ["<string>:3:1: seeds: unknown field 'seeds'; did you mean 'seed'?"],
            id="unknown-top-level-key-close",
        ),
        pytest.param(
            "input_shape: [28, 28, 1]\nname: 3\nlayers: [Flatten]\n",
            ["<string>:2:7: name: must be a string, got 3"],
            id="model-name-not-a-string",
        ),
    ],
)
def test_top_level(text: str, expected: list[str]) -> None:
    assert error_lines(text) == expected


def test_top_level_values() -> None:
    spec = parse(
        "name: net\ninput_shape: [32, 32, 3]\ndtype: float64\nseed: 7\nlayers: [Flatten]\n"
    )
    assert (spec.name, spec.input_shape, spec.dtype, spec.seed) == (
        "net",
        (32, 32, 3),
        "float64",
        7,
    )
    spec = parse("input_shape: [10]\nlayers: [Flatten]\n")
    assert (spec.name, spec.input_shape, spec.dtype, spec.seed) == ("model", (10,), "float32", 0)
