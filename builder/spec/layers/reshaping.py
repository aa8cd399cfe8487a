"""Reshaping specs: ZeroPadding2D and Reshape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from builder.spec.fields import DataFormat, Pair, PositiveInt, describe, list_as_tuple
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


_PAIRS_2D = Annotated[
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
]


def _steps_pair(value: Any) -> tuple[int, int]:
    def non_negative(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if non_negative(value):
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(non_negative(v) for v in value):
        return (value[0], value[1])
    raise PydanticCustomError(
        "steps_pair",
        "must be an integer >= 0 or a pair [start, end] of them, got {got}",
        {"got": describe(value)},
    )


_PAIR_1D = Annotated[
    tuple[int, int],
    BeforeValidator(_steps_pair),
    WithJsonSchema({"anyOf": [_NN_INT, _NN_PAIR]}),
]


class Cropping2DSpec(LayerSpec):
    """Drops rows and columns: (H, W, C) → (H − top − bottom, W − left − right, C)."""

    type: Literal["Cropping2D"]
    cropping: _PAIRS_2D = ((0, 0), (0, 0))
    data_format: DataFormat = "channels_last"


class UpSampling2DSpec(LayerSpec):
    """Enlarges by integer factors: (H, W, C) → (H·sh, W·sw, C), `nearest` (repeat) or
    `bilinear` (half-pixel centres, as Keras's resize)."""

    type: Literal["UpSampling2D"]
    size: Pair = (2, 2)
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    data_format: DataFormat = "channels_last"


class UpSampling1DSpec(LayerSpec):
    """Repeats every step `size` times: (T, C) → (T·size, C)."""

    type: Literal["UpSampling1D"]
    size: PositiveInt = 2


class ZeroPadding1DSpec(LayerSpec):
    """Adds zero steps: (T, C) → (start + T + end, C)."""

    type: Literal["ZeroPadding1D"]
    padding: _PAIR_1D = (1, 1)
    data_format: DataFormat = "channels_last"


class Cropping1DSpec(LayerSpec):
    """Drops steps: (T, C) → (T − start − end, C)."""

    type: Literal["Cropping1D"]
    cropping: _PAIR_1D = (1, 1)


class PermuteSpec(LayerSpec):
    """Permutes the per-sample axes: `dims` lists them 1-based (1 is the first axis after
    the batch axis, as Keras), e.g. [2, 1] swaps the two axes of (T, C)."""

    type: Literal["Permute"]
    dims: Annotated[
        tuple[PositiveInt, ...],
        BeforeValidator(list_as_tuple),
        Field(min_length=1),
        WithJsonSchema({"type": "array", "items": {"type": "integer", "minimum": 1}}),
    ]

    @field_validator("dims", mode="after")
    @classmethod
    def _is_permutation(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if sorted(value) != list(range(1, len(value) + 1)):
            raise PydanticCustomError(
                "dims",
                "must be a permutation of 1..{n} (consecutive, starting from 1), got {got}",
                {"n": len(value), "got": describe(list(value))},
            )
        return value


class RepeatVectorSpec(LayerSpec):
    """Repeats a vector n times: (F,) → (n, F)."""

    type: Literal["RepeatVector"]
    n: PositiveInt
