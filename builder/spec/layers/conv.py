"""Convolution specs (kernel layouts as Keras's)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from builder.spec.fields import (
    DataFormat,
    Initializer,
    Padding,
    Pair,
    PositiveInt,
    Single,
    describe,
)
from builder.spec.layers.activation import ActivationValue
from builder.spec.layers.base import LayerSpec, TrainingOnly


def _groups_divide_filters(value: int, info: ValidationInfo) -> int:
    """`groups` must divide `filters` (validated before it)."""
    filters = info.data.get("filters")
    if filters is not None and filters % value:
        raise PydanticCustomError(
            "groups",
            "filters ({filters}) must be divisible by groups, got groups={groups}",
            {"filters": filters, "groups": value},
        )
    return value


Groups = Annotated[PositiveInt, AfterValidator(_groups_divide_filters)]
"""Channel groups of a convolution: a positive integer dividing `filters`."""


class _ConvSpec(LayerSpec):
    """The arguments every 2-D convolution shares (Keras's `BaseConv`): a window of
    `kernel_size` taps spread by `dilation_rate`, moved by `strides`, then a bias and an
    inline activation."""

    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Padding = "valid"
    dilation_rate: Pair = (1, 1)
    activation: ActivationValue = "linear"
    use_bias: bool = True
    bias_initializer: Initializer = "zeros"
    data_format: DataFormat = "channels_last"


class Conv2DSpec(_ConvSpec):
    """2-D convolution, channels_last; kernel (kh, kw, C/groups, filters)."""

    type: Literal["Conv2D", "Convolution2D"]
    filters: PositiveInt
    groups: Groups = 1
    kernel_initializer: Initializer = "glorot_uniform"


class DepthwiseConv2DSpec(_ConvSpec):
    """Depthwise 2-D convolution: each input channel with its own `depth_multiplier`
    filters; kernel (kh, kw, C, depth_multiplier), named `kernel` as in Keras 3."""

    type: Literal["DepthwiseConv2D"]
    depthwise_regularizer: Any = TrainingOnly
    depthwise_constraint: Any = TrainingOnly
    depth_multiplier: PositiveInt = 1
    depthwise_initializer: Initializer = "glorot_uniform"


class SeparableConv2DSpec(_ConvSpec):
    """Depthwise convolution (no bias) then a 1×1 convolution to `filters` channels;
    `strides`, `padding` and `dilation_rate` apply to the depthwise stage."""

    type: Literal["SeparableConv2D", "SeparableConvolution2D"]
    depthwise_regularizer: Any = TrainingOnly
    pointwise_regularizer: Any = TrainingOnly
    depthwise_constraint: Any = TrainingOnly
    pointwise_constraint: Any = TrainingOnly
    filters: PositiveInt
    depth_multiplier: PositiveInt = 1
    depthwise_initializer: Initializer = "glorot_uniform"
    pointwise_initializer: Initializer = "glorot_uniform"


def _output_padding(value: Any) -> tuple[int, int] | None:
    def non_negative(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if value is None:
        return None
    if non_negative(value):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(non_negative(v) for v in value):
        return (value[0], value[1])
    raise PydanticCustomError(
        "output_padding",
        "must be null, an integer >= 0 or a list of two, got {got}",
        {"got": describe(value)},
    )


_NN_INT = {"type": "integer", "minimum": 0}


class Conv2DTransposeSpec(_ConvSpec):
    """Transposed 2-D convolution; kernel (kh, kw, filters, C) as Keras's."""

    type: Literal["Conv2DTranspose", "Convolution2DTranspose"]
    filters: PositiveInt
    output_padding: Annotated[
        tuple[int, int] | None,
        BeforeValidator(_output_padding),
        WithJsonSchema(
            {
                "anyOf": [
                    _NN_INT,
                    {"type": "array", "items": _NN_INT, "minItems": 2, "maxItems": 2},
                    {"type": "null"},
                ]
            }
        ),
    ] = None
    kernel_initializer: Initializer = "glorot_uniform"

    @field_validator("output_padding", mode="after")
    @classmethod
    def _below_strides(cls, value: tuple[int, int] | None, info: Any) -> tuple[int, int] | None:
        strides = info.data.get("strides")
        if (
            value is not None
            and strides is not None
            and any(p >= s for p, s in zip(value, strides, strict=True))
        ):
            raise PydanticCustomError(
                "output_padding",
                "must be strictly less than strides {strides} on every axis, got {got}",
                {"strides": list(strides), "got": list(value)},
            )
        return value


class Conv1DSpec(LayerSpec):
    """1-D convolution over (steps, C), channels_last; kernel (k, C/groups, filters).
    `causal` padding adds dilation_rate·(kernel_size − 1) zero steps in front."""

    type: Literal["Conv1D", "Convolution1D"]
    filters: PositiveInt
    kernel_size: Single
    strides: Single = 1
    padding: Literal["valid", "same", "causal"] = "valid"
    dilation_rate: Single = 1
    groups: Groups = 1
    activation: ActivationValue = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    data_format: DataFormat = "channels_last"
