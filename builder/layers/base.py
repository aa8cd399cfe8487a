"""What every layer is: validated hyper-parameters in, a pure shape function, a
description of its weights, its MACs and scratch memory, and the NumPy forward computation.

Layers hold no weights and no state: the model passes each call the layer's own
parameters (`{"kernel": ..., "bias": ...}`), so calling a layer never mutates it.
Shapes are per sample (no batch axis); arrays passed to `__call__` carry the batch axis.
The engine asks a layer what it needs to know (`scratch_elements`, `title`,
`final_activation`, `selects_maximum`); it never tests a layer's type name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from builder.errors import ShapeError
from builder.spec.layers import LayerSpec

Shape = tuple[int, ...]
Params = Mapping[str, np.ndarray]
S = TypeVar("S", bound=LayerSpec)

__all__ = ["Layer", "Params", "Shape", "ShapeError", "WeightSpec", "format_shape"]


@dataclass(frozen=True)
class WeightSpec:
    """One weight array of a layer: `<layer>/<name>` in a weights file."""

    name: str
    shape: Shape
    initializer: str
    trainable: bool = True
    value: float | tuple[float, ...] | None = None
    """A constant start value (broadcast right-to-left onto `shape`) that replaces the
    initializer: LayerScale's init_values, Normalization's given mean and variance."""

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Layer(Generic[S]):
    """Base class, generic over the layer's spec model (`Layer[Conv2DSpec]`)."""

    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    selects_maximum: ClassVar[bool] = False
    """True for max pooling: each output is one of its inputs, the largest, so for a
    non-decreasing f, pool(f(x)) == f(pool(x)) and the engine may pool first."""
    has_activation_argument: ClassVar[bool] = False
    """True for the layers Keras gives an `activation` argument (Conv2D, Dense, Activation)."""
    is_activation: ClassVar[bool] = False
    """True for the activation layers: the whole layer is one element-wise function of its
    input (which the engine may move after a max pooling, see `commutes_with_max`)."""
    commutes_with_max: bool = False
    """True for an element-wise f with f(max(a, b)) == max(f(a), f(b)) exactly in floating
    point (non-decreasing, piecewise linear); max pooling may then run before it."""

    def __init__(self, spec: S) -> None:
        self.spec = spec
        self.name: str = spec.name or spec.type_name

    @property
    def type_name(self) -> str:
        return self.spec.type_name

    @property
    def is_merge(self) -> bool:
        return self.max_inputs != 1

    def output_shape(self, input_shape: Any) -> Shape:
        """Per-sample output shape; raises ShapeError when the input cannot work."""
        return tuple(input_shape)

    def weights(self, input_shape: Any) -> list[WeightSpec]:
        return []

    def macs(self, input_shape: Any) -> int:
        """Multiply-accumulates per sample (counted for convolutions and Dense)."""
        return 0

    def scratch_elements(self, input_shape: Any) -> int:
        """Elements per sample that a call allocates besides its output (a patch matrix)."""
        return 0

    def scratch_fixed_elements(self, input_shape: Any) -> int:
        """Elements a call allocates whatever the chunk size (a kernel's fixed-size blocks)."""
        return 0

    def activation_label(self) -> str | None:
        """The inline activation shown in the summary (`LeakyReLU`), or None when linear."""
        return None

    def title(self) -> str:
        """What the summary and the diagram call the layer: `Conv2D + relu`, `MaxPooling2D`."""
        label = self.activation_label()
        return self.type_name if label is None else f"{self.type_name} + {label}"

    def final_activation(self) -> Any:
        """The object that computes the layer's last step: its inline activation, or itself."""
        return self

    def softmax_axis(self) -> int | None:
        """The axis this layer normalises with softmax, if that is what it computes."""
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
