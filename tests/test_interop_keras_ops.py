"""Keras 3 operations in a functional config (`x + 3.0`, `x * (1/6)`, `a + b`), as
`keras.applications.MobileNetV3*` saves its hard sigmoid.

The fixtures are hand-written in the form Keras 3.15.1 saved MobileNetV3Small's
config.json (entries with `module: keras.src.ops.numpy`, constants among the node's
`args`): tests/fixtures/keras/ops_affine.json computes
y = (1 - x·relu6(x + 3)/6)/4 - 0.5 + x; ops_refused.json replaces two of its operations
by ones builder cannot express (a number divided by a tensor, Power). Also hand-written
after Keras 3.15.1's InceptionResNetV2 config: scaled_residual.json, whose
`keras.src.applications.inception_resnet_v2.CustomScaleLayer` computes
y = relu(x) + x·0.17, and scaled_residual_foreign.json, the same class from another module.
The oracle is each formula in NumPy. k2_mnv3.h5 was written by tf.keras 2
(make_k2_mobilenetv3.py): TFOpLambda arithmetic, '/' in layer names, `groups: 1` on
DepthwiseConv2D; its oracle is tf.keras's stored output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from interop_support import FIXTURES, assert_matches_keras, import_fixture, invoke

import builder


def test_operations_with_a_constant_become_rescaling(tmp_path: Path) -> None:
    config = tmp_path / "ops.yaml"
    result = invoke("import", FIXTURES / "ops_affine.json", "-o", config)
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert "Rescaling: {scale: 1.0, offset: 3.0, name: add}" in text
    assert "Rescaling: {scale: 0.16666666666666666, name: multiply}" in text
    assert "Rescaling: {scale: -1.0, offset: 1.0, name: subtract}" in text
    assert "Rescaling: {scale: 0.25, name: true_divide}" in text
    assert "Add: {inputs: [subtract_1, input], name: add_1}" in text
    model = builder.load(config)
    x = np.random.default_rng(3).uniform(-5, 5, (2, 2, 3, 4)).astype(np.float32)
    hard_swish = x * np.clip(x + 3, 0, 6) / 6
    expected = (1 - hard_swish) / 4 - 0.5 + x
    np.testing.assert_allclose(model(x), expected, rtol=1e-6, atol=1e-6)


def test_operations_builder_cannot_express_are_refused_by_name(tmp_path: Path) -> None:
    config = tmp_path / "ops.yaml"
    result = invoke("import", FIXTURES / "ops_refused.json", "-o", config)
    assert result.exit_code == 1
    assert "'true_divide'" in result.output and "TrueDivide" in result.output
    assert "'subtract_1'" in result.output and "Power" in result.output
    assert len(result.output.strip().splitlines()) == 2  # one line per problem
    assert not config.exists()


def test_inception_resnet_scale_layer_becomes_rescaling_and_add(tmp_path: Path) -> None:
    config = tmp_path / "scaled.yaml"
    result = invoke("import", FIXTURES / "scaled_residual.json", "-o", config)
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert "Rescaling: {scale: 0.17, inputs: [input], name: custom_scale_layer_scaled}" in text
    assert "Add: {inputs: [re_lu, custom_scale_layer_scaled], name: custom_scale_layer}" in text
    x = np.random.default_rng(4).normal(size=(2, 2, 2, 3)).astype(np.float32)
    expected = np.maximum(x, 0) + x * np.float32(0.17)
    np.testing.assert_allclose(builder.load(config)(x), expected, rtol=1e-6, atol=1e-7)


def test_scale_layer_of_another_module_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "scaled.yaml"
    result = invoke("import", FIXTURES / "scaled_residual_foreign.json", "-o", config)
    assert result.exit_code == 1
    assert "'custom_scale_layer'" in result.output and "my_project.layers" in result.output
    assert not config.exists()


def test_tf_keras_2_mobilenetv3_stem_matches_tf_keras(tmp_path: Path) -> None:
    assert_matches_keras("k2_mnv3.h5", tmp_path)
    config, _ = import_fixture("k2_mnv3.h5", tmp_path)
    text = config.read_text()
    assert "Rescaling: {scale: 1.0, offset: 3.0, name: tf.__operators__.add}" in text
    assert "name: Conv_BatchNorm}" in text
    assert "name: expanded_conv_depthwise_BatchNorm}" in text
    assert "groups" not in text


def test_invalid_keras_names_get_unique_valid_names() -> None:
    from builder.interop.keras_config import valid_names

    names = ["Conv/BatchNorm", "Conv_BatchNorm", "1x1", "ok.name-2"]
    assert valid_names(names) == {
        "Conv/BatchNorm": "Conv_BatchNorm_1",  # `Conv_BatchNorm` is another layer's
        "Conv_BatchNorm": "Conv_BatchNorm",
        "1x1": "_1x1",
        "ok.name-2": "ok.name-2",
    }
