"""Pooling layers: windowed max/average and global max/average over H and W."""

from __future__ import annotations

from typing import Any

import numpy as np

from builder.layers.base import Layer, Params, Shape, ShapeError, require_rank
from builder.ops import pooling
from builder.ops.shapes import conv_output_length


class _Pooling2D(Layer):
    """Shape: (N, H, W, C) → (N, H', W', C) with the Conv2D output-size formula
    (strides default to pool_size)."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.strides: tuple[int, int] = spec.strides or spec.pool_size

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, self.type_name)
        height, width, channels = input_shape
        sizes = []
        for axis, length in enumerate((height, width)):
            out = conv_output_length(
                length, self.spec.pool_size[axis], self.strides[axis], self.spec.padding
            )
            if out < 1:
                raise ShapeError(
                    f"pool_size {self.spec.pool_size[axis]} is larger than the input's "
                    f"{length} cells (input shape ({height}, {width}, {channels}), padding 'valid')",
                    field="pool_size",
                )
            sizes.append(out)
        return (sizes[0], sizes[1], channels)


class MaxPooling2D(_Pooling2D):
    """y = max over each pool_size window; `same` pads with −inf, so padding never wins."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.max_pool2d(x, self.spec.pool_size, self.strides, self.spec.padding)


class AveragePooling2D(_Pooling2D):
    """y = mean over each window; with `same`, over the real (unpadded) cells only."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.avg_pool2d(x, self.spec.pool_size, self.strides, self.spec.padding)


class _GlobalPooling2D(Layer):
    """Shape: (N, H, W, C) → (N, C), or (N, 1, 1, C) with keepdims."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, self.type_name)
        channels = input_shape[-1]
        return (1, 1, channels) if self.spec.keepdims else (channels,)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """y[n, c] = max over h, w of x[n, h, w, c]."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.global_max_pool2d(x, keepdims=self.spec.keepdims)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """y[n, c] = mean over h, w of x[n, h, w, c]."""

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return pooling.global_avg_pool2d(x, keepdims=self.spec.keepdims)
