"""Core layers: Dense, Flatten, Dropout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from builder.layers.activation import activation_layer, inline_output_shape, is_linear
from builder.layers.base import Layer, Params, Shape, WeightSpec


class Dense(Layer):
    """y = activation(x @ kernel + bias) on the last axis.

    Shape: (N, ..., in) → (N, ..., units); kernel (in, units). Params: in·units (+ units).
    MACs: (product of the leading per-sample axes)·in·units.
    """

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.activation = None if is_linear(spec.activation) else activation_layer(spec.activation, spec.name)

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = (*input_shape[:-1], self.spec.units)
        return inline_output_shape(self.activation, shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        found = [WeightSpec("kernel", (input_shape[-1], s.units), s.kernel_initializer)]
        if s.use_bias:
            found.append(WeightSpec("bias", (s.units,), s.bias_initializer))
        if self.activation:
            found += self.activation.weights(self.output_shape(input_shape))
        return found

    def macs(self, input_shape: Shape) -> int:
        return math.prod(input_shape) * self.spec.units

    def activation_label(self) -> str | None:
        return self.activation.activation_label() or self.activation.type_name if self.activation else None

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        y = self.linear(x, params)
        return self.activation(y, params, inplace=True) if self.activation else y

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        """x @ kernel + bias, before the inline activation."""
        kernel = params["kernel"]
        if x.ndim == 2:
            y = x @ kernel
        else:  # one GEMM over all leading axes
            y = (x.reshape(-1, x.shape[-1]) @ kernel).reshape(*x.shape[:-1], kernel.shape[1])
        bias = params.get("bias")
        if bias is not None:
            y += bias
        return y


class Flatten(Layer):
    """Shape: (N, d1, ..., dk) → (N, d1·...·dk), in row-major (C) order as Keras."""

    def output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x.reshape(x.shape[0], -1)


class Dropout(Layer):
    """Identity at inference (dropout only acts while training)."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x
