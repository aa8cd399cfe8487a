"""Reusable field types of the config schema, with the messages a user sees.

Validation is strict: YAML values are never coerced (`yes` is a boolean, not a size;
`"32"` is a string, not a number). Each custom check raises `PydanticCustomError` whose
message is already phrased for the `FILE:LINE:COL: path: message` error line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from builder.ops.names import INITIALIZER_NAMES

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys are errors and nothing is coerced."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


def describe(value: Any) -> str:
    """How a received YAML value is shown in a message: `0`, `'32' (a string)`, `true (a boolean)`."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(describe(v) for v in value)}]" if len(value) <= 4 else "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise PydanticCustomError(
            "positive_int", "must be a positive integer, got {got}", {"got": describe(value)}
        )
    return value


def _non_negative_int(value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise PydanticCustomError(
            "non_negative_int", "must be an integer >= 0, got {got}", {"got": describe(value)}
        )
    return value


def _positive_pair(value: Any) -> tuple[int, int]:
    if _is_int(value) and value >= 1:
        return (value, value)
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v) and v >= 1 for v in value):
        return (value[0], value[1])
    if _is_int(value) or isinstance(value, bool):
        raise PydanticCustomError(
            "positive_int", "must be a positive integer, got {got}", {"got": describe(value)}
        )
    raise PydanticCustomError(
        "positive_pair",
        "must be a positive integer or a list of two positive integers, got {got}",
        {"got": describe(value)},
    )


_INT_SCHEMA = {"type": "integer", "minimum": 1}
PAIR_SCHEMA = {
    "anyOf": [_INT_SCHEMA, {"type": "array", "items": _INT_SCHEMA, "minItems": 2, "maxItems": 2}]
}

PositiveInt = Annotated[int, BeforeValidator(_positive_int), WithJsonSchema(_INT_SCHEMA)]
NonNegativeInt = Annotated[
    int, BeforeValidator(_non_negative_int), WithJsonSchema({"type": "integer", "minimum": 0})
]
Pair = Annotated[tuple[int, int], BeforeValidator(_positive_pair), WithJsonSchema(PAIR_SCHEMA)]
"""`3` or `[3, 3]`, normalised to a (rows, cols) tuple of positive integers."""

Padding = Literal["valid", "same"]


def _channels_last(value: Any) -> str:
    if value is None or value == "channels_last":
        return "channels_last"
    raise PydanticCustomError(
        "data_format",
        "only 'channels_last' is supported (inputs are (H, W, C)), got {got}",
        {"got": describe(value)},
    )


DataFormat = Annotated[Literal["channels_last"], BeforeValidator(_channels_last)]
"""Keras's `data_format`, accepted so Keras configs carry over; only channels_last exists here."""
Initializer = Literal[INITIALIZER_NAMES]  # type: ignore[valid-type]
NonNegativeFloat = Annotated[float, Field(ge=0)]
MAX_NAME_LENGTH = 255
"""A layer name becomes part of a file name inside weights archives (`<layer>/<weight>.npy`):
most file systems and zip tools accept 255 bytes per name."""
LayerName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)]


def list_as_tuple(value: Any) -> Any:
    """YAML lists become tuples (strict mode takes no list for a tuple); anything else is left
    for validation to refuse with `must be a list`."""
    return tuple(value) if isinstance(value, list) else value


Shape = Annotated[
    tuple[PositiveInt, ...],
    BeforeValidator(list_as_tuple),
    Field(min_length=1),
    WithJsonSchema({"type": "array", "items": _INT_SCHEMA, "minItems": 1}),
]
"""A per-sample shape such as `[28, 28, 1]`, normalised to a tuple."""


def _positive_single(value: Any) -> int:
    """A 1-D size: `3`, or Keras's one-element list `[3]` (how Keras 3 saves Conv1D's sizes)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not _is_int(value) or value < 1:
        raise PydanticCustomError(
            "positive_int",
            "must be a positive integer (or a list of one), got {got}",
            {"got": describe(value)},
        )
    return value


SINGLE_SCHEMA = {
    "anyOf": [_INT_SCHEMA, {"type": "array", "items": _INT_SCHEMA, "minItems": 1, "maxItems": 1}]
}
Single = Annotated[int, BeforeValidator(_positive_single), WithJsonSchema(SINGLE_SCHEMA)]
"""`3` or `[3]`, normalised to an int: the sizes of the 1-D layers."""
