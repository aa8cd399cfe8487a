"""Reshaping specs: ZeroPadding2D and Reshape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from builder.spec.fields import DataFormat, describe, list_as_tuple
from builder.spec.layers.base import LayerSpec


def _zero_padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    def non_negative(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if non_negative(value):
        return ((value, value), (value, value))
    if isinstance(value, list) and len(value) == 2:
        if all(non_negative(v) for v in value):
            return ((value[0], value[0]), (value[1], value[1]))
        if all(
            isinstance(v, list) and len(v) == 2 and all(non_negative(x) for x in v) for v in value
        ):
            return ((value[0][0], value[0][1]), (value[1][0], value[1][1]))
    raise PydanticCustomError(
        "zero_padding",
        "must be an integer >= 0, a pair [rows, cols] or [[top, bottom], [left, right]], got {got}",
        {"got": describe(value)},
    )


_NN_INT = {"type": "integer", "minimum": 0}
_NN_PAIR = {"type": "array", "items": _NN_INT, "minItems": 2, "maxItems": 2}


class ZeroPadding2DSpec(LayerSpec):
    """Adds zero rows/columns: (H, W, C) → (H + top + bottom, W + left + right, C)."""

    type: Literal["ZeroPadding2D"]
    padding: Annotated[
        tuple[tuple[int, int], tuple[int, int]],
        BeforeValidator(_zero_padding),
        WithJsonSchema(
            {
                "anyOf": [
                    _NN_INT,
                    _NN_PAIR,
                    {"type": "array", "items": _NN_PAIR, "minItems": 2, "maxItems": 2},
                ]
            }
        ),
    ] = ((1, 1), (1, 1))
    data_format: DataFormat = "channels_last"


class ReshapeSpec(LayerSpec):
    """Reshapes each sample to `target_shape` (one −1 is inferred)."""

    type: Literal["Reshape"]
    target_shape: Annotated[tuple[int, ...], BeforeValidator(list_as_tuple), Field(min_length=1)]

    @field_validator("target_shape", mode="after")
    @classmethod
    def _check(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v == 0 or v < -1 for v in value) or value.count(-1) > 1:
            raise PydanticCustomError(
                "target_shape",
                "must hold positive sizes and at most one -1, got {got}",
                {"got": describe(list(value))},
            )
        return tuple(value)
