"""Pooling specs: windowed max/average and global max/average over H and W."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, WithJsonSchema, field_validator

from builder.spec.fields import PAIR_SCHEMA, SINGLE_SCHEMA, DataFormat, Padding, Pair, Single
from builder.spec.layers.base import LayerSpec


class _WindowPoolingSpec(LayerSpec):
    """A window of `pool_size` moved by `strides`; `strides: null` (Keras's default) means
    pool_size, resolved here so that nothing downstream sees None."""

    positional: ClassVar[str | None] = "pool_size"

    @field_validator("strides", mode="before", check_fields=False)
    @classmethod
    def _default_to_pool_size(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return value
        # pool_size is validated first; when it failed, 1 stands in so that only its own
        # error is reported
        size = info.data.get("pool_size", 1)
        return list(size) if isinstance(size, tuple) else size


class _Pooling2DSpec(_WindowPoolingSpec):
    """A window of pool_size cells over (H, W)."""

    pool_size: Pair = (2, 2)
    strides: Annotated[Pair, WithJsonSchema({"anyOf": [PAIR_SCHEMA, {"type": "null"}]})] = Field(
        default=None, validate_default=True, description="Default: pool_size."
    )
    padding: Padding = "valid"
    data_format: DataFormat = "channels_last"


class MaxPooling2DSpec(_Pooling2DSpec):
    """Maximum over each window; `same` pads with −inf."""

    type: Literal["MaxPooling2D", "MaxPool2D"]


class AveragePooling2DSpec(_Pooling2DSpec):
    """Mean over each window; `same` divides by the real (unpadded) cells only."""

    type: Literal["AveragePooling2D", "AvgPool2D"]


class GlobalMaxPooling2DSpec(LayerSpec):
    """Maximum over H and W: (H, W, C) → (C,) or (1, 1, C) with keepdims."""

    type: Literal["GlobalMaxPooling2D", "GlobalMaxPool2D"]
    keepdims: bool = False
    data_format: DataFormat = "channels_last"


class GlobalAveragePooling2DSpec(LayerSpec):
    """Mean over H and W: (H, W, C) → (C,) or (1, 1, C) with keepdims."""

    type: Literal["GlobalAveragePooling2D", "GlobalAvgPool2D"]
    keepdims: bool = False
    data_format: DataFormat = "channels_last"


class _Pooling1DSpec(_WindowPoolingSpec):
    """A window of pool_size steps over (steps, C)."""

    pool_size: Single = 2
    strides: Annotated[Single, WithJsonSchema({"anyOf": [SINGLE_SCHEMA, {"type": "null"}]})] = (
        Field(default=None, validate_default=True, description="Default: pool_size.")
    )
    padding: Padding = "valid"
    data_format: DataFormat = "channels_last"


class MaxPooling1DSpec(_Pooling1DSpec):
    """Maximum over each window of steps; `same` pads with −inf."""

    type: Literal["MaxPooling1D", "MaxPool1D"]


class AveragePooling1DSpec(_Pooling1DSpec):
    """Mean over each window of steps; `same` divides by the real steps only."""

    type: Literal["AveragePooling1D", "AvgPool1D"]


class GlobalMaxPooling1DSpec(LayerSpec):
    """Maximum over the steps: (T, C) → (C,) or (1, C) with keepdims."""

    type: Literal["GlobalMaxPooling1D", "GlobalMaxPool1D"]
    keepdims: bool = False
    data_format: DataFormat = "channels_last"


class GlobalAveragePooling1DSpec(LayerSpec):
    """Mean over the steps: (T, C) → (C,) or (1, C) with keepdims."""

    type: Literal["GlobalAveragePooling1D", "GlobalAvgPool1D"]
    keepdims: bool = False
    data_format: DataFormat = "channels_last"
