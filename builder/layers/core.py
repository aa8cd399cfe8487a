"""Core layers: Dense, Flatten, Dropout, Identity, and the noise layers (identity at inference)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from builder.layers.activation import WithActivation
from builder.layers.base import Layer, Params, Shape, WeightSpec, require_rank
from builder.spec import layers as s


class Dense(WithActivation[s.DenseSpec]):
    """y = activation(x @ kernel + bias) on the last axis.

    Shape: (N, ..., in) → (N, ..., units); kernel (in, units). Params: in·units (+ units).
    MACs: (product of the leading per-sample axes)·in·units.
    """

    def linear_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.spec.units)

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        spec = self.spec
        found = [WeightSpec("kernel", (input_shape[-1], spec.units), spec.kernel_initializer)]
        if spec.use_bias:
            found.append(WeightSpec("bias", (spec.units,), spec.bias_initializer))
        return found

    def macs(self, input_shape: Shape) -> int:
        return math.prod(input_shape) * self.spec.units

    folds_affine: ClassVar[bool] = True
    """Output unit f depends only on kernel[:, f] and bias[f] (see Conv2D.folds_affine)."""

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


class Flatten(Layer[s.FlattenSpec]):
    """Shape: (N, d1, ..., dk) → (N, d1·...·dk), in row-major (C) order as Keras."""

    def output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x.reshape(x.shape[0], -1)


class Dropout(Layer[s.DropoutSpec]):
    """Identity at inference (dropout only acts while training)."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x


class Identity(Layer[s.IdentitySpec]):
    """y = x, any shape."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x


class SpatialDropout2D(Layer[s.SpatialDropout2DSpec]):
    """Identity at inference (it drops whole channels only while training). Input (H, W, C)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "SpatialDropout2D")
        return tuple(input_shape)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x


class GaussianNoise(Layer[s.GaussianNoiseSpec]):
    """Identity at inference (noise is added only while training)."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x


class GaussianDropout(Layer[s.GaussianDropoutSpec]):
    """Identity at inference (noise is multiplied only while training)."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x
