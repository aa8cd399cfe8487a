"""The top-level config model and Keras-style automatic layer names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from builder.errors import Problem
from builder.loader import KeyPath
from builder.spec.fields import NAME_PATTERN, LayerName, NonNegativeInt, Shape, StrictModel
from builder.spec.layers import LAYER_SPECS, LayerSpec

if TYPE_CHECKING:
    AnyLayerSpec = LayerSpec
else:  # the union of every registered layer model, discriminated by `type`
    AnyLayerSpec = Annotated[
        Union[LAYER_SPECS],  # noqa: UP007 (a runtime tuple)
        Field(discriminator="type"),
    ]


INPUT_NAME = "input"
"""The name by which layers refer to the model input (`inputs: [input]`)."""


def _one_as_list(value: Any) -> Any:
    """`outputs: head` is read as `[head]`."""
    return [value] if isinstance(value, str) else value


_NAME_SCHEMA = {"type": "string", "pattern": NAME_PATTERN}
_OUTPUTS_SCHEMA = {
    "anyOf": [_NAME_SCHEMA, {"type": "array", "items": _NAME_SCHEMA, "minItems": 1}],
    "description": "Names of the output layers (default: the last layer).",
}


class ModelSpec(StrictModel):
    """A validated config: per-sample input shape(s), dtype, seed, the layer list and outputs.

    Exactly one of `input_shape` (one input, called `input`) and `inputs` (named inputs,
    `{image: [224, 224, 3], meta: [8]}`) is given. After validation every layer has a
    name: the user's, or Keras's automatic one (`conv2d`, `conv2d_1`, ...), numbered per
    model and never reusing a user's name or an input's name.
    """

    name: str | None = Field(default=None, description="Model name; default: the file's stem.")
    input_shape: Shape | None = Field(
        default=None,
        description="Per-sample shape of the one input, channels_last, e.g. [28, 28, 1].",
    )
    inputs: Annotated[dict[LayerName, Shape], Field(min_length=1)] | None = Field(
        default=None,
        description="Named inputs and their per-sample shapes, instead of input_shape, "
        "e.g. {image: [224, 224, 3], meta: [8]}; layers read them by name.",
    )
    outputs: Annotated[
        Annotated[list[LayerName], Field(min_length=1)] | None,
        BeforeValidator(_one_as_list),
        WithJsonSchema(_OUTPUTS_SCHEMA),
    ] = Field(default=None, description="Names of the output layers (default: the last layer).")
    dtype: Literal["float32", "float64"] = "float32"
    seed: NonNegativeInt = Field(default=0, description="Weight-initialisation seed.")
    layers: Annotated[list[AnyLayerSpec], Field(min_length=1)]
    _source: Any = PrivateAttr(default=None)  # SourceMap of the YAML it came from, if any

    @model_validator(mode="after")
    def _auto_name(self, info: ValidationInfo) -> ModelSpec:
        # The YAML loader reports these with positions (builder.config); a spec built in
        # Python is checked here.
        taken = {layer.name for layer in self.layers if layer.name is not None}
        if not (info.context or {}).get("inputs_checked"):
            _check_input_declaration(self.input_shape is not None, self.inputs is not None)
            clash = sorted(taken & set(self.inputs or ()))
            if clash:
                raise PydanticCustomError(
                    "input_declaration",
                    f"layer {clash[0]!r} has the name of a model input; rename one of them",
                )
        taken |= set(self.inputs or ())
        counters: dict[str, int] = {}
        for layer in self.layers:
            if layer.name is None:
                layer.name = _next_name(snake_case(layer.type_name), counters, taken)
        return self

    @property
    def source(self) -> Any:
        """The `SourceMap` back to YAML positions (None for a spec built in Python)."""
        return self._source

    def where(self, index: int, field: str | None = None) -> str:
        """`layers[3] (Conv2D)` or `layers[3] (Conv2D) kernel_size`, as config errors say."""
        where = f"layers[{index}] ({self.layers[index].type_name})"
        return f"{where} {field}" if field else where

    def problem_at(self, path: KeyPath, where: str, message: str) -> Problem:
        """A problem at the YAML position of `path` (`("layers", 3, "kernel_size")`)."""
        if self.source is None:
            return Problem("<config>", None, None, where, message)
        return self.source.problem_at(path, where, message)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]  # type: ignore[misc]

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Input name → per-sample shape: `{"input": input_shape}` or the declared `inputs`."""
        if self.inputs is not None:
            return {name: tuple(shape) for name, shape in self.inputs.items()}
        return {INPUT_NAME: tuple(self.input_shape or ())}


def input_declaration_problem(has_shape: bool, has_inputs: bool) -> tuple[str, str] | None:
    """(field, message) when not exactly one of `input_shape` and `inputs` is given."""
    if has_shape and has_inputs:
        return "inputs", "give either input_shape (one input) or inputs (named inputs), not both"
    if not has_shape and not has_inputs:
        return "input_shape", "required field is missing"
    return None


def _check_input_declaration(has_shape: bool, has_inputs: bool) -> None:
    found = input_declaration_problem(has_shape, has_inputs)
    if found is not None:
        raise PydanticCustomError("input_declaration", f"{found[0]}: {found[1]}")


def snake_case(type_name: str) -> str:
    """Keras's `to_snake_case`: Conv2D → conv2d, LeakyReLU → leaky_re_lu, PReLU → p_re_lu."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _next_name(prefix: str, counters: dict[str, int], taken: set[str]) -> str:
    while True:
        count = counters.get(prefix, 0)
        counters[prefix] = count + 1
        candidate = prefix if count == 0 else f"{prefix}_{count}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
