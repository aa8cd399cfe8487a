"""`builder layers` (the catalogue) and `builder summarize --show-trainable`/`--batch-size`
(issue 12 items 16, 17). Expected texts are written from SPEC sections 3-4 and Keras's
documentation, not read back from the code under test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import catalogue_cases
import pytest
from click.testing import CliRunner, Result

from builder.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "configs" / "seed_cnn.yaml")

SPEC_LAYERS = (
    """Conv2D MaxPooling2D AveragePooling2D GlobalMaxPooling2D GlobalAveragePooling2D Flatten
Dense Dropout BatchNormalization Activation ReLU LeakyReLU PReLU ELU ThresholdedReLU Softmax
ZeroPadding2D Reshape Add Subtract Multiply Average Maximum Minimum Concatenate""".split()
    + list(catalogue_cases.LAYER_TYPES)
)
SPEC_ACTIVATIONS = """linear relu relu6 leaky_relu elu selu sigmoid hard_sigmoid tanh softmax
log_softmax softplus softsign silu swish hard_silu hard_swish gelu mish exponential""".split()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_catalogue_lists_every_layer_and_activation_once() -> None:
    result = invoke("layers")
    assert result.exit_code == 0, result.output
    first_words = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert sorted(first_words) == sorted(SPEC_LAYERS + SPEC_ACTIVATIONS)
    lines = result.stdout.splitlines()
    conv = next(line for line in lines if line.startswith("  Conv2D "))
    assert conv.endswith("(alias Convolution2D)")
    assert next(line for line in lines if line.startswith("  swish ")).endswith("alias of silu")


def field_line(text: str, name: str) -> list[str]:
    """The cells of a field's row (split on runs of 3+ spaces)."""
    line = next(line for line in text.splitlines() if line.startswith(f"  {name} "))
    return re.split(r"\s{3,}", line.strip())


def test_one_layer_shows_fields_defaults_constraints_and_formula() -> None:
    result = invoke("layers", "Conv2D")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Conv2D (alias Convolution2D)\n")
    assert "H' = floor((H − d·(kh − 1) − 1)/s) + 1" in text  # SPEC section 3's formula
    # SPEC section 3: filters; kernel_size; strides (1); padding (valid|same); groups (1); ...
    assert field_line(text, "filters") == ["filters", "int >= 1", "required"]
    assert field_line(text, "kernel_size") == [
        "kernel_size",
        "int >= 1 | [int >= 1, int >= 1]",
        "required",
    ]
    assert field_line(text, "strides")[2] == "default [1, 1]"
    assert field_line(text, "padding")[1:] == ["'valid' | 'same'", "default 'valid'"]
    assert field_line(text, "groups")[1:] == ["int >= 1", "default 1"]
    assert field_line(text, "kernel_initializer")[2] == "default 'glorot_uniform'"
    assert "Forms: Conv2D: {filters: ..., kernel_size: ...}" in text


@pytest.mark.parametrize(
    "type_name, field, cells",
    [
        ("Dropout", "rate", ["rate", "float >= 0, <= 1", "required"]),
        ("LeakyReLU", "alpha", ["alpha", "float >= 0", "default 0.3"]),
        (
            "MaxPool2D",
            "pool_size",
            ["pool_size", "int >= 1 | [int >= 1, int >= 1]", "default [2, 2]"],
        ),
        ("ELU", "alpha", ["alpha", "float", "default 1.0"]),
    ],
)
def test_keras_defaults_in_the_field_table(type_name: str, field: str, cells: list[str]) -> None:
    text = invoke("layers", type_name).stdout
    assert field_line(text, field) == cells


def test_positional_shorthand_is_shown() -> None:
    assert "Dense: VALUE (sets units)" in invoke("layers", "Dense").stdout
    assert "VALUE" not in invoke("layers", "Conv2D").stdout


def test_unknown_type_is_a_usage_error_with_a_suggestion() -> None:
    result = invoke("layers", "Dence")
    assert result.exit_code == 2
    assert "unknown layer type 'Dence'; did you mean 'Dense'?" in result.stderr
    result = invoke("layers", "relu")
    assert result.exit_code == 2
    assert "'relu' is an activation, not a layer type: write activation: relu" in result.stderr


# --------------------------------------------------------------------------- summarize


def test_show_trainable_column(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "input_shape: [4]\nlayers:\n  - Dense: {units: 3, trainable: false}\n"
        "  - BatchNormalization\n  - Dropout: 0.5\n  - Dense: 2\n"
    )
    result = invoke("summarize", str(path), "--show-trainable")
    assert result.exit_code == 0, result.output
    rows = [
        line.split() for line in result.stdout.splitlines() if line.startswith(" ") and "(" in line
    ]
    assert rows[0][:2] == ["Layer", "(type)"] and rows[0][-1] == "Trainable"
    # Keras: Y/N is the layer's flag for layers with weights, "-" for layers without
    assert [row[-1] for row in rows[1:]] == ["N", "Y", "-", "Y"]
    assert "Trainable" not in invoke("summarize", str(path)).stdout.splitlines()[2]


def test_batch_size_scales_the_macs_line() -> None:
    text = invoke("summarize", SEED, "--batch-size", "32").stdout
    # 2,756,736 MACs per sample (SPEC section 9's layers) · 32 = 88,215,552
    assert (
        "Total MACs: 2,756,736 (2.76 M) per sample; 88,215,552 (88.22 M) per batch of 32\n" in text
    )
    assert "Total MACs: 2,756,736 (2.76 M)\n" in invoke("summarize", SEED).stdout
    document = json.loads(
        invoke("summarize", SEED, "--batch-size", "32", "--format", "json").stdout
    )
    assert (document["total_macs"], document["batch_macs"]) == (2_756_736, 88_215_552)
    assert list(document["memory"]) == [
        "weights_bytes",
        "largest_activation_bytes",
        "activations_bytes",
    ]
