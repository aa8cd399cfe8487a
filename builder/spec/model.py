"""The top-level config model and Keras-style automatic layer names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, PrivateAttr, model_validator

from builder.errors import Problem
from builder.loader import KeyPath
from builder.spec.fields import NonNegativeInt, Shape, StrictModel
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


class ModelSpec(StrictModel):
    """A validated config: per-sample input shape, dtype, seed and the layer list.

    After validation every layer has a name: the user's, or Keras's automatic one
    (`conv2d`, `conv2d_1`, ...), numbered per model and never reusing a user's name.
    """

    name: str | None = Field(default=None, description="Model name; default: the file's stem.")
    input_shape: Shape = Field(description="Per-sample shape, channels_last, e.g. [28, 28, 1].")
    dtype: Literal["float32", "float64"] = "float32"
    seed: NonNegativeInt = Field(default=0, description="Weight-initialisation seed.")
    layers: Annotated[list[AnyLayerSpec], Field(min_length=1)]
    _source: Any = PrivateAttr(default=None)  # SourceMap of the YAML it came from, if any

    @model_validator(mode="after")
    def _auto_name(self) -> ModelSpec:
        taken = {layer.name for layer in self.layers if layer.name is not None}
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
