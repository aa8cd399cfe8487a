"""`builder import` and `builder export` against files that Keras wrote (tests/fixtures/keras).

Oracles: Keras's own outputs stored beside each fixture, and Keras's own layer order in
the configs it saved. Hostile files must be refused with exit 1, one line per problem,
and nothing written.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from interop_support import (
    FIXTURES,
    arrays,
    assert_matches_keras,
    assert_round_trip,
    body,
    import_fixture,
    invoke,
)

import builder
from builder.interop.keras_config import order_layers
from builder.interop.keras_export import keras_order

ROOT = Path(__file__).resolve().parent.parent

WITH_WEIGHTS = [
    "seq_cnn.keras",  # Keras 3 archive, Sequential
    "seq_cnn.h5",  # Keras 3 legacy HDF5
    "func_merge.keras",  # every merge, graph layers, advanced activations, nested Sequential
    "func_merge.h5",
    "nested.keras",  # a Functional inside a Functional
    "nested.h5",
    "seq_f64.keras",  # float64
    "seq_f64.h5",
    "func_f64.keras",
    "k2_seq.h5",  # tf.keras 2 layout: batch_input_shape, LeakyReLU alpha, `kernel:0` names
    "k2_func.h5",  # tf.keras 2 functional: [[name, node, tensor, kwargs]] and a nested model
]


@pytest.mark.parametrize("filename", WITH_WEIGHTS)
def test_imported_model_computes_kerass_output(filename: str, tmp_path: Path) -> None:
    assert_matches_keras(filename, tmp_path)


REWRITTEN = {"k2_func.h5": ("ThresholdedReLU: {theta: 0.3,", "ReLU: {threshold: 0.3,")}


@pytest.mark.parametrize("filename", WITH_WEIGHTS)
def test_import_export_import_keeps_config_and_weights(filename: str, tmp_path: Path) -> None:
    assert_round_trip(filename, tmp_path, REWRITTEN.get(filename, ("", "")))


@pytest.mark.parametrize(
    ("json_file", "full_file"),
    [
        ("seq_cnn.json", "seq_cnn.keras"),
        ("func_merge.json", "func_merge.keras"),
        ("k2_seq.json", "k2_seq.h5"),
        ("k2_func.json", "k2_func.h5"),
    ],
)
def test_model_json_gives_the_architecture_only(
    json_file: str, full_file: str, tmp_path: Path
) -> None:
    config = tmp_path / "from_json.yaml"
    result = invoke("import", FIXTURES / json_file, "-o", config)
    assert result.exit_code == 0, result.output
    assert not config.with_suffix(".npz").exists()
    full, _ = import_fixture(full_file, tmp_path)
    assert body(config) == body(full)


def test_sequential_without_input_layer_takes_build_input_shape(tmp_path: Path) -> None:
    """Keras 3 `Sequential([...]).build((None, 12, 12, 2))` stores no InputLayer."""
    model = json.loads((FIXTURES / "seq_cnn.json").read_text())
    model["config"]["layers"].pop(0)
    model["config"]["build_input_shape"] = [None, 12, 12, 2]
    (tmp_path / "built.json").write_text(json.dumps(model))
    result = invoke("import", tmp_path / "built.json", "-o", tmp_path / "built.yaml")
    assert result.exit_code == 0, result.output
    full, _ = import_fixture("seq_cnn.keras", tmp_path)
    assert body(tmp_path / "built.yaml") == body(full)


def test_weights_go_where_asked(tmp_path: Path) -> None:
    config, weights = tmp_path / "m.yaml", tmp_path / "elsewhere.npz"
    result = invoke("import", FIXTURES / "seq_cnn.keras", "-o", config, "--weights", weights)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.npz", "m.yaml"]
    assert "c1/kernel" in arrays(weights)


def test_config_text_is_what_a_keras_user_writes(tmp_path: Path) -> None:
    config, _ = import_fixture("seq_cnn.keras", tmp_path)
    lines = config.read_text().splitlines()
    assert lines[0] == "# yaml-language-server: $schema=../schemas/model.schema.json"
    assert lines[2:] == [
        "name: seq_cnn",
        "input_shape: [12, 12, 2]",
        "layers:",
        "  - Conv2D: {filters: 4, kernel_size: 3, name: c1}",
        "  - LeakyReLU: {alpha: 0.05, name: leaky_re_lu}",
        "  - MaxPooling2D: {name: max_pooling2d}",
        "  - Conv2D: {filters: 6, kernel_size: 3, strides: 2, padding: same, activation: relu, name: conv2d}",
        "  - BatchNormalization: {name: batch_normalization}",
        "  - AveragePooling2D: {strides: 1, padding: same, name: average_pooling2d}",
        "  - Flatten: {name: flatten}",
        "  - Dropout: {rate: 0.25, name: dropout}",
        "  - Dense: {units: 5, activation: softmax, name: dense}",
    ]


def test_nested_models_are_flattened_with_prefixed_names(tmp_path: Path) -> None:
    config, weights = import_fixture("func_merge.keras", tmp_path)
    spec = builder.parse(config)
    assert "inner.global_max_pooling2d" in spec.layer_names
    assert "inner.conv2d_2/kernel" in arrays(weights)
    # Only layers that do not read the previous one name their inputs.
    text = config.read_text()
    assert "{name: reshape" in text.replace("target_shape: [3], ", "")


def test_keras2_arguments_and_float32_noise_are_cleaned(tmp_path: Path) -> None:
    config, _ = import_fixture("k2_func.h5", tmp_path)
    text = config.read_text()
    assert "ThresholdedReLU: {theta: 0.3," in text  # 0.30000001192092896 in the file
    assert "dtype" not in text and "trainable" not in text


def test_float64_model_imports_as_float64(tmp_path: Path) -> None:
    config, weights = import_fixture("seq_f64.keras", tmp_path)
    assert "dtype: float64" in config.read_text()
    assert all(array.dtype == np.float64 for array in arrays(weights).values())


# --- hostile files ---------------------------------------------------------------------


def refused(args: list[object], tmp_path: Path) -> list[str]:
    """Runs a command that must fail; returns its stderr lines; checks nothing was written."""
    before = set(tmp_path.iterdir())
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert set(tmp_path.iterdir()) == before
    return result.stderr.strip().splitlines()


def import_refused(model: Path, tmp_path: Path, *extra: str) -> list[str]:
    return refused(["import", model, "-o", tmp_path / "out.yaml", *extra], tmp_path)


def test_lambda_is_refused_with_its_name_and_position(tmp_path: Path) -> None:
    (line,) = import_refused(FIXTURES / "hostile_lambda.keras", tmp_path)
    with zipfile.ZipFile(FIXTURES / "hostile_lambda.keras") as archive:
        text = archive.read("config.json").decode()
    column = text.index('"name": "double"') + 1
    assert line == (
        f"{FIXTURES / 'hostile_lambda.keras'}:config.json:1:{column}: layer 'double': "
        "Lambda layers hold code and are refused"
    )


def test_every_custom_object_is_listed(tmp_path: Path) -> None:
    lines = import_refused(FIXTURES / "hostile_custom.keras", tmp_path)
    assert len(lines) == 2
    assert "layer 'scale': custom object 'evil>Scale'" in lines[0]
    assert "layer 'scale_again': custom object 'evil>Scale'" in lines[1]


def test_zip_bomb_is_refused_before_decompressing(tmp_path: Path) -> None:
    (line,) = import_refused(FIXTURES / "hostile_bomb.keras", tmp_path)
    assert "member model.weights.h5 would inflate" in line and "200,000,000 bytes" in line
    assert "at most 1,000 is accepted: a zip bomb?" in line


def test_member_over_the_memory_cap_is_refused(tmp_path: Path) -> None:
    (line,) = import_refused(FIXTURES / "seq_cnn.keras", tmp_path, "--max-memory", "1000")
    assert "over the memory limit of 1000.00 B (raise it with --max-memory)" in line


def test_truncated_archive_is_refused(tmp_path: Path) -> None:
    (line,) = import_refused(FIXTURES / "hostile_truncated.keras", tmp_path)
    assert "damaged or truncated archive" in line


def test_missing_weight_is_refused(tmp_path: Path) -> None:
    (line,) = import_refused(FIXTURES / "hostile_missing_weight.keras", tmp_path)
    assert line.endswith("hostile_missing_weight.keras: missing dense/bias (5,)")


def test_wrong_weight_shapes_are_all_listed(tmp_path: Path) -> None:
    lines = import_refused(FIXTURES / "hostile_wrong_shape.keras", tmp_path)
    assert [line.split(": ", 1)[1] for line in lines] == [
        "c1/bias has shape (3,), expected (4,)",
        "dense/kernel has shape (7, 5), expected (54, 5)",
    ]


def test_hdf5_links_out_of_the_file_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "linked.h5"
    model.write_bytes((FIXTURES / "seq_cnn.h5").read_bytes())
    with h5py.File(model, "r+") as store:
        group = store["model_weights/dense/seq_cnn/dense"]
        del group["kernel"]
        group["kernel"] = h5py.ExternalLink("/etc/elsewhere.h5", "/secret")
    (line,) = import_refused(model, tmp_path)
    assert line.endswith("kernel is a link (ExternalLink); refused")


def edited_json(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    config = json.loads((FIXTURES / "seq_cnn.json").read_text())
    edit(config["config"]["layers"])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def test_unknown_classes_and_foreign_modules_are_refused(tmp_path: Path) -> None:
    def edit(layers: list[dict]) -> None:  # type: ignore[type-arg]
        layers[1]["class_name"] = "FancyConv"
        layers[-1]["module"] = "evil.layers"
        layers[2]["config"]["data_format"] = "channels_first"

    model = edited_json(tmp_path, edit)
    lines = import_refused(model, tmp_path)
    assert len(lines) == 3
    # Positions are lines of the (indented) JSON file, where the layer's name stands.
    text = model.read_text().splitlines()
    for line, layer, message in zip(
        lines,
        ["c1", "leaky_re_lu", "dense"],
        [
            "layer class FancyConv is not supported by builder",
            "data_format='channels_first' is not supported",
            "class Dense from module 'evil.layers' is not a Keras layer",
        ],
        strict=True,
    ):
        number = int(line.split(":")[1])
        assert f'"name": "{layer}"' in text[number - 1]
        assert f"layer '{layer}'" in line and message in line


def test_without_h5py_one_line_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    (line,) = import_refused(FIXTURES / "seq_cnn.keras", tmp_path)
    assert line == (
        "builder import needs the 'keras' extra: pip install \"yaml-model-builder[keras]\""
    )


# --- export ----------------------------------------------------------------------------


def keras_config(path: Path) -> dict:  # type: ignore[type-arg]
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))  # type: ignore[no-any-return]


def test_layer_order_is_kerass_own(tmp_path: Path) -> None:
    """Keras saved its Functional layers in its own order: ours must reproduce it, since
    it numbers the weight paths (`layers/conv2d_1/vars/0`)."""
    for name in ("func_merge.keras", "func_f64.keras"):
        layers = keras_config(FIXTURES / name)["config"]["layers"]
        graph = []
        for layer in layers[1:]:
            refs: list[str] = []
            found = json.dumps(layer["inbound_nodes"])
            for part in found.split('"keras_history": ["')[1:]:
                refs.append(part.split('"')[0])
            graph.append((layer["name"], [r.replace(layers[0]["name"], "input") for r in refs]))
        shuffled = sorted(graph, key=lambda item: item[0])
        expected = ["input"] + [layer["name"] for layer in layers[1:]]
        output = keras_config(FIXTURES / name)["config"]["output_layers"][0]
        assert keras_order(order_layers(shuffled), output) == expected


def test_reshape_keeps_its_list_while_sizes_become_integers(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "input_shape: [4, 4, 2]\nlayers:\n"
        "  - Conv2D: {filters: 2, kernel_size: [3, 3], padding: same}\n"
        "  - Reshape: {target_shape: [8, 4]}\n"
    )
    exported = tmp_path / "c.keras"
    assert invoke("export", config, "-o", exported).exit_code == 0
    back = tmp_path / "back.yaml"
    assert invoke("import", exported, "-o", back).exit_code == 0
    assert "kernel_size: 3," in back.read_text()
    assert "target_shape: [8, 4]" in back.read_text()


def test_branches_stay_together() -> None:
    graph = [("a", ["input"]), ("b", ["input"]), ("a2", ["a"]), ("b2", ["b"]), ("m", ["a2", "b2"])]
    assert [name for name, _ in order_layers(graph)] == ["a", "a2", "b", "b2", "m"]


@pytest.mark.parametrize(
    "name", ["seed_cnn", "resnet_small", "inception_block", "small_vgg", "unet_encoder"]
)
def test_export_then_import_gives_the_same_model(name: str, tmp_path: Path) -> None:
    source = ROOT / "configs" / f"{name}.yaml"
    weights = tmp_path / "w.npz"
    assert invoke("init", source, "-o", weights).exit_code == 0
    exported = tmp_path / f"{name}.keras"
    result = invoke("export", source, "--weights", weights, "-o", exported)
    assert result.exit_code == 0, result.output
    config = tmp_path / "back.yaml"
    assert invoke("import", exported, "-o", config).exit_code == 0
    original, back = builder.parse(source), builder.parse(config)
    assert back.input_shape == original.input_shape and back.dtype == original.dtype
    # Export may reorder independent branches (Keras's order); each layer and what it
    # reads stay the same.
    ours = {layer.name: layer.model_dump(exclude={"inputs"}) for layer in original.layers}
    theirs = {layer.name: layer.model_dump(exclude={"inputs"}) for layer in back.layers}
    assert ours == theirs
    reads = {node.name: node.inputs for node in builder.load(source).nodes}
    assert reads == {node.name: node.inputs for node in builder.load(config).nodes}
    first, second = arrays(weights), arrays(config.with_suffix(".npz"))
    assert sorted(first) == sorted(second)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_export_writes_kerass_weight_layout(tmp_path: Path) -> None:
    source = ROOT / "configs" / "seed_cnn.yaml"
    exported = tmp_path / "seed.keras"
    assert invoke("export", source, "-o", exported).exit_code == 0
    with zipfile.ZipFile(exported) as archive:
        names, blob = archive.namelist(), archive.read("model.weights.h5")
    assert sorted(names) == ["config.json", "metadata.json", "model.weights.h5"]
    config = keras_config(exported)
    assert config["class_name"] == "Functional"
    classes = [layer["class_name"] for layer in config["config"]["layers"]]
    assert classes[:3] == ["InputLayer", "Conv2D", "LeakyReLU"]
    assert config["config"]["layers"][2]["config"]["negative_slope"] == 0.05
    with h5py.File(io.BytesIO(blob)) as store:
        assert store["layers/conv2d/vars/0"].shape == (3, 3, 1, 32)
        assert store["layers/conv2d_2/vars/1"].shape == (64,)


def test_keras3_gaps_are_rewritten_as_equivalents(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "input_shape: [6, 6, 2]\nlayers:\n"
        "  - Conv2D: {filters: 3, kernel_size: 3, activation: {PReLU: {}}, name: conv}\n"
        "  - ThresholdedReLU: {theta: 0.5}\n"
    )
    exported = tmp_path / "c.keras"
    assert invoke("export", config, "-o", exported).exit_code == 0
    layers = keras_config(exported)["config"]["layers"]
    assert [(layer["class_name"], layer["name"]) for layer in layers] == [
        ("InputLayer", "input"),
        ("Conv2D", "conv"),
        ("PReLU", "conv_activation"),
        ("ReLU", "thresholded_re_lu"),
    ]
    assert layers[3]["config"]["threshold"] == 0.5
    # The rewritten model computes what the original does.
    back = tmp_path / "back.yaml"
    assert invoke("import", exported, "-o", back).exit_code == 0
    original, again = builder.load(config), builder.load(back)
    again.load_weights(back.with_suffix(".npz"))
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype("float32")
    np.testing.assert_array_equal(original(x), again(x))


def test_export_refuses_what_keras_cannot_hold(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "input_shape: [9, 9, 1]\nlayers:\n"
        "  - Conv2D: {filters: 2, kernel_size: 3, strides: 2, dilation_rate: 2, name: both}\n"
    )
    (line,) = refused(["export", config, "-o", tmp_path / "c.keras"], tmp_path)
    assert (
        "layer 'both' (Conv2D): Keras 3 refuses strides > 1 together with dilation_rate > 1" in line
    )
    (line,) = refused(["export", config, "-o", tmp_path / "c.txt"], tmp_path)
    assert "export writes .keras or .onnx files; Received: .txt" in line
