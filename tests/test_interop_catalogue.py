"""Keras import/export of the catalogue layers (issue 13): DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose, UpSampling2D/1D, Cropping2D/1D, Rescaling, Normalization,
LayerNormalization, SpatialDropout2D, GaussianNoise, GaussianDropout, Identity, Permute,
RepeatVector, LayerScale, Conv1D, 1-D pooling and ZeroPadding1D.

The oracle is Keras's output stored beside each fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from interop_support import assert_matches_keras, assert_round_trip, import_fixture

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
