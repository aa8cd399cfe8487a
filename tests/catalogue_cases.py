"""The catalogue layers' rows (issue 13) of the shared per-type tables in
`test_spec_layers.py` (Keras 3 defaults, one violated constraint each) and
`test_registry_schema.py` (type names and aliases). The defaults are Keras 3.15.1's
signatures (`keras.layers.DepthwiseConv2D(kernel_size, strides=(1, 1), padding="valid",
depth_multiplier=1, ...)`), written here by hand, not read from the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest

CONV = {
    "strides": (1, 1),
    "padding": "valid",
    "dilation_rate": (1, 1),
    "activation": "linear",
    "use_bias": True,
    "bias_initializer": "zeros",
    "data_format": "channels_last",
}
POOL1D = {"pool_size": 2, "strides": 2, "padding": "valid", "data_format": "channels_last"}
GLOBAL = {"keepdims": False, "data_format": "channels_last"}

LAYER_TYPES = [
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2DTranspose",
    "UpSampling2D",
    "Cropping2D",
    "Rescaling",
    "Normalization",
    "LayerNormalization",
    "LayerScale",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "Permute",
    "RepeatVector",
    "Identity",
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "UpSampling1D",
    "ZeroPadding1D",
    "Cropping1D",
]
ALIASES = {
    "SeparableConvolution2D": "SeparableConv2D",
    "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution1D": "Conv1D",
    "MaxPool1D": "MaxPooling1D",
    "AvgPool1D": "AveragePooling1D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
}

DEFAULTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "DepthwiseConv2D": (
        "DepthwiseConv2D: {kernel_size: 3}",
        "depthwise_conv2d",
        {
            "type": "DepthwiseConv2D",
            "kernel_size": (3, 3),
            **CONV,
            "depth_multiplier": 1,
            "depthwise_initializer": "glorot_uniform",
        },
    ),
    "SeparableConv2D": (
        "SeparableConv2D: {filters: 8, kernel_size: 3}",
        "separable_conv2d",
        {
            "type": "SeparableConv2D",
            "filters": 8,
            "kernel_size": (3, 3),
            **CONV,
            "depth_multiplier": 1,
            "depthwise_initializer": "glorot_uniform",
            "pointwise_initializer": "glorot_uniform",
        },
    ),
    "Conv2DTranspose": (
        "Conv2DTranspose: {filters: 8, kernel_size: 3}",
        "conv2d_transpose",
        {
            "type": "Conv2DTranspose",
            "filters": 8,
            "kernel_size": (3, 3),
            **CONV,
            "output_padding": None,
            "kernel_initializer": "glorot_uniform",
        },
    ),
    "UpSampling2D": (
        "UpSampling2D",
        "up_sampling2d",
        {
            "type": "UpSampling2D",
            "size": (2, 2),
            "interpolation": "nearest",
            "data_format": "channels_last",
        },
    ),
    "Cropping2D": (
        "Cropping2D",
        "cropping2d",
        {"type": "Cropping2D", "cropping": ((0, 0), (0, 0)), "data_format": "channels_last"},
    ),
    "Rescaling": (
        "Rescaling: {scale: 0.5}",
        "rescaling",
        {"type": "Rescaling", "scale": 0.5, "offset": 0.0},
    ),
    "Normalization": (
        "Normalization",
        "normalization",
        {"type": "Normalization", "axis": (-1,), "mean": None, "variance": None, "invert": False},
    ),
    "LayerNormalization": (
        "LayerNormalization",
        "layer_normalization",
        {
            "type": "LayerNormalization",
            "axis": (-1,),
            "epsilon": 0.001,
            "center": True,
            "scale": True,
            "rms_scaling": False,
            "beta_initializer": "zeros",
            "gamma_initializer": "ones",
        },
    ),
    "LayerScale": (
        "LayerScale: {init_values: 0.1, projection_dim: 4}",
        "layer_scale",
        {"type": "LayerScale", "init_values": 0.1, "projection_dim": 4},
    ),
    "SpatialDropout2D": (
        "SpatialDropout2D: {rate: 0.1}",
        "spatial_dropout2d",
        {"type": "SpatialDropout2D", "rate": 0.1, "seed": None, "data_format": "channels_last"},
    ),
    "GaussianNoise": (
        "GaussianNoise: {stddev: 0.1}",
        "gaussian_noise",
        {"type": "GaussianNoise", "stddev": 0.1, "seed": None},
    ),
    "GaussianDropout": (
        "GaussianDropout: {rate: 0.1}",
        "gaussian_dropout",
        {"type": "GaussianDropout", "rate": 0.1, "seed": None},
    ),
    "Permute": ("Permute: {dims: [2, 1, 3]}", "permute", {"type": "Permute", "dims": (2, 1, 3)}),
    "RepeatVector": ("RepeatVector: {n: 3}", "repeat_vector", {"type": "RepeatVector", "n": 3}),
    "Identity": ("Identity", "identity", {"type": "Identity"}),
    "Conv1D": (
        "Conv1D: {filters: 8, kernel_size: 3}",
        "conv1d",
        {
            "type": "Conv1D",
            "filters": 8,
            "kernel_size": 3,
            "strides": 1,
            "padding": "valid",
            "dilation_rate": 1,
            "groups": 1,
            "activation": "linear",
            "use_bias": True,
            "kernel_initializer": "glorot_uniform",
            "bias_initializer": "zeros",
            "data_format": "channels_last",
        },
    ),
    "MaxPooling1D": ("MaxPooling1D", "max_pooling1d", {"type": "MaxPooling1D", **POOL1D}),
    "AveragePooling1D": (
        "AveragePooling1D",
        "average_pooling1d",
        {"type": "AveragePooling1D", **POOL1D},
    ),
    "GlobalMaxPooling1D": (
        "GlobalMaxPooling1D",
        "global_max_pooling1d",
        {"type": "GlobalMaxPooling1D", **GLOBAL},
    ),
    "GlobalAveragePooling1D": (
        "GlobalAveragePooling1D",
        "global_average_pooling1d",
        {"type": "GlobalAveragePooling1D", **GLOBAL},
    ),
    "UpSampling1D": ("UpSampling1D", "up_sampling1d", {"type": "UpSampling1D", "size": 2}),
    "ZeroPadding1D": (
        "ZeroPadding1D",
        "zero_padding1d",
        {"type": "ZeroPadding1D", "padding": (1, 1), "data_format": "channels_last"},
    ),
    "Cropping1D": ("Cropping1D", "cropping1d", {"type": "Cropping1D", "cropping": (1, 1)}),
}


def case(case_id: str, entry: str, *expected: str) -> Any:
    return pytest.param(entry, list(expected), id=case_id)


P = "<string>:3:"
CONSTRAINTS = [
    case(
        "depthwise-multiplier-zero",
        "DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 0}",
        P + "57: layers[0] (DepthwiseConv2D) depth_multiplier: must be a positive integer, got 0",
    ),
    case(
        "separable-filters-zero",
        "SeparableConv2D: {filters: 0, kernel_size: 3}",
        P + "32: layers[0] (SeparableConv2D) filters: must be a positive integer, got 0",
    ),
    case(
        "transpose-output-padding-not-below-strides",
        "Conv2DTranspose: {filters: 8, kernel_size: 3, strides: 2, output_padding: [1, 2]}",
        P + "79: layers[0] (Conv2DTranspose) output_padding: must be strictly less than "
        "strides [2, 2] on every axis, got [1, 2]",
    ),
    case(
        "transpose-output-padding-negative",
        "Convolution2DTranspose: {filters: 8, kernel_size: 3, output_padding: -1}",
        P + "74: layers[0] (Conv2DTranspose) output_padding: must be null, an integer >= 0 or "
        "a list of two, got -1",
    ),
    case(
        "upsampling2d-bicubic",
        "UpSampling2D: {interpolation: bicubic}",
        P + "35: layers[0] (UpSampling2D) interpolation: must be one of 'nearest' or "
        "'bilinear', got 'bicubic' (a string)",
    ),
    case(
        "cropping2d-negative",
        "Cropping2D: {cropping: -1}",
        P + "28: layers[0] (Cropping2D) cropping: must be an integer >= 0, a pair [rows, cols] "
        "or [[top, bottom], [left, right]], got -1",
    ),
    case(
        "rescaling-needs-scale",
        "Rescaling",
        P + "5: layers[0] (Rescaling) scale: required field is missing",
    ),
    case(
        "normalization-mean-without-variance",
        "Normalization: {mean: 1.0}",
        P + "5: layers[0] (Normalization): give both mean and variance, or neither "
        "(then zeros and ones)",
    ),
    case(
        "layer-normalization-epsilon-zero",
        "LayerNormalization: {epsilon: 0}",
        P + "35: layers[0] (LayerNormalization) epsilon: must be > 0.0, got 0",
    ),
    case(
        "layer-scale-needs-projection-dim",
        "LayerScale: {init_values: 0.1}",
        P + "5: layers[0] (LayerScale) projection_dim: required field is missing",
    ),
    case(
        "spatial-dropout-rate",
        "SpatialDropout2D: {rate: 1.5}",
        P + "30: layers[0] (SpatialDropout2D) rate: must be <= 1.0, got 1.5",
    ),
    case(
        "gaussian-noise-stddev-above-one",
        "GaussianNoise: {stddev: 2}",
        P + "29: layers[0] (GaussianNoise) stddev: must be <= 1.0, got 2",
    ),
    case(
        "gaussian-dropout-negative",
        "GaussianDropout: {rate: -0.1}",
        P + "29: layers[0] (GaussianDropout) rate: must be >= 0.0, got -0.1",
    ),
    case(
        "permute-not-a-permutation",
        "Permute: {dims: [1, 3]}",
        P + "21: layers[0] (Permute) dims: must be a permutation of 1..2 (consecutive, "
        "starting from 1), got [1, 3]",
    ),
    case(
        "repeat-vector-zero",
        "RepeatVector: {n: 0}",
        P + "23: layers[0] (RepeatVector) n: must be a positive integer, got 0",
    ),
    case(
        "identity-unknown-key",
        "Identity: {x: 1}",
        P + "16: layers[0] (Identity) x: unknown field 'x'",
    ),
    case(
        "conv1d-kernel-pair",
        "Convolution1D: {filters: 8, kernel_size: [3, 3]}",
        P + "46: layers[0] (Conv1D) kernel_size: must be a positive integer (or a list of "
        "one), got [3, 3]",
    ),
    case(
        "conv1d-padding-full",
        "Conv1D: {filters: 8, kernel_size: 3, padding: full}",
        P + "51: layers[0] (Conv1D) padding: must be one of 'valid', 'same' or 'causal', "
        "got 'full' (a string)",
    ),
    case(
        "max-pool1d-zero",
        "MaxPool1D: {pool_size: 0}",
        P + "28: layers[0] (MaxPooling1D) pool_size: must be a positive integer (or a list of "
        "one), got 0",
    ),
    case(
        "avg-pool1d-strides-pair",
        "AveragePooling1D: {strides: [2, 2]}",
        P + "33: layers[0] (AveragePooling1D) strides: must be a positive integer (or a list "
        "of one), got [2, 2]",
    ),
    case(
        "global-max-pool1d-keepdims",
        "GlobalMaxPooling1D: {keepdims: 1}",
        P + "36: layers[0] (GlobalMaxPooling1D) keepdims: must be true or false, got 1",
    ),
    case(
        "global-avg-pool1d-channels-first",
        "GlobalAveragePooling1D: {data_format: channels_first}",
        P + "43: layers[0] (GlobalAveragePooling1D) data_format: only 'channels_last' is "
        "supported (inputs are (H, W, C)), got 'channels_first' (a string)",
    ),
    case(
        "upsampling1d-list",
        "UpSampling1D: {size: [2]}",
        P + "26: layers[0] (UpSampling1D) size: must be a positive integer, got [2]",
    ),
    case(
        "zero-padding1d-triple",
        "ZeroPadding1D: {padding: [1, 2, 3]}",
        P + "30: layers[0] (ZeroPadding1D) padding: must be an integer >= 0 or a pair "
        "[start, end] of them, got [1, 2, 3]",
    ),
    case(
        "cropping1d-negative",
        "Cropping1D: {cropping: -2}",
        P + "28: layers[0] (Cropping1D) cropping: must be an integer >= 0 or a pair "
        "[start, end] of them, got -2",
    ),
]
