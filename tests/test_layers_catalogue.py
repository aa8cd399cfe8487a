"""The catalogue layers of issue 13 (builder/layers/): shapes, parameter counts, MACs,
weight names and shapes, numbers, and shape errors with their positions.

Expected shapes, parameter counts and MACs are written by hand from the Keras 3 formulas
(quoted beside each row). Every number is checked against an oracle written here - a
Python loop over output cells and kernel taps, or a formula in plain NumPy - never
against `builder.ops`. Models are built from YAML files with `builder.load`, at float32
and float64, and given their weights through a `.npz` file, as a user would.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

import builder
from builder.errors import ConfigError
from builder.model import Model

Shape = tuple[int, ...]
DTYPES = ["float32", "float64"]
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


def load(tmp_path: Path, entries: list[str] | str, input_shape: Shape, dtype: str) -> Model:
    """`builder.load` of a config file holding these layer entries (YAML flow style)."""
    if isinstance(entries, str):
        entries = [entries]
    lines = [f"input_shape: {list(input_shape)}", f"dtype: {dtype}", "layers:"]
    lines += [f"  - {entry}" for entry in entries]
    path = tmp_path / "model.yaml"
    path.write_text("\n".join(lines) + "\n")
    return builder.load(path)


def set_weights(model: Model, folder: Path, arrays: dict[str, np.ndarray]) -> None:
    path = folder / "weights.npz"
    np.savez(path, **arrays)
    model.load_weights(path)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def check(model: Model, x: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    got = model(x.astype(dtype))
    assert got.dtype == np.dtype(dtype)
    assert got.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


# --------------------------------------------------------------------------- shapes, params, MACs
#
# (entry, input shape, output shape, params, trainable params, MACs), by hand. MACs:
# depthwise H'·W'·C·m·kh·kw; separable H'·W'·C·m·(kh·kw + filters); transpose
# H·W·C·kh·kw·filters; Conv1D T'·filters·k·C/groups; every other layer 0.

CASES = [
    # valid: 8 − 3 + 1 = 6; params 3·3·4·2 + 4·2 = 80 (Keras 3.15.1, notes_catalogue.md)
    ("DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 2}", (8, 8, 4), (6, 6, 8), 80, 80, 2592),
    # same, stride 2: ceil(9/2) = 5; 27 + 3
    (
        "DepthwiseConv2D: {kernel_size: 3, strides: 2, padding: same}",
        (9, 9, 3),
        (5, 5, 3),
        30,
        30,
        675,
    ),
    # dilation 2 reaches 5 cells: floor((9 − 5)/2) + 1 = 3 (strides and dilation together)
    (
        "DepthwiseConv2D: {kernel_size: 3, strides: 2, dilation_rate: 2, use_bias: false}",
        (9, 9, 2),
        (3, 3, 2),
        18,
        18,
        162,
    ),
    # 3·3·4·2 + 4·2·5 + 5 = 117 (Keras 3.15.1); MACs 36·8·(9 + 5)
    (
        "SeparableConv2D: {filters: 5, kernel_size: 3, depth_multiplier: 2}",
        (8, 8, 4),
        (6, 6, 5),
        117,
        117,
        4032,
    ),
    (
        "SeparableConvolution2D: {filters: 8, kernel_size: 3, strides: 2, padding: same, use_bias: false}",
        (8, 8, 3),
        (4, 4, 8),
        51,
        51,
        816,
    ),
    # valid: (4 − 1)·1 + 3 = 6; 3·3·5·4 + 5 = 185 (Keras 3.15.1)
    ("Conv2DTranspose: {filters: 5, kernel_size: 3}", (4, 4, 4), (6, 6, 5), 185, 185, 2880),
    # same: 4·2 = 8
    (
        "Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2, padding: same}",
        (4, 4, 2),
        (8, 8, 3),
        57,
        57,
        864,
    ),
    # valid, stride 3 > kernel 2: (3 − 1)·3 + max(2, 3) = 9
    (
        "Convolution2DTranspose: {filters: 2, kernel_size: 2, strides: 3}",
        (3, 3, 1),
        (9, 9, 2),
        10,
        10,
        72,
    ),
    # same with output_padding 1: (4 − 1)·2 + 3 mod 2 + 1 = 8
    (
        "Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, padding: same, output_padding: 1}",
        (4, 4, 1),
        (8, 8, 2),
        20,
        20,
        288,
    ),
    # valid with output_padding [1, 0]: (3 − 1)·2 + 3 + 1 = 8 rows, 7 columns
    (
        "Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2, output_padding: [1, 0]}",
        (3, 3, 1),
        (8, 7, 2),
        20,
        20,
        162,
    ),
    # k = 3, groups 2: 3·2·6 + 6 = 42 (Keras 3.15.1); T' = 10 − 2 = 8; MACs 8·6·3·2
    ("Conv1D: {filters: 6, kernel_size: 3, groups: 2}", (10, 4), (8, 6), 42, 42, 288),
    # causal: ceil(9/2) = 5; 3·3·4 + 4
    (
        "Convolution1D: {filters: 4, kernel_size: 3, padding: causal, dilation_rate: 2, strides: 2}",
        (9, 3),
        (5, 4),
        40,
        40,
        180,
    ),
    (
        "Conv1D: {filters: 4, kernel_size: [3], strides: 2, padding: same}",
        (9, 3),
        (5, 4),
        40,
        40,
        180,
    ),
    ("UpSampling2D", (3, 4, 2), (6, 8, 2), 0, 0, 0),
    ("UpSampling2D: {size: [2, 3], interpolation: bilinear}", (3, 4, 2), (6, 12, 2), 0, 0, 0),
    ("Cropping2D: {cropping: [[1, 2], [0, 1]]}", (6, 5, 3), (3, 4, 3), 0, 0, 0),
    ("Cropping2D: {cropping: 1}", (6, 5, 3), (4, 3, 3), 0, 0, 0),
    ("Cropping2D: {cropping: [1, 2]}", (6, 5, 3), (4, 1, 3), 0, 0, 0),
    ("Rescaling: {scale: 0.5, offset: -1}", (4, 5, 3), (4, 5, 3), 0, 0, 0),
    # Keras after adapt(): mean and variance (C) and count (), none trainable: 2·3 + 1
    ("Normalization", (4, 5, 3), (4, 5, 3), 7, 0, 0),
    ("Normalization: {axis: [1, 3]}", (4, 5, 3), (4, 5, 3), 25, 0, 0),  # 2·(4·3) + 1
    ("Normalization: {axis: null}", (4, 5, 3), (4, 5, 3), 3, 0, 0),
    ("LayerNormalization", (4, 5, 3), (4, 5, 3), 6, 6, 0),  # gamma, beta (C)
    # Keras 3.15.1 (notes_catalogue.md): axis [1, 2, 3] without centre on (8, 8, 4): 256
    ("LayerNormalization: {axis: [1, 2, 3], center: false}", (8, 8, 4), (8, 8, 4), 256, 256, 0),
    ("LayerNormalization: {rms_scaling: true}", (4, 5, 3), (4, 5, 3), 3, 3, 0),
    ("LayerScale: {init_values: 0.1, projection_dim: 4}", (5, 5, 4), (5, 5, 4), 4, 4, 0),
    ("SpatialDropout2D: {rate: 0.3}", (4, 4, 3), (4, 4, 3), 0, 0, 0),
    ("GaussianNoise: {stddev: 0.5}", (7,), (7,), 0, 0, 0),
    ("GaussianDropout: {rate: 0.5}", (3, 7), (3, 7), 0, 0, 0),
    ("Identity", (2, 3, 4), (2, 3, 4), 0, 0, 0),
    ("Permute: {dims: [2, 1]}", (3, 5), (5, 3), 0, 0, 0),
    ("Permute: {dims: [3, 1, 2]}", (2, 3, 4), (4, 2, 3), 0, 0, 0),
    ("RepeatVector: {n: 4}", (6,), (4, 6), 0, 0, 0),
    ("MaxPooling1D", (9, 3), (4, 3), 0, 0, 0),  # floor((9 − 2)/2) + 1
    ("MaxPool1D: {pool_size: 3, strides: 2, padding: same}", (9, 3), (5, 3), 0, 0, 0),
    ("AveragePooling1D: {pool_size: 3, strides: 1}", (9, 3), (7, 3), 0, 0, 0),
    ("AvgPool1D: {pool_size: [3], padding: same}", (9, 3), (3, 3), 0, 0, 0),
    ("GlobalMaxPooling1D", (7, 3), (3,), 0, 0, 0),
    ("GlobalMaxPool1D: {keepdims: true}", (7, 3), (1, 3), 0, 0, 0),
    ("GlobalAveragePooling1D", (7, 3), (3,), 0, 0, 0),
    ("GlobalAvgPool1D: {keepdims: true}", (7, 3), (1, 3), 0, 0, 0),
    ("UpSampling1D: {size: 3}", (4, 2), (12, 2), 0, 0, 0),
    ("ZeroPadding1D: {padding: [1, 2]}", (4, 2), (7, 2), 0, 0, 0),
    ("ZeroPadding1D", (4, 2), (6, 2), 0, 0, 0),
    ("Cropping1D: {cropping: [1, 2]}", (6, 2), (3, 2), 0, 0, 0),
]


@pytest.mark.parametrize(
    ("entry", "input_shape", "output_shape", "params", "trainable", "macs"),
    CASES,
    ids=[f"{case[0]}-{case[1]}" for case in CASES],
)
def test_layer_shape_params_macs(
    tmp_path: Path,
    entry: str,
    input_shape: Shape,
    output_shape: Shape,
    params: int,
    trainable: int,
    macs: int,
) -> None:
    model = load(tmp_path, entry, input_shape, "float64")
    (node,) = model.nodes
    assert node.output_shape == output_shape
    assert model.count_params() == params
    assert model.count_params(trainable=True) == trainable
    assert node.macs == macs
    assert node.layer.scratch_elements(input_shape) >= 0
    x = rng().normal(size=(2, *input_shape))
    assert model(x).shape == (2, *output_shape)


WEIGHT_CASES = [
    (
        "DepthwiseConv2D: {kernel_size: [2, 3], depth_multiplier: 3, name: d}",
        (5, 5, 4),
        {"d/kernel": (2, 3, 4, 3), "d/bias": (12,)},
    ),
    (
        "SeparableConv2D: {filters: 5, kernel_size: 3, depth_multiplier: 2, name: s}",
        (8, 8, 4),
        {"s/depthwise_kernel": (3, 3, 4, 2), "s/pointwise_kernel": (1, 1, 8, 5), "s/bias": (5,)},
    ),
    (
        "Conv2DTranspose: {filters: 5, kernel_size: [2, 3], name: t}",
        (4, 4, 3),
        {"t/kernel": (2, 3, 5, 3), "t/bias": (5,)},
    ),
    (
        "Conv1D: {filters: 6, kernel_size: 3, groups: 2, use_bias: false, name: c}",
        (10, 4),
        {"c/kernel": (3, 2, 6)},
    ),
    (
        "Normalization: {axis: [1, 3], name: n}",
        (4, 5, 3),
        {"n/mean": (4, 3), "n/variance": (4, 3), "n/count": ()},
    ),
    (
        "Normalization: {axis: null, name: n}",
        (4, 3),
        {"n/mean": (), "n/variance": (), "n/count": ()},
    ),
    ("LayerNormalization: {name: l}", (4, 3), {"l/gamma": (3,), "l/beta": (3,)}),
    # Keras 3.15 sorts the axes as written: [-1, 1] keeps that order for gamma's shape
    ("LayerNormalization: {axis: [-1, 1], scale: false, name: l}", (4, 5, 3), {"l/beta": (3, 4)}),
    ("LayerNormalization: {rms_scaling: true, name: l}", (4, 3), {"l/gamma": (3,)}),
    ("LayerScale: {init_values: 0.5, projection_dim: 3, name: s}", (4, 3), {"s/gamma": (3,)}),
]


@pytest.mark.parametrize(("entry", "input_shape", "expected"), WEIGHT_CASES)
def test_weight_names_and_shapes(
    tmp_path: Path, entry: str, input_shape: Shape, expected: dict[str, Shape]
) -> None:
    model = load(tmp_path, entry, input_shape, "float64")
    assert {key: array.shape for key, array in model.weights.items()} == expected


def test_initial_values_of_constant_weights(tmp_path: Path) -> None:
    model = load(
        tmp_path,
        [
            "LayerScale: {init_values: 0.25, projection_dim: 3, name: s}",
            "Normalization: {mean: [1, 2, 3], variance: [4, 4, 4], name: n}",
            "Normalization: {name: plain}",
        ],
        (2, 3),
        "float32",
    )
    weights = model.weights
    np.testing.assert_array_equal(weights["s/gamma"], [0.25, 0.25, 0.25])
    np.testing.assert_array_equal(weights["n/mean"], [1, 2, 3])
    np.testing.assert_array_equal(weights["n/variance"], [4, 4, 4])
    np.testing.assert_array_equal(weights["n/count"], 0)
    np.testing.assert_array_equal(weights["plain/mean"], [0, 0, 0])
    np.testing.assert_array_equal(weights["plain/variance"], [1, 1, 1])
    assert weights["s/gamma"].dtype == np.float32


# --------------------------------------------------------------------------- oracles


def geometry(length: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """(output length, zero cells before) of a TensorFlow convolution along one axis."""
    reach = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (length - reach) // stride + 1, 0
    out = -(-length // stride)
    return out, max((out - 1) * stride + reach - length, 0) // 2


def naive_depthwise(
    x: np.ndarray, w: np.ndarray, strides: Shape, padding: str, dilation: Shape
) -> np.ndarray:
    n, height, width, channels = x.shape
    kh, kw, _, m = w.shape
    oh, top = geometry(height, kh, strides[0], dilation[0], padding)
    ow, left = geometry(width, kw, strides[1], dilation[1], padding)
    out = np.zeros((n, oh, ow, channels * m))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r = i * strides[0] + a * dilation[0] - top
                    c = j * strides[1] + b * dilation[1] - left
                    if 0 <= r < height and 0 <= c < width:
                        for ch in range(channels):
                            for q in range(m):
                                out[:, i, j, ch * m + q] += x[:, r, c, ch] * w[a, b, ch, q]
    return out


DEPTHWISE_GRID = [
    # (kernel, strides, padding, dilation, multiplier, input)
    ((3, 3), (1, 1), "valid", (1, 1), 1, (6, 7, 3)),
    ((3, 3), (1, 1), "same", (1, 1), 2, (6, 7, 3)),
    ((3, 2), (2, 1), "same", (1, 1), 1, (7, 6, 2)),
    ((3, 3), (2, 2), "valid", (2, 1), 3, (9, 8, 2)),
    ((2, 2), (2, 2), "same", (2, 2), 1, (5, 6, 3)),
    ((7, 7), (1, 1), "same", (1, 1), 1, (8, 8, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("kernel", "strides", "padding", "dilation", "m", "shape"), DEPTHWISE_GRID)
def test_depthwise_conv2d_against_loops(
    tmp_path: Path,
    dtype: str,
    kernel: Shape,
    strides: Shape,
    padding: str,
    dilation: Shape,
    m: int,
    shape: Shape,
) -> None:
    entry = (
        f"DepthwiseConv2D: {{kernel_size: {list(kernel)}, strides: {list(strides)}, "
        f"padding: {padding}, dilation_rate: {list(dilation)}, depth_multiplier: {m}, name: d}}"
    )
    model = load(tmp_path, entry, shape, dtype)
    g = rng(1)
    w = g.normal(size=(*kernel, shape[-1], m))
    b = g.normal(size=(shape[-1] * m,))
    set_weights(model, tmp_path, {"d/kernel": w, "d/bias": b})
    x = g.normal(size=(2, *shape))
    check(model, x, naive_depthwise(x, w, strides, padding, dilation) + b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("strides", "padding", "dilation", "m"),
    [((1, 1), "valid", (1, 1), 1), ((2, 2), "same", (1, 1), 2), ((1, 1), "same", (2, 2), 1)],
)
def test_separable_conv2d_against_loops(
    tmp_path: Path, dtype: str, strides: Shape, padding: str, dilation: Shape, m: int
) -> None:
    shape = (7, 6, 3)
    entry = (
        f"SeparableConv2D: {{filters: 4, kernel_size: 3, strides: {list(strides)}, "
        f"padding: {padding}, dilation_rate: {list(dilation)}, depth_multiplier: {m}, "
        "activation: relu, name: s}"
    )
    model = load(tmp_path, entry, shape, dtype)
    g = rng(2)
    dw = g.normal(size=(3, 3, 3, m))
    pw = g.normal(size=(1, 1, 3 * m, 4))
    b = g.normal(size=(4,))
    set_weights(model, tmp_path, {"s/depthwise_kernel": dw, "s/pointwise_kernel": pw, "s/bias": b})
    x = g.normal(size=(2, *shape))
    inner = naive_depthwise(x, dw, strides, padding, dilation)
    out = np.zeros((*inner.shape[:3], 4))
    for k in range(3 * m):
        for f in range(4):
            out[..., f] += inner[..., k] * pw[0, 0, k, f]
    check(model, x, np.maximum(out + b, 0), dtype)


def transpose_length(length: int, k: int, s: int, d: int, padding: str, op: int | None) -> int:
    """Keras 3's `deconv_output_length`, as its documentation states it."""
    reach = d * (k - 1) + 1
    if padding == "valid":
        return (length - 1) * s + (max(reach, s) if op is None else reach + op)
    return length * s if op is None else (length - 1) * s + reach % 2 + op


def naive_transpose(
    x: np.ndarray,
    w: np.ndarray,
    strides: Shape,
    padding: str,
    output_padding: Shape | None,
    dilation: Shape,
) -> np.ndarray:
    """The adjoint of the Conv2D (TensorFlow padding) that maps the (H', W') output back to
    (H, W): each input cell scatters into the cells that Conv2D would have read."""
    n, height, width, _ = x.shape
    kh, kw, filters, _ = w.shape
    ops = (None, None) if output_padding is None else output_padding
    oh = transpose_length(height, kh, strides[0], dilation[0], padding, ops[0])
    ow = transpose_length(width, kw, strides[1], dilation[1], padding, ops[1])
    tops = []
    for length, out, k, s, d in zip(
        (height, width), (oh, ow), (kh, kw), strides, dilation, strict=True
    ):
        reach = d * (k - 1) + 1
        tops.append(0 if padding == "valid" else max((length - 1) * s + reach - out, 0) // 2)
    y = np.zeros((n, oh, ow, filters))
    for i in range(height):
        for j in range(width):
            for a in range(kh):
                for b in range(kw):
                    p = i * strides[0] + a * dilation[0] - tops[0]
                    q = j * strides[1] + b * dilation[1] - tops[1]
                    if 0 <= p < oh and 0 <= q < ow:
                        y[:, p, q, :] += x[:, i, j, :] @ w[a, b].T
    return y


TRANSPOSE_GRID = [
    # (kernel, strides, padding, output_padding, dilation)
    ((3, 3), (1, 1), "valid", None, (1, 1)),
    ((3, 3), (2, 2), "same", None, (1, 1)),
    ((4, 4), (2, 2), "same", None, (1, 1)),
    ((2, 3), (3, 2), "valid", None, (1, 1)),
    ((3, 3), (2, 2), "valid", (1, 0), (1, 1)),
    ((3, 3), (2, 2), "same", (1, 1), (1, 1)),
    ((3, 2), (1, 1), "same", None, (2, 2)),
    ((3, 3), (2, 2), "valid", None, (2, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("kernel", "strides", "padding", "op", "dilation"), TRANSPOSE_GRID)
def test_conv2d_transpose_against_loops(
    tmp_path: Path,
    dtype: str,
    kernel: Shape,
    strides: Shape,
    padding: str,
    op: Shape | None,
    dilation: Shape,
) -> None:
    shape = (4, 5, 3)
    op_text = "null" if op is None else str(list(op))
    entry = (
        f"Conv2DTranspose: {{filters: 2, kernel_size: {list(kernel)}, strides: {list(strides)}, "
        f"padding: {padding}, output_padding: {op_text}, dilation_rate: {list(dilation)}, name: t}}"
    )
    model = load(tmp_path, entry, shape, dtype)
    g = rng(3)
    w = g.normal(size=(*kernel, 2, 3))
    b = g.normal(size=(2,))
    set_weights(model, tmp_path, {"t/kernel": w, "t/bias": b})
    x = g.normal(size=(2, *shape))
    check(model, x, naive_transpose(x, w, strides, padding, op, dilation) + b, dtype)


def naive_conv1d(
    x: np.ndarray, w: np.ndarray, stride: int, padding: str, dilation: int, groups: int
) -> np.ndarray:
    n, steps, channels = x.shape
    k, per_group, filters = w.shape
    reach = dilation * (k - 1) + 1
    if padding == "causal":
        out, before = -(-steps // stride), reach - 1
    else:
        out, before = geometry(steps, k, stride, dilation, padding)
    per_filter_group = filters // groups
    y = np.zeros((n, out, filters))
    for t in range(out):
        for a in range(k):
            src = t * stride + a * dilation - before
            if not 0 <= src < steps:
                continue
            for f in range(filters):
                g = f // per_filter_group
                for c in range(per_group):
                    y[:, t, f] += x[:, src, g * per_group + c] * w[a, c, f]
    return y


CONV1D_GRID = [
    # (kernel, strides, padding, dilation, groups)
    (3, 1, "valid", 1, 1),
    (3, 2, "same", 1, 1),
    (4, 1, "same", 1, 2),
    (3, 1, "causal", 2, 1),
    (2, 3, "causal", 1, 4),
    (3, 2, "valid", 2, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("k", "stride", "padding", "dilation", "groups"), CONV1D_GRID)
def test_conv1d_against_loops(
    tmp_path: Path, dtype: str, k: int, stride: int, padding: str, dilation: int, groups: int
) -> None:
    shape = (11, 4)
    entry = (
        f"Conv1D: {{filters: 8, kernel_size: {k}, strides: {stride}, padding: {padding}, "
        f"dilation_rate: {dilation}, groups: {groups}, name: c}}"
    )
    model = load(tmp_path, entry, shape, dtype)
    g = rng(4)
    w = g.normal(size=(k, 4 // groups, 8))
    b = g.normal(size=(8,))
    set_weights(model, tmp_path, {"c/kernel": w, "c/bias": b})
    x = g.normal(size=(2, *shape))
    check(model, x, naive_conv1d(x, w, stride, padding, dilation, groups) + b, dtype)


def test_causal_step_sees_no_later_step(tmp_path: Path) -> None:
    model = load(
        tmp_path, "Conv1D: {filters: 2, kernel_size: 3, padding: causal}", (6, 1), "float64"
    )
    x = rng(5).normal(size=(1, 6, 1))
    later = x.copy()
    later[:, 4:] += 10.0
    np.testing.assert_array_equal(model(x)[:, :4], model(later)[:, :4])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("pool", "stride", "padding"),
    [(2, 2, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, 3, "same")],
)
def test_pooling1d_against_loops(
    tmp_path: Path, dtype: str, pool: int, stride: int, padding: str
) -> None:
    shape = (10, 3)
    x = rng(6).normal(size=(2, *shape))
    out, before = geometry(10, pool, stride, 1, padding)
    top = np.zeros((2, out, 3))
    mean = np.zeros((2, out, 3))
    for t in range(out):
        cells = [s for s in range(t * stride - before, t * stride - before + pool) if 0 <= s < 10]
        top[:, t] = x[:, cells].max(axis=1)
        mean[:, t] = x[:, cells].sum(axis=1) / len(cells)  # real cells only
    args = f"pool_size: {pool}, strides: {stride}, padding: {padding}"
    check(load(tmp_path, f"MaxPooling1D: {{{args}}}", shape, dtype), x, top, dtype)
    check(load(tmp_path, f"AveragePooling1D: {{{args}}}", shape, dtype), x, mean, dtype)
    check(load(tmp_path, "GlobalMaxPooling1D", shape, dtype), x, x.max(axis=1), dtype)
    check(load(tmp_path, "GlobalAveragePooling1D", shape, dtype), x, x.sum(axis=1) / 10, dtype)
    kept = load(tmp_path, "GlobalAveragePooling1D: {keepdims: true}", shape, dtype)
    check(kept, x, x.sum(axis=1, keepdims=True) / 10, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_resampling_cropping_padding_by_index(tmp_path: Path, dtype: str) -> None:
    x = rng(7).normal(size=(2, 3, 4, 2))
    up = np.zeros((2, 6, 12, 2))
    for i in range(6):
        for j in range(12):
            up[:, i, j] = x[:, i // 2, j // 3]
    check(load(tmp_path, "UpSampling2D: {size: [2, 3]}", (3, 4, 2), dtype), x, up, dtype)
    crop = x[:, 1:2, 2:3]  # rows 1..H−1−1, columns 2..W−1−1
    check(
        load(tmp_path, "Cropping2D: {cropping: [[1, 1], [2, 1]]}", (3, 4, 2), dtype), x, crop, dtype
    )
    seq = rng(8).normal(size=(2, 5, 3))
    up1 = np.stack([seq[:, t // 3] for t in range(15)], axis=1)
    check(load(tmp_path, "UpSampling1D: {size: 3}", (5, 3), dtype), seq, up1, dtype)
    padded = np.concatenate([np.zeros((2, 2, 3)), seq, np.zeros((2, 1, 3))], axis=1)
    check(load(tmp_path, "ZeroPadding1D: {padding: [2, 1]}", (5, 3), dtype), seq, padded, dtype)
    check(load(tmp_path, "Cropping1D: {cropping: [2, 1]}", (5, 3), dtype), seq, seq[:, 2:4], dtype)
    swapped = np.array([[[seq[n, t, c] for t in range(5)] for c in range(3)] for n in range(2)])
    check(load(tmp_path, "Permute: {dims: [2, 1]}", (5, 3), dtype), seq, swapped, dtype)
    vec = seq[:, 0]
    repeated = np.array([[vec[n] for _ in range(4)] for n in range(2)])
    check(load(tmp_path, "RepeatVector: {n: 4}", (3,), dtype), vec, repeated, dtype)


def bilinear_axis(x: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Half-pixel resize along `axis`: output cell i reads source position (i + 0.5)/factor
    − 0.5, clamped into [0, L − 1], as the linear mix of its two neighbours."""
    length = x.shape[axis]
    rows = []
    for i in range(length * factor):
        src = min(max((i + 0.5) / factor - 0.5, 0.0), length - 1.0)
        low = math.floor(src)
        high = min(low + 1, length - 1)
        frac = src - low
        rows.append((1 - frac) * np.take(x, low, axis=axis) + frac * np.take(x, high, axis=axis))
    return np.stack(rows, axis=axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(2, 2), (1, 3), (3, 2)])
def test_upsampling2d_bilinear_formula(tmp_path: Path, dtype: str, size: Shape) -> None:
    x = rng(9).normal(size=(2, 3, 4, 2))
    expected = bilinear_axis(bilinear_axis(x, 1, size[0]), 2, size[1])
    entry = f"UpSampling2D: {{size: {list(size)}, interpolation: bilinear}}"
    check(load(tmp_path, entry, (3, 4, 2), dtype), x, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rescaling_formula(tmp_path: Path, dtype: str) -> None:
    x = rng(10).normal(size=(2, 4, 3))
    check(
        load(tmp_path, "Rescaling: {scale: 0.00392156862745098}", (4, 3), dtype), x, x / 255, dtype
    )
    entry = "Rescaling: {scale: [1.0, 2.0, 3.0], offset: [0.5, 0, -1]}"
    expected = x * np.array([1.0, 2.0, 3.0]) + np.array([0.5, 0, -1])
    check(load(tmp_path, entry, (4, 3), dtype), x, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_formula(tmp_path: Path, dtype: str, invert: bool) -> None:
    g = rng(11)
    x = g.normal(size=(2, 4, 5, 3))
    mean = g.normal(size=(4, 3))
    variance = g.uniform(0.5, 2, size=(4, 3))
    variance[0, 0] = 0.0  # max(sqrt(0), 1e−7) = 1e−7, Keras's epsilon; no epsilon added
    model = load(
        tmp_path,
        f"Normalization: {{axis: [1, 3], invert: {str(invert).lower()}, name: n}}",
        (4, 5, 3),
        dtype,
    )
    count = np.array(10.0)
    set_weights(model, tmp_path, {"n/mean": mean, "n/variance": variance, "n/count": count})
    spread = np.maximum(np.sqrt(variance), 1e-7)[:, None, :]
    m = mean[:, None, :]
    expected = m + x * spread if invert else (x - m) / spread
    if not invert:  # the 1e−7 cell makes huge values: compare relative there
        got = model(x.astype(dtype))
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype] * 10)
    else:
        check(model, x, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization_scalar_statistics_from_the_config(tmp_path: Path, dtype: str) -> None:
    x = rng(12).normal(size=(2, 4, 3))
    entry = "Normalization: {axis: null, mean: 2.0, variance: 4.0}"
    check(load(tmp_path, entry, (4, 3), dtype), x, (x - 2) / 2, dtype)
    entry = "Normalization: {mean: [1, 2, 3], variance: [1, 4, 9]}"
    check(load(tmp_path, entry, (4, 3), dtype), x, (x - [1, 2, 3]) / [1, 2, 3], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("axis", "center", "scale", "rms"),
    [
        ("-1", True, True, False),
        ("[1, 2, 3]", False, True, False),
        ("[2, 3]", True, False, False),
        ("-1", True, True, True),
        ("1", True, True, False),
    ],
)
def test_layer_normalization_formula(
    tmp_path: Path, dtype: str, axis: str, center: bool, scale: bool, rms: bool
) -> None:
    g = rng(13)
    x = g.normal(2.0, 3.0, size=(2, 4, 5, 3))
    entry = (
        f"LayerNormalization: {{axis: {axis}, center: {str(center).lower()}, "
        f"scale: {str(scale).lower()}, rms_scaling: {str(rms).lower()}, epsilon: 0.01, name: l}}"
    )
    model = load(tmp_path, entry, (4, 5, 3), dtype)
    axes = tuple(sorted(int(a) % 4 for a in axis.strip("[]").split(",")))
    param_shape = tuple(x.shape[a] for a in axes)
    broadcast = tuple(x.shape[a] if a in axes else 1 for a in range(4))
    weights = {}
    gamma = g.normal(size=param_shape)
    beta = g.normal(size=param_shape)
    if scale or rms:
        weights["l/gamma"] = gamma
    if center and not rms:
        weights["l/beta"] = beta
    set_weights(model, tmp_path, weights)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    if rms:  # Keras's flag: x/sqrt(var + eps)·gamma, the variance still centred
        expected = x / np.sqrt(var + 0.01) * gamma.reshape(broadcast)
    else:
        expected = (x - mu) / np.sqrt(var + 0.01)
        if scale:
            expected = expected * gamma.reshape(broadcast)
        if center:
            expected = expected + beta.reshape(broadcast)
    check(model, x, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_scale_and_identity_layers(tmp_path: Path, dtype: str) -> None:
    x = rng(14).normal(size=(2, 3, 3, 4))
    model = load(
        tmp_path, "LayerScale: {init_values: 0.1, projection_dim: 4, name: s}", (3, 3, 4), dtype
    )
    check(model, x, x * 0.1, dtype)  # the initial gamma
    gamma = np.array([1.0, -2.0, 0.5, 3.0])
    set_weights(model, tmp_path, {"s/gamma": gamma})
    check(model, x, x * gamma, dtype)
    for entry in [
        "SpatialDropout2D: {rate: 0.9}",
        "GaussianNoise: {stddev: 1.0}",
        "GaussianDropout: {rate: 0.9}",
        "Identity",
        "Dropout: {rate: 0.9}",
    ]:
        check(load(tmp_path, entry, (3, 3, 4), dtype), x, x, dtype)


def test_inline_activation_on_the_new_convolutions(tmp_path: Path) -> None:
    x = rng(15).normal(size=(2, 5, 5, 2))
    for entry in [
        "DepthwiseConv2D: {kernel_size: 3, activation: relu}",
        "Conv2DTranspose: {filters: 2, kernel_size: 3, activation: {LeakyReLU: {alpha: 0.0}}}",
        "SeparableConv2D: {filters: 2, kernel_size: 3, activation: relu6}",
    ]:
        assert (load(tmp_path, entry, (5, 5, 2), "float64")(x) >= 0).all()
    seq = rng(16).normal(size=(2, 6, 2))
    model = load(
        tmp_path, "Conv1D: {filters: 3, kernel_size: 2, activation: relu}", (6, 2), "float64"
    )
    assert (model(seq) >= 0).all()
    assert model.nodes[0].layer.title() == "Conv1D + relu"


# --------------------------------------------------------------------------- scratch memory


def test_scratch_elements_by_hand(tmp_path: Path) -> None:
    """The work arrays each call allocates besides its output, counted by hand."""

    def scratch(entry: str, shape: Shape) -> int:
        (node,) = load(tmp_path, entry, shape, "float32").nodes
        return int(node.layer.scratch_elements(shape))

    # same 3×3 on 8×8×4: the padded copy 10·10·4
    assert scratch("DepthwiseConv2D: {kernel_size: 3, padding: same}", (8, 8, 4)) == 400
    assert scratch("DepthwiseConv2D: {kernel_size: 3}", (8, 8, 4)) == 0
    # separable: the depthwise output 6·6·(4·2) (valid: no padded copy)
    assert (
        scratch("SeparableConv2D: {filters: 3, kernel_size: 3, depth_multiplier: 2}", (8, 8, 4))
        == 288
    )
    # transpose 3×3 stride 2 valid on 4×4×2 → taps 4·4·9·5, full (3·2 + 3)² · 5
    assert (
        scratch("Conv2DTranspose: {filters: 5, kernel_size: 3, strides: 2}", (4, 4, 2)) == 720 + 405
    )
    # bilinear: the rows-first intermediate (H·sh, W, C)
    assert scratch("UpSampling2D: {interpolation: bilinear}", (3, 4, 2)) == 48
    assert scratch("LayerNormalization", (4, 3)) == 24
    # Conv1D k3 on 10×4: patches 8·(3·4) and the input copy 40; causal d2 adds (10 + 4)·4
    assert scratch("Conv1D: {filters: 2, kernel_size: 3}", (10, 4)) == 96 + 40
    entry = "Conv1D: {filters: 2, kernel_size: 3, padding: causal, dilation_rate: 2}"
    assert scratch(entry, (10, 4)) == 10 * 12 + 40 + 56


# --------------------------------------------------------------------------- shape errors


def config_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        builder.load(textwrap.dedent(text))
    return str(caught.value)


def at(text: str, line_number: int, value: str) -> str:
    """`<string>:LINE:COL:` of the first `value` on that (1-based) line of `text`."""
    line = textwrap.dedent(text).splitlines()[line_number - 1]
    return f"<string>:{line_number}:{line.index(value) + 1}:"


SHAPE_ERRORS = [
    # conv family
    ("[5, 5, 3]", "DepthwiseConv2D: {kernel_size: 7}", "7}", "kernel_size", "reaches 7 cells"),
    (
        "[5, 5, 3]",
        "SeparableConv2D: {filters: 2, kernel_size: 3, dilation_rate: 3}",
        "3, d",
        "kernel_size",
        "reaches 7 cells",
    ),
    ("[10, 3]", "Conv1D: {filters: 4, kernel_size: 3, groups: 2}", "2}", "groups", "3 channels"),
    ("[12]", "Conv2DTranspose: {filters: 4, kernel_size: 3}", "Conv2DTranspose", "", "3-D input"),
    (
        "[1, 1, 3]",
        "Conv2DTranspose: {filters: 2, kernel_size: 2, strides: 2, padding: same, output_padding: 0}",
        "0}",
        "output_padding",
        "would be empty",
    ),
    # pooling family
    ("[3, 3]", "MaxPooling1D: {pool_size: 4}", "4}", "pool_size", "reaches 4 cells"),
    ("[3, 3, 2]", "GlobalAveragePooling1D", "GlobalAveragePooling1D", "", "2-D input"),
    # reshaping family
    ("[4, 4, 2]", "Cropping2D: {cropping: [[2, 2], [0, 0]]}", "[[", "cropping", "leaves nothing"),
    ("[4, 2]", "Cropping1D: {cropping: [2, 2]}", "[2, 2]", "cropping", "leaves nothing of 4 steps"),
    ("[4, 2]", "Permute: {dims: [1, 2, 3]}", "[1, 2, 3]", "dims", "has 2 per sample"),
    ("[4, 2]", "RepeatVector: {n: 2}", "RepeatVector", "", "1-D input"),
    ("[4, 4, 3]", "UpSampling1D", "UpSampling1D", "", "2-D input"),
    # normalization family
    (
        "[4, 4, 3]",
        "LayerScale: {init_values: 0.1, projection_dim: 4}",
        "4}",
        "projection_dim",
        "3 channels",
    ),
    ("[4, 4, 3]", "Normalization: {axis: 4}", "4}", "axis", "out of range"),
    (
        "[4, 4, 3]",
        "Normalization: {mean: [1.0, 2.0], variance: [1.0, 1.0]}",
        "[1.0, 2.0]",
        "mean",
        "2 values",
    ),
    ("[4, 4, 3]", "LayerNormalization: {axis: 0}", "0}", "axis", "batch axis"),
    ("[4, 4, 3]", "Rescaling: {scale: [1.0, 2.0]}", "[1.0", "scale", "2 values"),
    # core family
    ("[4, 3]", "SpatialDropout2D: {rate: 0.5}", "SpatialDropout2D", "", "3-D input"),
]


@pytest.mark.parametrize(("shape", "entry", "value", "field", "words"), SHAPE_ERRORS)
def test_shape_errors_point_at_the_field(
    shape: str, entry: str, value: str, field: str, words: str
) -> None:
    text = f"input_shape: {shape}\nlayers:\n  - Identity\n  - {entry}\n"
    message = config_error(text)
    type_name = entry.split(":")[0]
    blamed = f" {field}:" if field else ":"
    assert message.startswith(f"{at(text, 4, value)} layers[1] ({type_name}){blamed}"), message
    assert words in message
