"""Reshaping layers: padding, cropping, up-sampling, Reshape, Permute, RepeatVector."""

from __future__ import annotations

import math

import numpy as np

from builder.layers.base import Layer, Params, Shape, ShapeError, format_shape, require_rank
from builder.ops import resize
from builder.ops.pooling import zero_pad2d
from builder.spec.layers import (
    Cropping1DSpec,
    Cropping2DSpec,
    PermuteSpec,
    RepeatVectorSpec,
    ReshapeSpec,
    UpSampling1DSpec,
    UpSampling2DSpec,
    ZeroPadding1DSpec,
    ZeroPadding2DSpec,
)


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


class Cropping2D(Layer[Cropping2DSpec]):
    """y = x[:, top:H − bottom, left:W − right] (a view, no copy).

    Shape: (N, H, W, C) → (N, H − top − bottom, W − left − right, C); an empty result is
    refused.
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "Cropping2D")
        (top, bottom), (left, right) = self.spec.cropping
        height, width, channels = input_shape
        if top + bottom >= height or left + right >= width:
            raise ShapeError(
                f"cropping leaves nothing of the {height}×{width} input. "
                f"Received: cropping={[list(p) for p in self.spec.cropping]}",
                field="cropping",
            )
        return (height - top - bottom, width - left - right, channels)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return resize.crop2d(x, self.spec.cropping)


class UpSampling2D(Layer[UpSampling2DSpec]):
    """`nearest`: y[n, i, j, c] = x[n, i // sh, j // sw, c]; `bilinear`: Keras's resize with
    half-pixel centres (source row (i + 0.5)/sh − 0.5, clamped at the edges).

    Shape: (N, H, W, C) → (N, H·sh, W·sw, C).
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "UpSampling2D")
        (sh, sw), (height, width, channels) = self.spec.size, input_shape
        return (height * sh, width * sw, channels)

    def scratch_elements(self, input_shape: Shape) -> int:
        """`bilinear` resizes the rows first: an (H·sh, W, C) intermediate."""
        if self.spec.interpolation == "nearest":
            return 0
        return math.prod(input_shape) * self.spec.size[0]

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return resize.upsample2d(x, self.spec.size, self.spec.interpolation)


class UpSampling1D(Layer[UpSampling1DSpec]):
    """y[n, t, c] = x[n, t // size, c]. Shape: (N, T, C) → (N, T·size, C)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 2, "UpSampling1D")
        return (input_shape[0] * self.spec.size, input_shape[1])

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return resize.upsample1d(x, self.spec.size)


class ZeroPadding1D(Layer[ZeroPadding1DSpec]):
    """Adds zero steps. Shape: (N, T, C) → (N, start + T + end, C)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 2, "ZeroPadding1D")
        start, end = self.spec.padding
        return (start + input_shape[0] + end, input_shape[1])

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return resize.zero_pad1d(x, self.spec.padding)


class Cropping1D(Layer[Cropping1DSpec]):
    """y = x[:, start:T − end] (a view). Shape: (N, T, C) → (N, T − start − end, C)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 2, "Cropping1D")
        start, end = self.spec.cropping
        if start + end >= input_shape[0]:
            raise ShapeError(
                f"cropping leaves nothing of {input_shape[0]} steps. "
                f"Received: cropping={list(self.spec.cropping)}",
                field="cropping",
            )
        return (input_shape[0] - start - end, input_shape[1])

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return resize.crop1d(x, self.spec.cropping)


class Permute(Layer[PermuteSpec]):
    """y = transpose(x, (0, *dims)): output axis i is input axis dims[i] (1-based).

    Shape: (N, d1, ..., dk) → (N, d_dims[0], ..., d_dims[k−1]).
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        dims = self.spec.dims
        if len(input_shape) != len(dims):
            raise ShapeError(
                f"dims {list(dims)} permute {len(dims)} axes but the input "
                f"{format_shape(input_shape)} has {len(input_shape)} per sample",
                field="dims",
            )
        return tuple(input_shape[d - 1] for d in dims)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        # A copy, so that the next layer reads contiguous memory (Keras's transpose copies too).
        return np.ascontiguousarray(np.transpose(x, (0, *self.spec.dims)))


class RepeatVector(Layer[RepeatVectorSpec]):
    """y[n, i, f] = x[n, f] for i < n_repeats. Shape: (N, F) → (N, n, F)."""

    def output_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 1, "RepeatVector")
        return (self.spec.n, input_shape[0])

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        return np.repeat(x[:, None, :], self.spec.n, axis=1)
