"""Pooling layers: windowed max/average and global max/average over H and W."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from builder.layers.base import Layer, Params, Shape, require_rank
from builder.ops import pooling
from builder.ops.shapes import spatial_output_shape
from builder.spec.layers.pooling import (
    AveragePooling2DSpec,
    GlobalAveragePooling2DSpec,
    GlobalMaxPooling2DSpec,
    MaxPooling2DSpec,
    _Pooling2DSpec,
)

P = TypeVar("P", bound=_Pooling2DSpec)
G = TypeVar("G", GlobalMaxPooling2DSpec, GlobalAveragePooling2DSpec)


class _Pooling2D(Layer[P]):
    """Shape: (N, H, W, C) → (N, H', W', C) with the Conv2D output-size formula
    (strides default to pool_size)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, self.type_name)
        s = self.spec
        height, width = spatial_output_shape(
            input_shape[:2], s.pool_size, s.strides, s.padding, field="pool_size"
        )
        return (height, width, input_shape[-1])


class MaxPooling2D(_Pooling2D[MaxPooling2DSpec]):
    """y = max over each pool_size window; `same` pads with −inf, so padding never wins."""

    selects_maximum = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.max_pool2d(x, self.spec.pool_size, self.spec.strides, self.spec.padding)


class AveragePooling2D(_Pooling2D[AveragePooling2DSpec]):
    """y = mean over each window; with `same`, over the real (unpadded) cells only."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.avg_pool2d(x, self.spec.pool_size, self.spec.strides, self.spec.padding)


class _GlobalPooling2D(Layer[G]):
    """Shape: (N, H, W, C) → (N, C), or (N, 1, 1, C) with keepdims."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, self.type_name)
        channels = input_shape[-1]
        return (1, 1, channels) if self.spec.keepdims else (channels,)


class GlobalMaxPooling2D(_GlobalPooling2D[GlobalMaxPooling2DSpec]):
    """y[n, c] = max over h, w of x[n, h, w, c]."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.global_max_pool2d(x, keepdims=self.spec.keepdims)


class GlobalAveragePooling2D(_GlobalPooling2D[GlobalAveragePooling2DSpec]):
    """y[n, c] = mean over h, w of x[n, h, w, c]."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.global_avg_pool2d(x, keepdims=self.spec.keepdims)
