"""ONNX export of issue 13's catalogue layers in their less common settings, at float32 and
float64, under onnxruntime and the ReferenceEvaluator, against the NumPy engine (the random
configs of test_onnx_export cover them in combination)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from onnx_helpers import check_export, random_input, random_weights

import builder

CATALOGUE_BLOCKS = [
    *(
        {"type": "Conv2DTranspose", "filters": 2, "kernel_size": k, "strides": st, "padding": p}
        | ({} if op is None else {"output_padding": op})
        for k in (1, 2, 3)
        for st in (1, 2, 3)
        for p in ("valid", "same")
        for op in (None, st - 1)
    ),
    {"type": "Conv2DTranspose", "filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
    {"type": "DepthwiseConv2D", "kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 3},
    {"type": "SeparableConv2D", "filters": 4, "kernel_size": 2, "dilation_rate": 2, "padding": "same"},
    {"type": "UpSampling2D", "size": [3, 2], "interpolation": "bilinear"},
    {"type": "UpSampling2D", "size": [2, 3], "interpolation": "nearest"},
    {"type": "Cropping2D", "cropping": [[1, 2], [0, 3]]},
    {"type": "Normalization", "axis": None, "invert": True},
    {"type": "LayerNormalization", "axis": [-1, 1], "epsilon": 1e-6},
    {"type": "LayerNormalization", "rms_scaling": True},
]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("block", CATALOGUE_BLOCKS, ids=lambda b: "-".join(map(str, b.values())))
def test_catalogue_layers_at_both_dtypes(block: dict[str, Any], dtype: str, tmp_path: Path) -> None:
    """Every TensorFlow `same`/`valid` geometry of Conv2DTranspose (output_padding none or
    stride − 1), and the other 2-D catalogue layers in their less common settings, on a
    7×6×3 input."""
    model = builder.load(
        yaml.safe_dump({"input_shape": [7, 6, 3], "dtype": dtype, "layers": [block]})
    )
    random_weights(model, 17, tmp_path)
    check_export(model, random_input(model, 17, count=2))


SEQUENCE_BLOCKS = [
    {"type": "Conv1D", "filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
    {"type": "Conv1D", "filters": 4, "kernel_size": 2, "padding": "same", "strides": 2, "groups": 2},
    {"type": "MaxPooling1D", "pool_size": 3, "strides": 2, "padding": "same"},
    {"type": "AveragePooling1D", "pool_size": 3, "strides": 1, "padding": "same"},
    {"type": "GlobalAveragePooling1D", "keepdims": True},
    {"type": "UpSampling1D", "size": 3},
    {"type": "ZeroPadding1D", "padding": [2, 1]},
    {"type": "Cropping1D", "cropping": [1, 2]},
    {"type": "Permute", "dims": [2, 1]},
    {"type": "LayerNormalization", "axis": [1, 2], "center": False},
]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("block", SEQUENCE_BLOCKS, ids=lambda b: "-".join(map(str, b.values())))
def test_sequence_layers_at_both_dtypes(block: dict[str, Any], dtype: str, tmp_path: Path) -> None:
    model = builder.load(yaml.safe_dump({"input_shape": [9, 4], "dtype": dtype, "layers": [block]}))
    random_weights(model, 18, tmp_path)
    check_export(model, random_input(model, 18, count=2))


def test_repeat_vector_and_rescaling(tmp_path: Path) -> None:
    model = builder.load(
        "input_shape: [5]\nlayers:\n  - RepeatVector: {n: 3}\n"
        "  - Rescaling: {scale: [0.5, -1, 2, 1, 0.25], offset: 1.5}\n"
        "  - LayerScale: {init_values: 0.5, projection_dim: 5}\n"
    )
    random_weights(model, 19, tmp_path)
    x = random_input(model, 19)
    result = check_export(model, x)
    # by hand: every row of a sample is (x·scale + 1.5)·gamma
    want = (x * np.float32([0.5, -1, 2, 1, 0.25]) + np.float32(1.5)) * model.weights[
        "layer_scale/gamma"
    ]
    for row in range(3):
        np.testing.assert_allclose(result["onnxruntime"][:, row], want, rtol=1e-6)
