"""Activation layers: `Activation` (a named function) and the advanced activations.

All keep the input shape and have no weights except PReLU. The same classes serve as
inline activations of Conv2D and Dense (`activation: {LeakyReLU: {alpha: 0.05}}`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from builder.layers.base import Layer, Params, Shape, ShapeError, WeightSpec, batch_axis_index
from builder.ops import activations as act

_PIECEWISE_LINEAR_MONOTONE = frozenset({"linear", "relu", "relu6", "leaky_relu"})
"""Named activations that are non-decreasing and piecewise linear: computed in floating
point they stay non-decreasing, so f(max(a, b)) == max(f(a), f(b)) bit for bit."""


class Activation(Layer):
    """y = f(x) for a named activation f (SPEC section 4); `softmax` acts on the last axis."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        value = spec.activation
        self.inner: Layer | None = None
        if isinstance(value, str):
            self.function = act.ACTIVATIONS[value]
            self.commutes_with_max = value in _PIECEWISE_LINEAR_MONOTONE
        else:  # an advanced block given as the Activation's value
            self.inner = activation_layer(value, spec.name)
            self.commutes_with_max = self.inner.commutes_with_max

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        return self.inner.weights(input_shape) if self.inner else []

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.inner.output_shape(input_shape) if self.inner else tuple(input_shape)

    def activation_label(self) -> str | None:
        return self.inner.type_name if self.inner else str(self.spec.activation)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        if self.inner is not None:
            return self.inner(x, params, inplace=inplace)
        return self.function(x, inplace=inplace)


class ReLU(Layer):
    """f(x) = min(x, max_value) where x > threshold, else negative_slope·(x − threshold)."""

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


class LeakyReLU(Layer):
    """f(x) = x where x >= 0, else alpha·x (alpha 0.3 by default, as Keras)."""

    commutes_with_max = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.leaky_relu(x, alpha=self.spec.alpha, inplace=inplace)


class ELU(Layer):
    """f(x) = x where x > 0, else alpha·(exp(x) − 1)."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.elu(x, alpha=self.spec.alpha, inplace=inplace)


class ThresholdedReLU(Layer):
    """f(x) = x where x > theta, else 0."""

    commutes_with_max = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.thresholded_relu(x, theta=self.spec.theta, inplace=inplace)


class Softmax(Layer):
    """f(x) = exp(x − max) / sum(exp(x − max)) along `axis` (default −1)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        batch_axis_index(self.spec.axis, len(input_shape))
        return tuple(input_shape)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.softmax(x, axis=self.spec.axis, inplace=inplace)


class PReLU(Layer):
    """f(x) = x where x >= 0, else alpha·x; alpha has the input's shape with `shared_axes` set to 1.

    `shared_axes` counts the batch axis as 0 (Keras): for an (H, W, C) input,
    `shared_axes: [1, 2]` learns one alpha per channel, shape (1, 1, C).
    """

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

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return act.prelu(x, params["alpha"], inplace=inplace)


def activation_layer(value: Any, host_name: str) -> Layer:
    """The layer object for an activation value (a name or an advanced block), named after its host.

    An inline PReLU's weight is therefore stored as `<host>/alpha`.
    """
    from builder.registry import layer_class
    from builder.spec.layers import ActivationSpec

    if isinstance(value, str):
        return Activation(ActivationSpec(type="Activation", activation=value, name=host_name))
    block = value.model_copy(update={"name": host_name})
    return layer_class(block.type_name)(block)


class WithActivation(Layer):
    """Base of the layers with an `activation` argument (Conv2D, Dense):
    y = activation(linear(x)). Subclasses give `linear`, `linear_shape`, `linear_weights`."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.activation: Layer | None = (
            None if is_linear(spec.activation) else activation_layer(spec.activation, spec.name)
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
        if self.activation is None:
            return None
        return self.activation.activation_label() or self.activation.type_name

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        y = self.linear(x, params)
        return self.activation(y, params, inplace=True) if self.activation else y


def is_linear(value: Any) -> bool:
    return isinstance(value, str) and value == "linear"
