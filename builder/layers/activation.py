"""Activation layers: `Activation` (a named function) and the advanced activations.

All keep the input shape and have no weights except PReLU. The same classes serve as
inline activations of Conv2D and Dense (`activation: {LeakyReLU: {alpha: 0.05}}`); a name
(`activation: relu`) becomes a `NamedActivation`.
"""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from builder.layers.base import (
    Layer,
    Params,
    S,
    Shape,
    ShapeError,
    WeightSpec,
    batch_axis_index,
)
from builder.ops import activations as act
from builder.spec import layers as s


class NamedActivation:
    """y = f(x) for an activation name of SPEC section 4 (`relu`, `gelu`, ...); no weights.

    `softmax` and `log_softmax` act on the last axis.
    """

    def __init__(self, name: str) -> None:
        record = act.ACTIVATIONS[name]
        self.name = name
        self.function = record.function
        self.commutes_with_max = record.monotone

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        return []

    def activation_label(self) -> str:
        return self.name

    def final_activation(self) -> NamedActivation:
        return self

    def softmax_axis(self) -> int | None:
        return -1 if self.name == "softmax" else None

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return self.function(x, inplace=inplace)

    def __repr__(self) -> str:
        return f"NamedActivation({self.name!r})"


InlineActivation = Union[NamedActivation, Layer[Any]]  # noqa: UP007 (a runtime alias)
"""What computes an `activation:` value: a named function or an advanced-activation layer."""


class ReLU(Layer[s.ReLUSpec]):
    """f(x) = min(x, max_value) where x > threshold, else negative_slope·(x − threshold)."""

    is_activation = True

    commutes_with_max = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        s = self.spec
        return act.relu(
            x,
            negative_slope=s.negative_slope,
            max_value=s.max_value,
            threshold=s.threshold,
            inplace=inplace,
        )


class LeakyReLU(Layer[s.LeakyReLUSpec]):
    """f(x) = x where x >= 0, else alpha·x (alpha 0.3 by default, as Keras)."""

    is_activation = True

    commutes_with_max = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.leaky_relu(x, alpha=self.spec.alpha, inplace=inplace)


class ELU(Layer[s.ELUSpec]):
    """f(x) = x where x > 0, else alpha·(exp(x) − 1)."""

    is_activation = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.elu(x, alpha=self.spec.alpha, inplace=inplace)


class ThresholdedReLU(Layer[s.ThresholdedReLUSpec]):
    """f(x) = x where x > theta, else 0."""

    is_activation = True

    commutes_with_max = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.thresholded_relu(x, theta=self.spec.theta, inplace=inplace)


class Softmax(Layer[s.SoftmaxSpec]):
    """f(x) = exp(x − max) / sum(exp(x − max)) along `axis` (default −1)."""

    is_activation = True

    def output_shape(self, input_shape: Shape) -> Shape:
        batch_axis_index(self.spec.axis, len(input_shape))
        return tuple(input_shape)

    def softmax_axis(self) -> int | None:
        return self.spec.axis

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.softmax(x, axis=self.spec.axis, inplace=inplace)


class PReLU(Layer[s.PReLUSpec]):
    """f(x) = x where x >= 0, else alpha·x; alpha has the input's shape with `shared_axes` set to 1.

    `shared_axes` counts the batch axis as 0 (Keras): for an (H, W, C) input,
    `shared_axes: [1, 2]` learns one alpha per channel, shape (1, 1, C).
    """

    is_activation = True

    def alpha_shape(self, input_shape: Shape) -> Shape:
        shape = list(input_shape)
        for axis in self.spec.shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ShapeError(
                    f"shared_axes holds {axis}, but a {len(shape)}-D input has axes 1..{len(shape)}",
                    field="shared_axes",
                )
            shape[axis - 1] = 1
        return tuple(shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        self.alpha_shape(input_shape)
        return tuple(input_shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        return [WeightSpec("alpha", self.alpha_shape(input_shape), self.spec.alpha_initializer)]

    def scratch_elements(self, input_shape: Shape) -> int:
        """The `x < 0` mask: a byte per value, i.e. a quarter of a float32 value."""
        return -(-math.prod(input_shape) // 4)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.prelu(x, params["alpha"], inplace=inplace)


_ADVANCED: dict[type[s.LayerSpec], type[Layer[Any]]] = {
    s.ReLUSpec: ReLU,
    s.LeakyReLUSpec: LeakyReLU,
    s.PReLUSpec: PReLU,
    s.ELUSpec: ELU,
    s.ThresholdedReLUSpec: ThresholdedReLU,
    s.SoftmaxSpec: Softmax,
}
"""The advanced activations that may stand inline (`ADVANCED_ACTIVATION_SPECS`)."""


def inline_activation(value: str | s.LayerSpec, host_name: str) -> InlineActivation:
    """What computes an activation value: a name, or an advanced block named after its host
    (so an inline PReLU's weight is stored as `<host>/alpha`)."""
    if isinstance(value, str):
        return NamedActivation(value)
    return _ADVANCED[type(value)](value.model_copy(update={"name": host_name}))


def _label(activation: InlineActivation) -> str:
    """`relu` for a named activation, `LeakyReLU` for an advanced block."""
    return activation.name if isinstance(activation, NamedActivation) else activation.type_name


class Activation(Layer[s.ActivationSpec]):
    """y = f(x) for a named activation f (SPEC section 4) or an advanced block;
    `softmax` acts on the last axis."""

    is_activation = True
    has_activation_argument = True

    def __init__(self, spec: s.ActivationSpec) -> None:
        super().__init__(spec)
        self.inner = inline_activation(spec.activation or "linear", self.name)
        self.commutes_with_max = self.inner.commutes_with_max

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        return self.inner.weights(input_shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.inner.output_shape(input_shape)

    def activation_label(self) -> str | None:
        return _label(self.inner)

    def title(self) -> str:
        return f"Activation: {self.activation_label()}"

    def final_activation(self) -> Any:
        return self.inner.final_activation()

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return self.inner(x, params, inplace=inplace)


class WithActivation(Layer[S]):
    """Base of the layers with an `activation` argument (Conv2D, Dense):
    y = activation(linear(x)). Subclasses give `linear`, `linear_shape`, `linear_weights`."""

    has_activation_argument = True

    def __init__(self, spec: S) -> None:
        super().__init__(spec)
        value = spec.activation  # type: ignore[attr-defined]
        self.activation: InlineActivation | None = (
            None if value == "linear" else inline_activation(value, self.name)
        )

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        """The layer's output before its activation."""
        raise NotImplementedError

    def linear_shape(self, input_shape: Shape) -> Shape:
        raise NotImplementedError

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        raise NotImplementedError

    def output_shape(self, input_shape: Shape) -> Shape:
        """The linear part's shape, checked by the activation, whose shape errors are blamed
        on the host's `activation.<field>`."""
        shape = self.linear_shape(input_shape)
        if self.activation is None:
            return shape
        try:
            return self.activation.output_shape(shape)
        except ShapeError as error:
            field = f"activation.{error.field}" if error.field else "activation"
            raise ShapeError(str(error), field=field) from None

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        found = self.linear_weights(input_shape)
        if self.activation is not None:
            found += self.activation.weights(self.output_shape(input_shape))
        return found

    def activation_label(self) -> str | None:
        return None if self.activation is None else _label(self.activation)

    def final_activation(self) -> Any:
        return self if self.activation is None else self.activation.final_activation()

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        y = self.linear(x, params)
        return self.activation(y, params, inplace=True) if self.activation else y
