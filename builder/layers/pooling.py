"""Pooling layers: windowed max/average and global max/average over H and W, and their
1-D twins over the steps of (T, C) sequences."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from builder.layers.base import Layer, Params, Shape, require_rank
from builder.ops import pooling, sequence
from builder.ops.shapes import spatial_output_shape
from builder.spec.layers.pooling import (
    AveragePooling1DSpec,
    AveragePooling2DSpec,
    GlobalAveragePooling1DSpec,
    GlobalAveragePooling2DSpec,
    GlobalMaxPooling1DSpec,
    GlobalMaxPooling2DSpec,
    MaxPooling1DSpec,
    MaxPooling2DSpec,
    _Pooling1DSpec,
    _Pooling2DSpec,
)

P = TypeVar("P", bound=_Pooling2DSpec)
G = TypeVar("G", GlobalMaxPooling2DSpec, GlobalAveragePooling2DSpec)
Q = TypeVar("Q", bound=_Pooling1DSpec)
G1 = TypeVar("G1", GlobalMaxPooling1DSpec, GlobalAveragePooling1DSpec)


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


class _Pooling1D(Layer[Q]):
    """Shape: (N, T, C) → (N, T', C), T' as Conv1D's (strides default to pool_size)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 2, self.type_name)
        s = self.spec
        (steps,) = spatial_output_shape(
            input_shape[:1], (s.pool_size,), (s.strides,), s.padding, field="pool_size"
        )
        return (steps, input_shape[-1])


class MaxPooling1D(_Pooling1D[MaxPooling1DSpec]):
    """y[n, t, c] = max over the window of steps; `same` pads with −inf."""

    selects_maximum = True

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return sequence.max_pool1d(x, self.spec.pool_size, self.spec.strides, self.spec.padding)


class AveragePooling1D(_Pooling1D[AveragePooling1DSpec]):
    """y[n, t, c] = mean over the window; with `same`, over the real steps only."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return sequence.avg_pool1d(x, self.spec.pool_size, self.spec.strides, self.spec.padding)


class _GlobalPooling1D(Layer[G1]):
    """Shape: (N, T, C) → (N, C), or (N, 1, C) with keepdims."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 2, self.type_name)
        channels = input_shape[-1]
        return (1, channels) if self.spec.keepdims else (channels,)


class GlobalMaxPooling1D(_GlobalPooling1D[GlobalMaxPooling1DSpec]):
    """y[n, c] = max over t of x[n, t, c]."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return sequence.global_max_pool1d(x, keepdims=self.spec.keepdims)


class GlobalAveragePooling1D(_GlobalPooling1D[GlobalAveragePooling1DSpec]):
    """y[n, c] = mean over t of x[n, t, c], in x's dtype (float64 stays float64; Keras 3.15
    computes a float64 model's mean in float32)."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return sequence.global_avg_pool1d(x, keepdims=self.spec.keepdims)
