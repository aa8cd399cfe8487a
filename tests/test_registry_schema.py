"""One list of names: the registry, the Pydantic union and the JSON Schema agree, and the
committed schema, the example configs and the schema agree with each other.

The expected names are written here from SPEC sections 3 and 4, so that a layer or an
activation added to one place only (or to none of them) fails a test.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import catalogue_cases
import jsonschema
import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.config import parse
from builder.errors import ConfigError
from builder.layers.base import Layer
from builder.loader import load_document
from builder.ops.activations import ACTIVATIONS
from builder.ops.names import ACTIVATION_NAMES
from builder.registry import LAYERS
from builder.spec import layers as spec_layers
from builder.spec.layers import ADVANCED_ACTIVATIONS, TYPE_NAMES
from builder.spec.layers.activation import ActivationName
from builder.spec.model import ModelSpec
from builder.spec.schema import json_schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_SCHEMA = ROOT / "schemas" / "model.schema.json"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/model.schema.json"

LAYER_TYPES = [
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling2D",
    "Flatten",
    "Dense",
    "Dropout",
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "ThresholdedReLU",
    "Softmax",
    "ZeroPadding2D",
    "Reshape",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    *catalogue_cases.LAYER_TYPES,
]
ALIASES = {
    "Convolution2D": "Conv2D",
    "MaxPool2D": "MaxPooling2D",
    "AvgPool2D": "AveragePooling2D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    **catalogue_cases.ALIASES,
}
ADVANCED = ["ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax"]
ACTIVATION_STRINGS = [
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "silu",
    "swish",
    "hard_silu",
    "hard_swish",
    "gelu",
    "mish",
    "exponential",
]


def union_members() -> tuple[type, ...]:
    """The models of `ModelSpec.layers`' discriminated union."""
    (item,) = typing.get_args(ModelSpec.model_fields["layers"].annotation)
    union = typing.get_args(item)[0]
    return typing.get_args(union)


def committed_schema() -> dict[str, Any]:
    return json.loads(COMMITTED_SCHEMA.read_text(encoding="utf-8"))


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(committed_schema())


# --------------------------------------------------------------------------- registry and union


def test_registry_lists_the_spec_layer_types() -> None:
    assert list(LAYERS) == LAYER_TYPES
    assert TYPE_NAMES == {**{name: name for name in LAYER_TYPES}, **ALIASES}
    for name, entry in LAYERS.items():
        assert entry.type_name == name
        assert entry.aliases == tuple(
            alias for alias, canonical in ALIASES.items() if canonical == name
        )


def test_union_has_one_model_per_registry_entry() -> None:
    assert union_members() == tuple(entry.spec for entry in LAYERS.values())
    names = [name for member in union_members() for name in member.type_names()]
    assert sorted(names) == sorted(TYPE_NAMES)


def test_activation_names_agree() -> None:
    assert list(ACTIVATION_NAMES) == ACTIVATION_STRINGS
    assert sorted(ACTIVATIONS) == sorted(ACTIVATION_STRINGS)
    assert list(typing.get_args(ActivationName)) == ACTIVATION_STRINGS
    assert not set(ACTIVATION_STRINGS) & set(TYPE_NAMES)  # a bare string is never ambiguous


def test_advanced_activations_agree() -> None:
    assert list(ADVANCED_ACTIVATIONS) == ADVANCED
    assert [spec.canonical_type() for spec in spec_layers.ADVANCED_ACTIVATION_SPECS] == ADVANCED


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_layer_class_is_a_layer_of_its_spec(type_name: str) -> None:
    cls = LAYERS[type_name].layer
    assert isinstance(cls, type) and issubclass(cls, Layer)
    spec = LAYERS[type_name].spec
    base = next(b for b in getattr(cls, "__orig_bases__", ()) if typing.get_args(b))
    (spec_type,) = typing.get_args(base)
    assert spec_type is spec  # Layer[XSpec] names the registry's spec model
    assert cls.__name__ == type_name


# --------------------------------------------------------------------------- JSON Schema names


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_lists_every_type_name_in_every_layer_form() -> None:
    schema = json_schema()
    canonical, shorthand, bare = schema["properties"]["layers"]["items"]["anyOf"]
    assert set(canonical["discriminator"]["mapping"]) == set(TYPE_NAMES)
    refs = {item["$ref"].rsplit("/", 1)[1] for item in canonical["oneOf"]}
    assert refs == {entry.spec.__name__ for entry in LAYERS.values()}
    assert set(shorthand["properties"]) == set(TYPE_NAMES)
    assert bare["enum"] == sorted(TYPE_NAMES) + ACTIVATION_STRINGS


@pytest.mark.parametrize("type_name", LAYER_TYPES)
def test_schema_definition_of_each_type_names_it_and_its_aliases(type_name: str) -> None:
    definition = json_schema()["$defs"][LAYERS[type_name].spec.__name__]
    type_property = definition["properties"]["type"]
    names = type_property.get("enum", [type_property.get("const")])
    assert names == [
        type_name,
        *(alias for alias, canonical in ALIASES.items() if canonical == type_name),
    ]
    assert definition["additionalProperties"] is False


def test_schema_activation_names_and_blocks() -> None:
    schema = json_schema()
    value = schema["$defs"]["ActivationValue"]["anyOf"]
    names = [option["enum"] for option in value if "enum" in option]
    assert names == [ACTIVATION_STRINGS, ADVANCED]  # `activation: LeakyReLU` too
    blocks = [option for option in value if "discriminator" in option]
    assert len(blocks) == 1
    assert sorted(blocks[0]["discriminator"]["mapping"]) == sorted(ADVANCED)
    assert list(schema["$defs"]["ActivationShorthand"]["properties"]) == ADVANCED
    for definition in ("Conv2DSpec", "DenseSpec", "ActivationSpec"):
        activation = schema["$defs"][definition]["properties"]["activation"]
        assert activation["$ref"] == "#/$defs/ActivationValue"


# --------------------------------------------------------------------------- committed schema


def test_committed_schema_is_up_to_date() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == schema_text()
    committed = COMMITTED_SCHEMA.read_text(encoding="utf-8")
    assert committed == result.stdout, (
        "schemas/model.schema.json is out of date: run `builder schema -o schemas/model.schema.json`"
    )


# --------------------------------------------------------------------------- example configs


def test_there_are_example_configs() -> None:
    names = {path.name for path in CONFIGS}
    assert {
        "seed_cnn.yaml",
        "mnist_convnet.yaml",
        "small_vgg.yaml",
        "advanced_activations.yaml",
        "entry_forms.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_config_starts_with_the_schema_line(path: Path) -> None:
    assert path.read_text(encoding="utf-8").split("\n", 1)[0] == SCHEMA_LINE


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_config_parses(path: Path) -> None:
    spec = parse(path)
    assert spec.layers
    assert len(set(spec.layer_names)) == len(spec.layers)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_config_is_valid_under_the_committed_schema(path: Path) -> None:
    data = load_document(path.read_text(encoding="utf-8"), str(path)).data
    errors = [f"{list(error.path)}: {error.message}" for error in validator().iter_errors(data)]
    assert errors == []


VALID = """\
input_shape: [28, 28, 1]
layers:
  - {type: Conv2D, filters: 8, kernel_size: 3, activation: {type: LeakyReLU, alpha: 0.1}}
  - Conv2D: {filters: 8, kernel_size: [3, 3], padding: same, activation: {PReLU: null}}
  - MaxPool2D
  - Flatten:
  - relu
  - Dense: {units: 10, activation: softmax}
"""


def test_schema_accepts_every_entry_form() -> None:
    data = load_document(VALID).data
    assert list(validator().iter_errors(data)) == []
    parse(VALID)


@pytest.mark.parametrize(
    ("replace", "by"),
    [
        pytest.param(
            "filters: 8, kernel_size: 3,",
            "filter: 8, kernel_size: 3,",
            id="unknown-field-canonical",
        ),
        pytest.param("padding: same", "padding: full", id="bad-padding-shorthand"),
        pytest.param("padding: same", "paddings: same", id="unknown-field-shorthand"),
        pytest.param("kernel_size: 3,", "kernel_size: 0,", id="zero-kernel"),
        pytest.param("kernel_size: [3, 3]", "kernel_size: [3, 3, 3]", id="kernel-triple"),
        pytest.param("- MaxPool2D", "- MaxPool2d", id="unknown-bare-type"),
        pytest.param("- relu", "- relU", id="unknown-activation-name"),
        pytest.param("Dense: {units", "Dense2: {units", id="unknown-shorthand-type"),
        pytest.param("{PReLU: null}", "{PReLU: {alpha: 1}}", id="unknown-field-inline-activation"),
        pytest.param("activation: softmax", "activation: softmx", id="unknown-activation-value"),
        pytest.param("alpha: 0.1", "alpha: -0.1", id="negative-alpha"),
        pytest.param("units: 10", 'units: "10"', id="quoted-units"),
        pytest.param(
            "input_shape: [28, 28, 1]", "input_shape: [28, 28, 1]\nseeds: 3", id="unknown-top-level"
        ),
        pytest.param(
            "input_shape: [28, 28, 1]", "input_shape: [28, 28, 1]\ndtype: float16", id="bad-dtype"
        ),
        pytest.param(
            "input_shape: [28, 28, 1]", "input_shape: [28, 0, 1]", id="zero-in-input-shape"
        ),
    ],
)
def test_schema_and_parse_both_refuse(replace: str, by: str) -> None:
    assert replace in VALID
    text = VALID.replace(replace, by, 1)
    data = load_document(text).data
    assert list(validator().iter_errors(data)) != [], "the JSON Schema accepted it"
    with pytest.raises(ConfigError):
        parse(text)
