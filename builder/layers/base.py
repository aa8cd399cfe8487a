"""What every layer is: validated hyper-parameters in, a pure shape function, a
description of its weights, its MACs, and the NumPy forward computation.

Layers hold no weights and no state: the model passes each call the layer's own
parameters (`{"kernel": ..., "bias": ...}`), so calling a layer never mutates it.
Shapes are per sample (no batch axis); arrays passed to `__call__` carry the batch axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

Shape = tuple[int, ...]
Params = Mapping[str, np.ndarray]


class ShapeError(ValueError):
    """The input shape cannot work for this layer; `field` names the argument to blame."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WeightSpec:
    """One weight array of a layer: `<layer>/<name>` in a weights file."""

    name: str
    shape: Shape
    initializer: str
    trainable: bool = True

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Layer:
    """Base class. Subclasses set `spec` fields they need in `__init__`."""

    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    commutes_with_max: bool = False
    """True for an element-wise f with f(max(a, b)) == max(f(a), f(b)) exactly in floating
    point (non-decreasing, piecewise linear); max pooling may then run before it."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.name: str = spec.name

    @property
    def type_name(self) -> str:
        return str(self.spec.type_name)

    @property
    def is_merge(self) -> bool:
        return self.max_inputs != 1

    def output_shape(self, input_shape: Any) -> Shape:
        """Per-sample output shape; raises ShapeError when the input cannot work."""
        return tuple(input_shape)

    def weights(self, input_shape: Any) -> list[WeightSpec]:
        return []

    def macs(self, input_shape: Any) -> int:
        """Multiply-accumulates per sample (counted for Conv2D and Dense only)."""
        return 0

    def activation_label(self) -> str | None:
        """The inline activation shown in the summary (`LeakyReLU`), or None when linear."""
        return None

    def __call__(self, x: Any, params: Params, *, inplace: bool = False) -> np.ndarray:
        """Forward pass on a batch. With `inplace`, `x` is scratch the layer may overwrite."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = self.spec.model_dump(exclude={"type", "name", "inputs"}, exclude_defaults=True)
        arguments = ", ".join(f"{key}={value!r}" for key, value in fields.items())
        return f"{type(self).__name__}(name={self.name!r}{', ' if arguments else ''}{arguments})"


def require_rank(input_shape: Shape, rank: int, what: str) -> None:
    """Refuse an input whose per-sample rank differs (e.g. Conv2D on a flat vector)."""
    if len(input_shape) != rank:
        raise ShapeError(
            f"{what} needs a {rank}-D input per sample, got shape {format_shape(input_shape)}"
        )


def format_shape(shape: Shape) -> str:
    """`(None, 26, 26, 32)`: the batch axis prints as None, as Keras does."""
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def batch_axis_index(axis: int, rank: int, what: str = "axis") -> int:
    """Index into the per-sample shape of a Keras `axis` counted on the batched tensor."""
    full = rank + 1
    if not -full <= axis < full:
        raise ShapeError(f"{what}={axis} is out of range for a {rank}-D input", field=what)
    index = axis % full
    if index == 0:
        raise ShapeError(f"{what}=0 is the batch axis; choose a per-sample axis", field=what)
    return index - 1
