"""Keras import/export of the catalogue layers (issue 13): DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose, UpSampling2D/1D, Cropping2D/1D, Rescaling, Normalization,
LayerNormalization, SpatialDropout2D, GaussianNoise, GaussianDropout, Identity, Permute,
RepeatVector, LayerScale, Conv1D, 1-D pooling and ZeroPadding1D.

The oracle is Keras's output stored beside each fixture.
"""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from interop_support import assert_matches_keras, assert_round_trip, import_fixture, invoke

import builder

CATALOGUE = [
    "cat_conv2d.keras",
    "cat_conv2d.h5",
    "cat_conv1d.keras",
    "cat_conv1d.h5",
    "cat_gap1d.keras",
    "cat_layer_scale.keras",  # ConvNeXt's LayerScale (module keras.src.applications.convnext)
    "cat_layer_scale.h5",
]


@pytest.mark.parametrize("filename", CATALOGUE)
def test_imported_model_computes_kerass_output(filename: str, tmp_path: Path) -> None:
    assert_matches_keras(filename, tmp_path)


@pytest.mark.parametrize("filename", CATALOGUE)
def test_import_export_import_keeps_config_and_weights(filename: str, tmp_path: Path) -> None:
    assert_round_trip(filename, tmp_path)


def test_catalogue_weights_keep_kerass_names(tmp_path: Path) -> None:
    config, weights = import_fixture("cat_conv2d.keras", tmp_path)
    model = builder.load(config)
    names = {key for key, _ in model.weight_specs()}
    assert {
        "depthwise_conv2d/kernel",  # Keras 3's name (Keras 2: depthwise_kernel)
        "separable_conv2d/depthwise_kernel",
        "separable_conv2d/pointwise_kernel",
        "conv2d_transpose/kernel",
        "layer_normalization/gamma",
        "layer_normalization/beta",
    } <= names
    config, _ = import_fixture("cat_conv1d.keras", tmp_path)
    names = {key for key, _ in builder.load(config).weight_specs()}
    assert {"normalization/mean", "normalization/variance", "normalization/count"} <= names


def _exported(tmp_path: Path, text: str, weights: dict[str, np.ndarray]) -> tuple[dict, list]:
    """(config.json, dataset paths and shapes of model.weights.h5) of `builder export`."""
    import h5py

    config = tmp_path / "m.yaml"
    config.write_text(text)
    np.savez(tmp_path / "m.npz", **weights)
    out = tmp_path / "m.keras"
    result = invoke("export", config, "--weights", tmp_path / "m.npz", "-o", out)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        described = json.loads(archive.read("config.json"))
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as store:
            found: list = []
            store.visititems(
                lambda name, obj: found.append((name, obj.shape)) if hasattr(obj, "shape") else None
            )
    return described, found


def test_export_writes_what_keras_3_reads_back(tmp_path: Path) -> None:
    """Keras 3.15's SpatialDropout2D takes no `trainable` argument, and a Normalization
    given mean/variance keeps them in its config with no variables (the fixtures show
    both); without mean/variance, its three variables are written, as after adapt()."""
    text = textwrap.dedent(
        """\
        input_shape: [4, 4, 2]
        layers:
          - Normalization: {mean: [1.0, 2.0], variance: [4.0, 9.0], name: given}
          - Normalization: {name: adapted}
          - SpatialDropout2D: {rate: 0.5, name: drop}
        """
    )
    weights = {
        "given/mean": np.array([0.5, -1.0], np.float32),
        "given/variance": np.array([2.0, 3.0], np.float32),
        "given/count": np.array(0.0, np.float32),
        "adapted/mean": np.array([1.0, 1.0], np.float32),
        "adapted/variance": np.array([1.0, 1.0], np.float32),
        "adapted/count": np.array(5.0, np.float32),
    }
    described, datasets = _exported(tmp_path, text, weights)
    layers = {layer["name"]: layer["config"] for layer in described["config"]["layers"]}
    assert "trainable" not in layers["drop"]
    assert layers["given"]["mean"] == [0.5, -1.0]  # the weights, not the config's start
    assert layers["given"]["variance"] == [2.0, 3.0]
    assert layers["adapted"]["mean"] is None
    owners = {name.split("/")[1] for name, _ in datasets}
    assert owners == {"normalization_1"}  # numbered per class: only `adapted` has vars
    assert sorted(shape for _, shape in datasets) == [(), (2,), (2,)]


def _tensor(source: str) -> dict:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 3], "dtype": "float32", "keras_history": [source, 0, 0]},
    }


def _op(class_name: str, name: str, args: list) -> dict:
    return {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {"name": name},
        "registered_name": None,
        "name": name,
        "inbound_nodes": [{"args": args, "kwargs": {}}],
    }


def test_arithmetic_with_a_number_imports_as_rescaling(tmp_path: Path) -> None:
    """Keras 3 saves `x + 3.0`, `x * c` and `c - x` on a tensor (MobileNetV3's hard
    sigmoid: ReLU6(x + 3)·(1/6)) as Add/Multiply/Subtract with a number among the args."""
    layers = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "x"},
            "registered_name": None,
            "name": "x",
            "inbound_nodes": [],
        },
        _op("Add", "plus", [_tensor("x"), 3.0]),
        _op("Multiply", "times", [_tensor("plus"), 0.5]),
        _op("Subtract", "minus", [2.0, _tensor("times")]),
        _op("Subtract", "less", [_tensor("minus"), 1.0]),
    ]
    model = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "arith",
            "layers": layers,
            "input_layers": [["x", 0, 0]],
            "output_layers": [["less", 0, 0]],
        },
    }
    source = tmp_path / "arith.json"
    source.write_text(json.dumps(model))
    result = invoke("import", source, "-o", tmp_path / "arith.yaml")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "arith.yaml").read_text()
    assert "Rescaling: {scale: 1.0, offset: 3.0, name: plus}" in text
    assert "Rescaling: {scale: 0.5, name: times}" in text
    assert "Rescaling: {scale: -1.0, offset: 2.0, name: minus}" in text
    assert "Rescaling: {scale: 1.0, offset: -1.0, name: less}" in text
    x = np.array([[-3.0, 0.0, 5.0]], np.float32)
    got = builder.load(tmp_path / "arith.yaml")(x)
    np.testing.assert_allclose(got, (2.0 - (x + 3.0) * 0.5) - 1.0)
