"""ONNX export: a compiled model as an `onnx.ModelProto` (opset 18), weights as initializers.

The graph keeps builder's layout at its edges, as `Model.forward`: one input per model input
(named as in the config, `input` by default), one output per model output (named after its
layer), all channels_last (NHWC) with the batch axis first. Inside, convolutions and pooling
run on NCHW tensors (what ONNX's Conv/MaxPool/AveragePool expect); each tensor carries its
layout, so a Transpose is inserted only where a layer needs the other one (a chain of
convolutions and activations stays NCHW from the first Transpose to the last).

Every attribute is written out, since ONNX's defaults differ from Keras's (LeakyRelu alpha
0.01 vs 0.3, BatchNormalization epsilon 1e-5 vs 1e-3, `same` padding with the extra cell at
the end rather than ONNX's SAME_LOWER/UPPER choice). ONNX float attributes are 32-bit: for a
float64 model whose constant would round (LeakyReLU's 0.05, SELU's constants), the function
is built from element-wise ops over float64 constants instead.

Catalogue layers (issue 13): DepthwiseConv2D and SeparableConv2D are grouped Convs;
Conv2DTranspose is a ConvTranspose whose pads (crop in front and behind) and
output_padding (cells past the full output) reproduce Keras's output geometry, and whose
output_shape is left out (it would override the pads); UpSampling is Resize (nearest:
asymmetric/floor; bilinear: half_pixel, which clamps at the edges as builder does);
LayerNormalization and Normalization are decomposed into the element-wise ops builder runs,
so any axes and float64 work; the layers that are identities at inference are Identity.

Node names are layer names: the layer's main node carries the name (`conv2d`), helper nodes
add a suffix (`conv2d/transpose`, `conv2d/activation`). Tensors are named after the node
that makes them, except that an output layer's final tensor takes the layer's name.
Converters are looked up by layer class in `CONVERTERS`, one small function per layer family.

The `onnx` package is imported lazily; without it `to_onnx` raises MissingExtraError with the
line to install it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from builder import __version__
from builder.errors import ConfigError, DataError, ResourceError, UnsupportedError, missing_extra
from builder.io import atomic_file
from builder.layers import activation as a
from builder.layers import conv, core, merge, normalization, pooling, reshaping
from builder.layers.base import Layer, batch_axis_index
from builder.ops.activations import SELU_ALPHA, SELU_SCALE
from builder.ops.normalization import KERAS_EPSILON
from builder.ops.shapes import effective_kernel, padding_amounts
from builder.ops.transpose import deconv_crop, deconv_output_length

if TYPE_CHECKING:
    import onnx

    from builder.graph import Node
    from builder.model import Model

OPSET = 18
"""ReduceMax/ReduceMean take their axes as an input from opset 18 on; Mish exists."""

PROTOBUF_LIMIT = 2**31 - 2**24
"""A serialized ModelProto must stay under 2 GiB; 16 MiB are left for the graph itself."""


NHWC = "channels_last"  # builder's layout: (N, ..., C); every tensor of rank <= 2 too
NCHW = "channels_first"  # (N, C, ...) as ONNX's Conv and pooling want, for rank >= 3


def to_channels_first(rank: int) -> tuple[int, ...]:
    """Transpose perm (N, d1, ..., C) → (N, C, d1, ...): (0, 3, 1, 2) at rank 4."""
    return (0, rank - 1, *range(1, rank - 1))


def to_channels_last(rank: int) -> tuple[int, ...]:
    """The inverse perm: (0, 2, 3, 1) at rank 4."""
    return (0, *range(2, rank), 1)


Params = Mapping[str, np.ndarray]


def import_onnx() -> Any:
    """The `onnx` module, or a MissingExtraError saying what to install."""
    try:
        import onnx
    except ImportError:
        raise missing_extra("ONNX export", "onnx") from None
    return onnx


@dataclass(frozen=True)
class Value:
    """A tensor of the ONNX graph: its name, rank, and whether it is held channels first."""

    name: str
    rank: int  # with the batch axis
    layout: str = NHWC

    def like(self, name: str) -> Value:
        """Another tensor of this one's rank and layout (an element-wise result)."""
        return Value(name, self.rank, self.layout)


class GraphBuilder:
    """Collects nodes and initializers; node names are unique, output name = node name."""

    def __init__(self, dtype: np.dtype) -> None:
        self.onnx = import_onnx()
        self.dtype = np.dtype(dtype)
        self.current: Node  # the model node being converted (its shapes)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()
        self._transposed: dict[tuple[str, str], Value] = {}

    def unique(self, name: str) -> str:
        candidate, k = name, 1
        while candidate in self._names:
            candidate, k = f"{name}_{k}", k + 1
        self._names.add(candidate)
        return candidate

    def node(self, op: str, inputs: Sequence[str], name: str, **attributes: Any) -> str:
        """Adds one node and returns the name of its (single) output."""
        name = self.unique(name)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [name], name, **attributes))
        return name

    def constant(self, name: str, array: Any, dtype: Any = None) -> str:
        """An initializer (weights, shapes, scalars), by default in the model's dtype."""
        array = np.asarray(array, dtype=self.dtype if dtype is None else dtype)
        name = self.unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def scalar(self, owner: str, value: float) -> str:
        return self.constant(f"{owner}/const", value)

    def exact_attribute(self, value: float) -> bool:
        """Can an ONNX float attribute (32-bit) carry `value` for this model's dtype?"""
        return self.dtype == np.float32 or float(np.float32(value)) == value

    def layout(self, value: Value, layout: str, owner: str) -> Value:
        """`value` in the wanted layout (rank >= 3 only), transposing once per tensor."""
        if value.rank < 3 or value.layout == layout:
            return value
        key = (value.name, layout)
        if key not in self._transposed:
            perm = to_channels_first if layout == NCHW else to_channels_last
            name = self.node(
                "Transpose", [value.name], f"{owner}/transpose", perm=list(perm(value.rank))
            )
            self._transposed[key] = Value(name, value.rank, layout)
        return self._transposed[key]


def feature_axis(value: Value, axis: int) -> int:
    """The axis of the ONNX tensor holding builder's batched axis `axis` (0 = batch)."""
    axis %= value.rank
    return to_channels_first(value.rank).index(axis) if value.layout == NCHW else axis


# --------------------------------------------------------------------------- activations

Unary = Callable[[GraphBuilder, Value, str], Value]


def _op(op: str, **attributes: Any) -> Unary:
    """An element-wise ONNX op with no weights; keeps the layout."""

    def convert(g: GraphBuilder, x: Value, name: str) -> Value:
        return x.like(g.node(op, [x.name], name, **attributes))

    return convert


def _clip(g: GraphBuilder, x: Value, name: str, low: float, high: float) -> Value:
    inputs = [x.name, g.scalar(name, low), g.scalar(name, high)]
    return x.like(g.node("Clip", inputs, name))


def _leaky(g: GraphBuilder, x: Value, name: str, alpha: float) -> Value:
    """x where x >= 0, else alpha·x: LeakyRelu, or PRelu with a float64 slope."""
    if g.exact_attribute(alpha):
        return x.like(g.node("LeakyRelu", [x.name], name, alpha=float(alpha)))
    return x.like(g.node("PRelu", [x.name, g.scalar(name, alpha)], name))


def _elu_parts(g: GraphBuilder, x: Value, name: str, alpha: float) -> str:
    """max(x, 0) + alpha·(exp(min(x, 0)) − 1), for constants that a float attribute rounds."""
    zero = g.scalar(name, 0.0)
    negative = g.node("Min", [x.name, zero], f"{name}/min")
    expm1 = g.node(
        "Sub", [g.node("Exp", [negative], f"{name}/exp"), g.scalar(name, 1.0)], f"{name}/expm1"
    )
    scaled = g.node("Mul", [expm1, g.scalar(name, alpha)], f"{name}/scale")
    return g.node("Add", [g.node("Max", [x.name, zero], f"{name}/max"), scaled], name)


def _elu(g: GraphBuilder, x: Value, name: str, alpha: float = 1.0) -> Value:
    if g.exact_attribute(alpha):
        return x.like(g.node("Elu", [x.name], name, alpha=float(alpha)))
    return x.like(_elu_parts(g, x, f"{name}", alpha))


def _selu(g: GraphBuilder, x: Value, name: str) -> Value:
    if g.dtype == np.float32:
        node = g.node("Selu", [x.name], name, alpha=SELU_ALPHA, gamma=SELU_SCALE)
        return x.like(node)
    elu = _elu_parts(g, x, f"{name}/elu", SELU_ALPHA)
    return x.like(g.node("Mul", [elu, g.scalar(name, SELU_SCALE)], name))


def _hard_sigmoid(g: GraphBuilder, x: Value, name: str) -> str:
    """relu6(x + 3)/6 (Keras 3), from Add/Clip/Div so it is exact at float64 too."""
    shifted = g.node("Add", [x.name, g.scalar(name, 3.0)], f"{name}/add")
    clipped = _clip(g, Value(shifted, x.rank), f"{name}/clip", 0.0, 6.0)
    return g.node("Div", [clipped.name, g.scalar(name, 6.0)], name)


def _times_x(gate: Callable[[GraphBuilder, Value, str], str]) -> Unary:
    """x·gate(x) (silu, hard_silu)."""

    def convert(g: GraphBuilder, x: Value, name: str) -> Value:
        return x.like(g.node("Mul", [x.name, gate(g, x, f"{name}/gate")], name))

    return convert


def _gelu(g: GraphBuilder, x: Value, name: str) -> Value:
    """Exact GELU: 0.5·x·(1 + erf(x/√2))."""
    scaled = g.node("Div", [x.name, g.scalar(name, math.sqrt(2.0))], f"{name}/div")
    erf = g.node("Erf", [scaled], f"{name}/erf")
    cdf = g.node("Add", [erf, g.scalar(name, 1.0)], f"{name}/add")
    half = g.node("Mul", [x.name, g.scalar(name, 0.5)], f"{name}/half")
    return x.like(g.node("Mul", [half, cdf], name))


def _softmax_like(op: str) -> Callable[[GraphBuilder, Value, str, int], Value]:
    def convert(g: GraphBuilder, x: Value, name: str, axis: int = -1) -> Value:
        node = g.node(op, [x.name], name, axis=feature_axis(x, axis))
        return x.like(node)

    return convert


def _sigmoid_gate(g: GraphBuilder, x: Value, name: str) -> str:
    return g.node("Sigmoid", [x.name], name)


NAMED_ACTIVATIONS: dict[str, Unary] = {
    "linear": _op("Identity"),
    "relu": _op("Relu"),
    "relu6": lambda g, x, name: _clip(g, x, name, 0.0, 6.0),
    "leaky_relu": lambda g, x, name: _leaky(g, x, name, 0.2),
    "elu": _elu,
    "selu": _selu,
    "sigmoid": _op("Sigmoid"),
    "hard_sigmoid": lambda g, x, name: x.like(_hard_sigmoid(g, x, name)),
    "tanh": _op("Tanh"),
    "softmax": lambda g, x, name: _softmax_like("Softmax")(g, x, name, -1),
    "log_softmax": lambda g, x, name: _softmax_like("LogSoftmax")(g, x, name, -1),
    "softplus": _op("Softplus"),
    "softsign": _op("Softsign"),
    "silu": _times_x(_sigmoid_gate),
    "swish": _times_x(_sigmoid_gate),
    "hard_silu": _times_x(_hard_sigmoid),
    "hard_swish": _times_x(_hard_sigmoid),
    "gelu": _gelu,
    "mish": _op("Mish"),
    "exponential": _op("Exp"),
}
"""Each string activation of SPEC section 4 → its ONNX subgraph."""


# --------------------------------------------------------------------------- layers

Converter = Callable[[GraphBuilder, Any, list[Value], Params, str], Value]
"""(graph, layer, inputs, the layer's weights, node name) → output value."""


def _activation(
    g: GraphBuilder, layer: a.Activation, xs: list[Value], params: Params, name: str
) -> Value:
    return convert_layer(g, layer.inner, xs, params, name)


def _named(
    g: GraphBuilder, layer: a.NamedActivation, xs: list[Value], params: Params, name: str
) -> Value:
    return NAMED_ACTIVATIONS[layer.name](g, xs[0], name)


def _relu(g: GraphBuilder, layer: a.ReLU, xs: list[Value], params: Params, name: str) -> Value:
    """min(x, max_value) where x > threshold, else negative_slope·(x − threshold)."""
    s, x = layer.spec, xs[0]
    if s.threshold == 0 and s.negative_slope == 0:
        if s.max_value is None:
            return x.like(g.node("Relu", [x.name], name))
        return _clip(g, x, name, 0.0, s.max_value)
    threshold = g.scalar(name, s.threshold)
    above = g.node("Greater", [x.name, threshold], f"{name}/above")
    high = (
        x.name
        if s.max_value is None
        else g.node("Min", [x.name, g.scalar(name, s.max_value)], f"{name}/min")
    )
    shifted = g.node("Sub", [x.name, threshold], f"{name}/sub")
    low = g.node("Mul", [shifted, g.scalar(name, s.negative_slope)], f"{name}/slope")
    return x.like(g.node("Where", [above, high, low], name))


def _leaky_relu(
    g: GraphBuilder, layer: a.LeakyReLU, xs: list[Value], params: Params, name: str
) -> Value:
    return _leaky(g, xs[0], name, layer.spec.alpha)


def _elu_layer(g: GraphBuilder, layer: a.ELU, xs: list[Value], params: Params, name: str) -> Value:
    return _elu(g, xs[0], name, layer.spec.alpha)


def _thresholded_relu(
    g: GraphBuilder, layer: a.ThresholdedReLU, xs: list[Value], params: Params, name: str
) -> Value:
    x, theta = xs[0], layer.spec.theta
    if g.exact_attribute(theta):
        return x.like(g.node("ThresholdedRelu", [x.name], name, alpha=float(theta)))
    above = g.node("Greater", [x.name, g.scalar(name, theta)], f"{name}/above")
    return x.like(g.node("Where", [above, x.name, g.scalar(name, 0.0)], name))


def _softmax(
    g: GraphBuilder, layer: a.Softmax, xs: list[Value], params: Params, name: str
) -> Value:
    return _softmax_like("Softmax")(g, xs[0], name, layer.spec.axis)


def _prelu(g: GraphBuilder, layer: a.PReLU, xs: list[Value], params: Params, name: str) -> Value:
    """PRelu with slope = alpha (per-sample shape, 1 on shared axes), broadcast from the right."""
    x, alpha = xs[0], params["alpha"]
    if x.layout == NCHW:
        alpha = np.moveaxis(alpha, -1, 0)  # (H, W, C) → (C, H, W)
    slope = g.constant(f"{layer.name}/alpha", alpha)  # the weight key, inline or not
    return x.like(g.node("PRelu", [x.name, slope], name))


def _with_activation(
    g: GraphBuilder, layer: a.WithActivation, y: Value, params: Params, name: str
) -> Value:
    if layer.activation is None:
        return y
    return convert_layer(g, layer.activation, [y], params, f"{name}/activation")


def _pads(
    padding: str,
    spatial_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
) -> list[int]:
    """ONNX pads (all begins, then all ends: [top, left, bottom, right] in 2-D); TensorFlow's
    `same` puts the odd cell at the end."""
    amounts = [
        padding_amounts(length, k, st, padding, d)
        for length, k, st, d in zip(spatial_shape, kernel, strides, dilation, strict=True)
    ]
    return [before for before, _ in amounts] + [after for _, after in amounts]


def onnx_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras's (*window, C/groups, F) → ONNX's (F, C/groups, *window), in 1-D and 2-D alike."""
    rank = kernel.ndim
    return kernel.transpose(rank - 1, rank - 2, *range(rank - 2))


def _conv_node(
    g: GraphBuilder,
    x: Value,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    *,
    kernel_size: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    pads: list[int],
    name: str,
) -> Value:
    """One ONNX Conv over channels-first `x` with Keras kernel (*window, C/groups, F)."""
    x = g.layout(x, NCHW, name)
    inputs = [x.name, g.constant(f"{name}/kernel", onnx_kernel(kernel))]
    if bias is not None:
        inputs.append(g.constant(f"{name}/bias", bias))
    y = g.node(
        "Conv",
        inputs,
        name,
        auto_pad="NOTSET",
        dilations=list(dilation),
        group=groups,
        kernel_shape=list(kernel_size),
        pads=pads,
        strides=list(strides),
    )
    return x.like(y)


def _conv(g: GraphBuilder, layer: conv.Conv2D, xs: list[Value], params: Params, name: str) -> Value:
    """Conv over channels-first data, TensorFlow's pads explicit."""
    s, shape = layer.spec, g.current.input_shape
    y = _conv_node(
        g,
        xs[0],
        params["kernel"],
        params.get("bias"),
        kernel_size=s.kernel_size,
        strides=s.strides,
        dilation=s.dilation_rate,
        groups=s.groups,
        pads=_pads(s.padding, shape[:-1], s.kernel_size, s.strides, s.dilation_rate),
        name=name,
    )
    return _with_activation(g, layer, y, params, name)


def _dense(g: GraphBuilder, layer: core.Dense, xs: list[Value], params: Params, name: str) -> Value:
    """MatMul on the last axis (any rank), then Add the bias."""
    x = g.layout(xs[0], NHWC, name)
    kernel = g.constant(f"{name}/kernel", params["kernel"])
    y = g.node("MatMul", [x.name, kernel], name if "bias" not in params else f"{name}/matmul")
    if "bias" in params:
        y = g.node("Add", [y, g.constant(f"{name}/bias", params["bias"])], name)
    return _with_activation(g, layer, Value(y, x.rank), params, name)


def _pool(op: str, **extra: Any) -> Converter:
    """MaxPool/AveragePool over channels-first data, TensorFlow pads explicit; `extra` holds
    the op's own attributes."""

    def convert(
        g: GraphBuilder, layer: pooling._Pooling2D, xs: list[Value], params: Params, name: str
    ) -> Value:
        s = layer.spec
        x = g.layout(xs[0], NCHW, name)
        ones = (1,) * len(s.pool_size)
        y = g.node(
            op,
            [x.name],
            name,
            auto_pad="NOTSET",
            ceil_mode=0,
            kernel_shape=list(s.pool_size),
            pads=_pads(s.padding, g.current.input_shape[:-1], s.pool_size, s.strides, ones),
            strides=list(s.strides),
            **{key: value(len(ones)) if callable(value) else value for key, value in extra.items()},
        )
        return x.like(y)

    return convert


def _global_pool(op: str) -> Converter:
    """ReduceMax/ReduceMean over the spatial axes, in whichever layout the input is."""

    def convert(g: GraphBuilder, layer: Any, xs: list[Value], params: Params, name: str) -> Value:
        x = xs[0]
        first = 2 if x.layout == NCHW else 1
        axes = list(range(first, first + x.rank - 2))
        keep = int(layer.spec.keepdims)
        axes_name = g.constant(f"{name}/axes", axes, np.int64)
        y = g.node(op, [x.name, axes_name], name, keepdims=keep, noop_with_empty_axes=0)
        return x.like(y) if keep else Value(y, 2)

    return convert


def _flatten(
    g: GraphBuilder, layer: core.Flatten, xs: list[Value], params: Params, name: str
) -> Value:
    x = g.layout(xs[0], NHWC, name)
    return Value(g.node("Flatten", [x.name], name, axis=1), 2)


def _identity(g: GraphBuilder, layer: Layer, xs: list[Value], params: Params, name: str) -> Value:
    x = xs[0]
    return x.like(g.node("Identity", [x.name], name))


def _batch_norm(
    g: GraphBuilder,
    layer: normalization.BatchNormalization,
    xs: list[Value],
    params: Params,
    name: str,
) -> Value:
    """BatchNormalization (epsilon and momentum explicit) over the channels, held first;
    for another feature axis, or an epsilon that a 32-bit attribute rounds (float64), the
    same formula folded into x·factor + offset in float64, as the NumPy engine does."""
    s, x = layer.spec, xs[0]
    on_channels = batch_axis_index(s.axis, x.rank - 1) == x.rank - 2
    if on_channels and g.exact_attribute(s.epsilon):
        x = g.layout(x, NCHW, name)
        size = params["moving_mean"].shape[0]
        inputs = [
            x.name,
            g.constant(f"{name}/gamma", params["gamma"] if s.scale else np.ones(size)),
            g.constant(f"{name}/beta", params["beta"] if s.center else np.zeros(size)),
            g.constant(f"{name}/moving_mean", params["moving_mean"]),
            g.constant(f"{name}/moving_variance", params["moving_variance"]),
        ]
        y = g.node(
            "BatchNormalization",
            inputs,
            name,
            epsilon=float(s.epsilon),
            momentum=float(s.momentum),
            training_mode=0,
        )
        return x.like(y)
    inv_std = 1.0 / np.sqrt(params["moving_variance"].astype(np.float64) + s.epsilon)
    factor = inv_std * params["gamma"] if s.scale else inv_std
    offset = -params["moving_mean"] * factor + (params["beta"] if s.center else 0.0)
    return scale_and_shift(g, x, s.axis, factor, offset, name)


def scale_and_shift(
    g: GraphBuilder, x: Value, axis: int, factor: np.ndarray, offset: np.ndarray, name: str
) -> Value:
    """y = x·factor + offset with per-feature vectors along builder's batched `axis`, in
    whichever layout x is (BatchNormalization)."""
    shape = [1] * x.rank
    shape[feature_axis(x, axis)] = -1
    scaled = g.node(
        "Mul", [x.name, g.constant(f"{name}/factor", factor.reshape(shape))], f"{name}/scale"
    )
    y = g.node("Add", [scaled, g.constant(f"{name}/offset", offset.reshape(shape))], name)
    return x.like(y)


def _zero_padding(
    g: GraphBuilder, layer: reshaping.ZeroPadding2D, xs: list[Value], params: Params, name: str
) -> Value:
    """Pad with zeros, ((before, after), ...) per spatial axis."""
    x, spatial = xs[0], [tuple(pair) for pair in layer.spec.padding]
    pairs = [(0, 0), (0, 0), *spatial] if x.layout == NCHW else [(0, 0), *spatial, (0, 0)]
    pads = [before for before, _ in pairs] + [after for _, after in pairs]
    inputs = [x.name, g.constant(f"{name}/pads", pads, np.int64), g.scalar(name, 0.0)]
    return x.like(g.node("Pad", inputs, name, mode="constant"))


def _reshape(
    g: GraphBuilder, layer: reshaping.Reshape, xs: list[Value], params: Params, name: str
) -> Value:
    x = g.layout(xs[0], NHWC, name)
    target = g.current.output_shape
    shape = g.constant(f"{name}/shape", [-1, *target], np.int64)
    return Value(g.node("Reshape", [x.name, shape], name, allowzero=0), len(target) + 1)


def _same_layout(g: GraphBuilder, xs: list[Value], name: str) -> list[Value]:
    """All NCHW when every input is a NCHW tensor (no transposes), else all in builder layout."""
    if all(x.layout == NCHW for x in xs):
        return xs
    return [g.layout(x, NHWC, name) for x in xs]


def _keras_broadcast(g: GraphBuilder, xs: list[Value], name: str) -> list[Value]:
    """Keras merges give a lower-rank input new axes right after the batch axis (Unsqueeze)."""
    rank = max(x.rank for x in xs)
    found = []
    for x in xs:
        if x.rank < rank:
            axes = g.constant(f"{name}/axes", list(range(1, 1 + rank - x.rank)), np.int64)
            x = Value(g.node("Unsqueeze", [x.name, axes], f"{name}/unsqueeze"), rank)
        found.append(x)
    return found


def _elementwise(op: str, variadic: bool) -> Converter:
    def convert(g: GraphBuilder, layer: Layer, xs: list[Value], params: Params, name: str) -> Value:
        xs = _keras_broadcast(g, _same_layout(g, xs, name), name)
        if variadic:
            y = g.node(op, [x.name for x in xs], name)
        else:  # a left fold of a binary op, as the NumPy engine computes it
            y = xs[0].name
            for k, x in enumerate(xs[1:], start=1):
                y = g.node(op, [y, x.name], name if k == len(xs) - 1 else f"{name}/{op.lower()}")
        return xs[0].like(y)  # after _keras_broadcast every input has the output's rank

    return convert


def _average(
    g: GraphBuilder, layer: merge.Average, xs: list[Value], params: Params, name: str
) -> Value:
    """Sum, then divide by the count, as the NumPy engine (ONNX's Mean would do the same)."""
    total = _elementwise("Sum", variadic=True)(g, layer, xs, params, f"{name}/sum")
    y = g.node("Div", [total.name, g.scalar(name, float(len(xs)))], name)
    return total.like(y)


def _concatenate(
    g: GraphBuilder, layer: merge.Concatenate, xs: list[Value], params: Params, name: str
) -> Value:
    xs = _same_layout(g, xs, name)
    axis = batch_axis_index(layer.spec.axis, xs[0].rank - 1) + 1
    y = g.node("Concat", [x.name for x in xs], name, axis=feature_axis(xs[0], axis))
    return xs[0].like(y)


# --------------------------------------------------------------------------- catalogue layers


def _depthwise(
    g: GraphBuilder, layer: conv.DepthwiseConv2D, xs: list[Value], params: Params, name: str
) -> Value:
    """A grouped Conv with one group per input channel: Keras's (kh, kw, C, m) kernel is the
    (kh, kw, 1, C·m) kernel of a Conv2D with groups = C (output channel c·m + q)."""
    s, shape = layer.spec, g.current.input_shape
    kh, kw, channels, multiplier = params["kernel"].shape
    y = _conv_node(
        g,
        xs[0],
        params["kernel"].reshape(kh, kw, 1, channels * multiplier),
        params.get("bias"),
        kernel_size=s.kernel_size,
        strides=s.strides,
        dilation=s.dilation_rate,
        groups=channels,
        pads=_pads(s.padding, shape[:-1], s.kernel_size, s.strides, s.dilation_rate),
        name=name,
    )
    return _with_activation(g, layer, y, params, name)


def _separable(
    g: GraphBuilder, layer: conv.SeparableConv2D, xs: list[Value], params: Params, name: str
) -> Value:
    """The depthwise Conv (no bias, node `<name>/depthwise`), then a 1×1 Conv with the bias."""
    s, shape = layer.spec, g.current.input_shape
    kh, kw, channels, multiplier = params["depthwise_kernel"].shape
    inner = _conv_node(
        g,
        xs[0],
        params["depthwise_kernel"].reshape(kh, kw, 1, channels * multiplier),
        None,
        kernel_size=s.kernel_size,
        strides=s.strides,
        dilation=s.dilation_rate,
        groups=channels,
        pads=_pads(s.padding, shape[:-1], s.kernel_size, s.strides, s.dilation_rate),
        name=f"{name}/depthwise",
    )
    y = _conv_node(
        g,
        inner,
        params["pointwise_kernel"],
        params.get("bias"),
        kernel_size=(1, 1),
        strides=(1, 1),
        dilation=(1, 1),
        groups=1,
        pads=[0, 0, 0, 0],
        name=name,
    )
    return _with_activation(g, layer, y, params, name)


def _conv_transpose(
    g: GraphBuilder, layer: conv.Conv2DTranspose, xs: list[Value], params: Params, name: str
) -> Value:
    """ConvTranspose with explicit pads and output_padding: of ONNX's full output
    (H − 1)·s + e (e = d·(k − 1) + 1), Keras keeps `out` cells from `crop` on
    (`deconv_crop`, `deconv_output_length`); cells past the full output (valid with s > e,
    or Keras's output_padding) are ONNX output_padding, the rest is cropped by pads."""
    s, shape = layer.spec, g.current.input_shape
    x = g.layout(xs[0], NCHW, name)
    paddings = (None, None) if s.output_padding is None else s.output_padding
    begins, ends, extra = [], [], []
    for axis, length in enumerate(shape[:2]):
        k, st, d, p = s.kernel_size[axis], s.strides[axis], s.dilation_rate[axis], paddings[axis]
        full = (length - 1) * st + effective_kernel(k, d)
        crop = deconv_crop(k, st, s.padding, p, d)
        out = deconv_output_length(length, k, st, s.padding, p, d)
        begins.append(crop)
        ends.append(max(full - crop - out, 0))
        extra.append(max(crop + out - full, 0))
    # Keras (kh, kw, F, C) → ONNX (C, F, kh, kw)
    inputs = [x.name, g.constant(f"{name}/kernel", params["kernel"].transpose(3, 2, 0, 1))]
    if "bias" in params:
        inputs.append(g.constant(f"{name}/bias", params["bias"]))
    y = g.node(
        "ConvTranspose",
        inputs,
        name,
        auto_pad="NOTSET",
        dilations=list(s.dilation_rate),
        group=1,
        kernel_shape=list(s.kernel_size),
        output_padding=extra,  # no output_shape: it would override the pads
        pads=begins + ends,
        strides=list(s.strides),
    )
    return _with_activation(g, layer, x.like(y), params, name)


def _conv1d(
    g: GraphBuilder, layer: conv.Conv1D, xs: list[Value], params: Params, name: str
) -> Value:
    """Conv over (N, C, T); `causal` pads d·(k − 1) steps in front only."""
    s, shape = layer.spec, g.current.input_shape
    if s.padding == "causal":
        pads = [s.dilation_rate * (s.kernel_size - 1), 0]
    else:
        pads = _pads(s.padding, shape[:1], (s.kernel_size,), (s.strides,), (s.dilation_rate,))
    y = _conv_node(
        g,
        xs[0],
        params["kernel"],
        params.get("bias"),
        kernel_size=(s.kernel_size,),
        strides=(s.strides,),
        dilation=(s.dilation_rate,),
        groups=s.groups,
        pads=pads,
        name=name,
    )
    return _with_activation(g, layer, y, params, name)


def _pool1d(op: str, **extra: Any) -> Converter:
    """MaxPool/AveragePool over (N, C, T), TensorFlow's pads explicit."""

    def convert(g: GraphBuilder, layer: Any, xs: list[Value], params: Params, name: str) -> Value:
        s = layer.spec
        x = g.layout(xs[0], NCHW, name)
        y = g.node(
            op,
            [x.name],
            name,
            auto_pad="NOTSET",
            ceil_mode=0,
            kernel_shape=[s.pool_size],
            pads=_pads(s.padding, g.current.input_shape[:1], (s.pool_size,), (s.strides,), (1,)),
            strides=[s.strides],
            **extra,
        )
        return x.like(y)

    return convert


def _slice(g: GraphBuilder, x: Value, crops: Sequence[tuple[int, int]], name: str) -> Value:
    """Drops (front, back) cells of each of builder's axes 1, 2, ... (channels excluded)."""
    shape = g.current.input_shape
    axes = [feature_axis(x, 1 + k) for k in range(len(crops))]
    starts = [front for front, _ in crops]
    ends = [length - back for length, (_, back) in zip(shape, crops, strict=False)]
    inputs = [
        x.name,
        g.constant(f"{name}/starts", starts, np.int64),
        g.constant(f"{name}/ends", ends, np.int64),
        g.constant(f"{name}/axes", axes, np.int64),
        g.constant(f"{name}/steps", [1] * len(crops), np.int64),
    ]
    return x.like(g.node("Slice", inputs, name))


def _cropping(g: GraphBuilder, layer: Any, xs: list[Value], params: Params, name: str) -> Value:
    """Cropping2D ((top, bottom), (left, right)) and Cropping1D (start, end) as one Slice."""
    cropping = layer.spec.cropping
    pairs = [cropping] if isinstance(cropping[0], int) else list(cropping)
    return _slice(g, xs[0], [tuple(pair) for pair in pairs], name)


def _zero_padding1d(
    g: GraphBuilder, layer: reshaping.ZeroPadding1D, xs: list[Value], params: Params, name: str
) -> Value:
    x = g.layout(xs[0], NHWC, name)
    start, end = layer.spec.padding
    pads = [0, start, 0, 0, end, 0]
    inputs = [x.name, g.constant(f"{name}/pads", pads, np.int64), g.scalar(name, 0.0)]
    return x.like(g.node("Pad", inputs, name, mode="constant"))


def _resize(g: GraphBuilder, x: Value, factors: Sequence[int], mode: str, name: str) -> Value:
    """Resize by integer factors along builder's axes 1, 2, ...: `nearest` as
    x[floor(i/s)] (asymmetric coordinates, floor), `linear` with half-pixel centres, which
    clamps the source position at the edges as builder's bilinear does."""
    scales = [1.0] * x.rank
    for k, factor in enumerate(factors):
        scales[feature_axis(x, 1 + k)] = float(factor)
    inputs = [x.name, "", g.constant(f"{name}/scales", scales, np.float32)]
    nearest = mode == "nearest"
    y = g.node(
        "Resize",
        inputs,
        name,
        antialias=0,
        axes=list(range(x.rank)),
        coordinate_transformation_mode="asymmetric" if nearest else "half_pixel",
        cubic_coeff_a=-0.75,
        exclude_outside=0,
        extrapolation_value=0.0,
        keep_aspect_ratio_policy="stretch",
        mode=mode,
        nearest_mode="floor",
    )
    return x.like(y)


def _upsampling2d(
    g: GraphBuilder, layer: reshaping.UpSampling2D, xs: list[Value], params: Params, name: str
) -> Value:
    mode = "nearest" if layer.spec.interpolation == "nearest" else "linear"
    return _resize(g, xs[0], layer.spec.size, mode, name)


def _upsampling1d(
    g: GraphBuilder, layer: reshaping.UpSampling1D, xs: list[Value], params: Params, name: str
) -> Value:
    return _resize(g, xs[0], (layer.spec.size,), "nearest", name)


def _permute(
    g: GraphBuilder, layer: reshaping.Permute, xs: list[Value], params: Params, name: str
) -> Value:
    x = g.layout(xs[0], NHWC, name)
    return x.like(g.node("Transpose", [x.name], name, perm=[0, *layer.spec.dims]))


def _repeat_vector(
    g: GraphBuilder, layer: reshaping.RepeatVector, xs: list[Value], params: Params, name: str
) -> Value:
    """(N, F) → Unsqueeze to (N, 1, F) → Tile (1, n, 1)."""
    x = xs[0]
    axes = g.constant(f"{name}/axes", [1], np.int64)
    column = g.node("Unsqueeze", [x.name, axes], f"{name}/unsqueeze")
    repeats = g.constant(f"{name}/repeats", [1, layer.spec.n, 1], np.int64)
    return Value(g.node("Tile", [column, repeats], name), 3)


def _per_channel(g: GraphBuilder, x: Value, value: Any, owner: str) -> str:
    """A scalar, or one value per channel shaped to broadcast along x's channel axis."""
    array = np.asarray(value, dtype=g.dtype)
    if array.ndim:
        shape = [1] * x.rank
        shape[feature_axis(x, -1)] = -1
        array = array.reshape(shape)
    return g.constant(owner, array)


def _rescaling(
    g: GraphBuilder, layer: normalization.Rescaling, xs: list[Value], params: Params, name: str
) -> Value:
    """x·scale + offset (Mul, then Add), in the model's dtype as builder computes it."""
    x, s = xs[0], layer.spec
    scaled = g.node("Mul", [x.name, _per_channel(g, x, s.scale, f"{name}/scale")], f"{name}/mul")
    return x.like(g.node("Add", [scaled, _per_channel(g, x, s.offset, f"{name}/offset")], name))


def _layer_scale(
    g: GraphBuilder, layer: normalization.LayerScale, xs: list[Value], params: Params, name: str
) -> Value:
    x = xs[0]
    return x.like(
        g.node("Mul", [x.name, _per_channel(g, x, params["gamma"], f"{name}/gamma")], name)
    )


def _broadcast(array: np.ndarray, rank: int, axes: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """A statistic over batched `axes` (ascending) reshaped to broadcast against rank `rank`."""
    shape = [1] * rank
    for axis, size in zip(axes, array.shape if array.ndim else [1] * len(axes), strict=False):
        shape[axis] = size
    return np.asarray(array, dtype=dtype).reshape(shape if array.ndim else [])


def _normalization(
    g: GraphBuilder, layer: normalization.Normalization, xs: list[Value], params: Params, name: str
) -> Value:
    """(x − mean)/spread, or mean + x·spread with `invert`; spread = max(sqrt(variance), 1e−7)
    computed here in the model's dtype, as builder does."""
    x = g.layout(xs[0], NHWC, name)
    kept = [a + 1 for a in layer.kept_axes(g.current.input_shape)]
    dtype = g.dtype
    mean = _broadcast(params["mean"].astype(dtype), x.rank, kept, dtype)
    variance = params["variance"].astype(dtype)
    spread = np.maximum(np.sqrt(variance), dtype.type(KERAS_EPSILON))
    centre = g.constant(f"{name}/mean", mean)
    spread_name = g.constant(f"{name}/spread", _broadcast(spread, x.rank, kept, dtype))
    if layer.spec.invert:
        scaled = g.node("Mul", [x.name, spread_name], f"{name}/mul")
        return x.like(g.node("Add", [centre, scaled], name))
    centred = g.node("Sub", [x.name, centre], f"{name}/sub")
    return x.like(g.node("Div", [centred, spread_name], name))


def _layer_norm(
    g: GraphBuilder,
    layer: normalization.LayerNormalization,
    xs: list[Value],
    params: Params,
    name: str,
) -> Value:
    """Decomposed as builder computes it (any axes, float32 and float64 alike):
    μ = mean(x), σ² = mean((x − μ)²), r = 1/sqrt(σ² + ε); y = (x − μ)·(r·γ) + β, or
    x·(r·γ) with rms_scaling. γ and β are reshaped onto the axes in ascending order."""
    s, x = layer.spec, g.layout(xs[0], NHWC, name)
    axes = sorted(a % x.rank for a in s.axis)
    axes_name = g.constant(f"{name}/axes", axes, np.int64)

    def reduce_mean(value: str, label: str) -> str:
        return g.node(
            "ReduceMean", [value, axes_name], f"{name}/{label}", keepdims=1, noop_with_empty_axes=0
        )

    mean = reduce_mean(x.name, "mean")
    centred = g.node("Sub", [x.name, mean], f"{name}/centred")
    square = g.node("Mul", [centred, centred], f"{name}/square")
    variance = reduce_mean(square, "variance")
    shifted = g.node("Add", [variance, g.scalar(f"{name}/epsilon", s.epsilon)], f"{name}/add")
    root = g.node("Sqrt", [shifted], f"{name}/sqrt")
    scale = g.node("Div", [g.scalar(f"{name}/one", 1.0), root], f"{name}/inverse")
    shape = [x_size if a in axes else 1 for a, x_size in enumerate([0, *g.current.input_shape])]
    if "gamma" in params:
        gamma = g.constant(f"{name}/gamma", params["gamma"].reshape(shape))
        scale = g.node("Mul", [scale, gamma], f"{name}/gamma_scale")
    if s.rms_scaling:
        return x.like(g.node("Mul", [x.name, scale], name))
    if "beta" not in params:
        return x.like(g.node("Mul", [centred, scale], name))
    out = g.node("Mul", [centred, scale], f"{name}/scale")
    beta = g.constant(f"{name}/beta", params["beta"].reshape(shape))
    return x.like(g.node("Add", [out, beta], name))


CONVERTERS: dict[type, Converter] = {
    a.NamedActivation: _named,
    conv.Conv2D: _conv,
    pooling.MaxPooling2D: _pool("MaxPool", dilations=lambda n: [1] * n, storage_order=0),
    pooling.AveragePooling2D: _pool("AveragePool", count_include_pad=0),
    pooling.GlobalMaxPooling2D: _global_pool("ReduceMax"),
    pooling.GlobalAveragePooling2D: _global_pool("ReduceMean"),
    core.Flatten: _flatten,
    core.Dense: _dense,
    core.Dropout: _identity,
    normalization.BatchNormalization: _batch_norm,
    a.Activation: _activation,
    a.ReLU: _relu,
    a.LeakyReLU: _leaky_relu,
    a.PReLU: _prelu,
    a.ELU: _elu_layer,
    a.ThresholdedReLU: _thresholded_relu,
    a.Softmax: _softmax,
    reshaping.ZeroPadding2D: _zero_padding,
    reshaping.Reshape: _reshape,
    merge.Add: _elementwise("Sum", variadic=True),
    merge.Subtract: _elementwise("Sub", variadic=False),
    merge.Multiply: _elementwise("Mul", variadic=False),
    merge.Average: _average,
    merge.Maximum: _elementwise("Max", variadic=True),
    merge.Minimum: _elementwise("Min", variadic=True),
    merge.Concatenate: _concatenate,
    conv.DepthwiseConv2D: _depthwise,
    conv.SeparableConv2D: _separable,
    conv.Conv2DTranspose: _conv_transpose,
    conv.Conv1D: _conv1d,
    pooling.MaxPooling1D: _pool1d("MaxPool", dilations=[1], storage_order=0),
    pooling.AveragePooling1D: _pool1d("AveragePool", count_include_pad=0),
    pooling.GlobalMaxPooling1D: _global_pool("ReduceMax"),
    pooling.GlobalAveragePooling1D: _global_pool("ReduceMean"),
    reshaping.UpSampling2D: _upsampling2d,
    reshaping.UpSampling1D: _upsampling1d,
    reshaping.Cropping2D: _cropping,
    reshaping.Cropping1D: _cropping,
    reshaping.ZeroPadding1D: _zero_padding1d,
    reshaping.Permute: _permute,
    reshaping.RepeatVector: _repeat_vector,
    normalization.Rescaling: _rescaling,
    normalization.Normalization: _normalization,
    normalization.LayerNormalization: _layer_norm,
    normalization.LayerScale: _layer_scale,
    core.SpatialDropout2D: _identity,
    core.GaussianNoise: _identity,
    core.GaussianDropout: _identity,
    core.Identity: _identity,
}
"""Layer class → converter. A layer without an entry cannot be exported (ConfigError)."""


def converter_for(layer: Any) -> Converter | None:
    """The converter of a layer's class (or of its nearest base class that has one)."""
    return next((CONVERTERS[cls] for cls in type(layer).__mro__ if cls in CONVERTERS), None)


def convert_layer(g: GraphBuilder, layer: Any, xs: list[Value], params: Params, name: str) -> Value:
    convert = converter_for(layer)
    if convert is None:  # to_onnx checks the layers first; this guards inline activations
        raise UnsupportedError(f"{name}: ONNX export does not support {layer.type_name} yet")
    return convert(g, layer, xs, params, name)


def _check_supported(model: Model) -> None:
    """One ConfigError listing every layer that has no converter, before any work."""
    spec = model.spec
    problems = [
        spec.problem_at(
            ("layers", node.index),
            spec.where(node.index),
            f"ONNX export does not support {node.layer.type_name} yet",
        )
        for node in model.nodes
        if converter_for(node.layer) is None
    ]
    if problems:
        raise ConfigError(problems)


def to_onnx(model: Model) -> onnx.ModelProto:
    """The model as ONNX (opset 18): one graph input per model input, named as in the config
    (`input` by default), of shape (N, *shape); one graph output per model output, named
    after its layer, of shape (N, *output shape); all channels_last, in the model's dtype;
    weights as initializers (the model's current weights, initialised from the seed if
    none were loaded)."""
    _check_supported(model)
    if model.weight_bytes() >= PROTOBUF_LIMIT:  # checked before any weight is allocated
        raise ResourceError(
            f"the weights take {model.weight_bytes():,} bytes, over the 2 GiB that one ONNX "
            "file can hold (weights in external files are not supported yet)"
        )
    g = GraphBuilder(model.dtype)
    helper = g.onnx.helper
    element = helper.np_dtype_to_tensor_dtype(model.dtype)
    values: dict[str, Value] = {}
    for name, shape in model.graph.inputs.items():
        values[name] = Value(g.unique(name), len(shape) + 1)
    weights: dict[str, dict[str, np.ndarray]] = {node.name: {} for node in model.nodes}
    for key, array in model.weights.items():
        layer, _, weight = key.partition("/")
        weights[layer][weight] = array
    for node in model.nodes:
        g.current = node
        inputs = [values[name] for name in node.inputs]
        values[node.name] = convert_layer(g, node.layer, inputs, weights[node.name], node.name)
    for name in model.graph.outputs:
        _name_output(g, g.layout(values[name], NHWC, name).name, name)
    graph = helper.make_graph(
        g.nodes,
        model.name,
        [
            helper.make_tensor_value_info(name, element, ["N", *shape])
            for name, shape in model.graph.inputs.items()
        ],
        [
            helper.make_tensor_value_info(name, element, ["N", *shape])
            for name, shape in model.output_shapes.items()
        ],
        initializer=g.initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="builder",
        producer_version=__version__,
    )
    proto.ir_version = 8  # opset 18's IR version; readable by onnxruntime >= 1.14
    return proto


def _name_output(g: GraphBuilder, tensor: str, layer: str) -> None:
    """Gives the layer's final tensor the layer's name, so that the graph output is called
    `conv2d` rather than `conv2d/activation` or `conv2d/transpose`: the tensor that had the
    name (the layer's main node's output) is renamed `layer/main`. Node names stay."""
    if tensor == layer:
        return
    swap = {layer: g.unique(f"{layer}/main"), tensor: layer}
    for node in g.nodes:
        node.input[:] = [swap.get(name, name) for name in node.input]
        node.output[:] = [swap.get(name, name) for name in node.output]


def save_onnx(model: Model, path: str | os.PathLike[str]) -> None:
    """Writes `to_onnx(model)` to `path` atomically (temporary file, then rename)."""
    data = to_onnx(model).SerializeToString()
    try:
        with atomic_file(path) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise DataError(f"{path}: cannot write: {error.strerror or error}") from None
