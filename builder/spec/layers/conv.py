"""Convolution specs (kernel layouts as Keras's)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from builder.spec.fields import DataFormat, Initializer, Padding, Pair, PositiveInt
from builder.spec.layers.activation import ActivationValue
from builder.spec.layers.base import LayerSpec


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
    groups: PositiveInt = 1
    kernel_initializer: Initializer = "glorot_uniform"

    @field_validator("groups", mode="after")
    @classmethod
    def _groups_divide_filters(cls, value: int, info: Any) -> int:
        filters = info.data.get("filters")
        if filters is not None and filters % value:
            raise PydanticCustomError(
                "groups",
                "filters ({filters}) must be divisible by groups, got groups={groups}",
                {"filters": filters, "groups": value},
            )
        return value
