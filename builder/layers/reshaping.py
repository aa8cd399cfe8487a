"""Reshaping layers: ZeroPadding2D and Reshape."""

from __future__ import annotations

import math

import numpy as np

from builder.layers.base import Layer, Params, Shape, ShapeError, format_shape, require_rank
from builder.ops.pooling import zero_pad2d
from builder.spec.layers import ReshapeSpec, ZeroPadding2DSpec


class ZeroPadding2D(Layer[ZeroPadding2DSpec]):
    """Adds rows and columns of zeros.

    Shape: (N, H, W, C) → (N, H + top + bottom, W + left + right, C), with
    padding ((top, bottom), (left, right)).
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "ZeroPadding2D")
        (top, bottom), (left, right) = self.spec.padding
        height, width, channels = input_shape
        return (height + top + bottom, width + left + right, channels)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return zero_pad2d(x, self.spec.padding)


class Reshape(Layer[ReshapeSpec]):
    """Reshapes each sample to `target_shape`, row-major; one −1 takes the remaining size."""

    def output_shape(self, input_shape: Shape) -> Shape:
        target = list(self.spec.target_shape)
        size = math.prod(input_shape)
        known = math.prod(v for v in target if v != -1)
        if -1 in target:
            if size % known:
                raise ShapeError(
                    f"cannot reshape {format_shape(input_shape)} ({size} values) to "
                    f"{tuple(target)}: {size} is not divisible by {known}",
                    field="target_shape",
                )
            target[target.index(-1)] = size // known
        elif known != size:
            raise ShapeError(
                f"cannot reshape {format_shape(input_shape)} ({size} values) to "
                f"{format_shape(tuple(target))} ({known} values)",
                field="target_shape",
            )
        return tuple(target)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return x.reshape(x.shape[0], *self.output_shape(x.shape[1:]))
