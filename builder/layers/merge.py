"""Merge layers: element-wise Add, Subtract, Multiply, Average, Maximum, Minimum, and Concatenate.

Element-wise merges accept per-sample shapes that are equal or broadcast as Keras allows:
aligned on the right, a size-1 axis stretches, and a lower-rank input gains axes right
after the batch axis (Keras's `expand_dims(x, 1)`), which is NumPy broadcasting of the
per-sample shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeVar

import numpy as np

from builder.layers.base import Layer, Params, Shape, ShapeError, batch_axis_index, format_shape
from builder.spec import layers as s

M = TypeVar("M", bound=s.LayerSpec)


class _ElementwiseMerge(Layer[M]):
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        try:
            return tuple(np.broadcast_shapes(*input_shapes))
        except ValueError:
            shapes = " and ".join(format_shape(s) for s in input_shapes)
            raise ShapeError(f"inputs of shapes {shapes} cannot be combined element-wise") from None

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self, xs: Sequence[np.ndarray], params: Params, *, inplace: bool = False
    ) -> np.ndarray:
        rank = max(x.ndim for x in xs)
        arrays = [x.reshape(x.shape[0], *([1] * (rank - x.ndim)), *x.shape[1:]) for x in xs]
        return self.combine(arrays)


def _fold(ufunc: np.ufunc, arrays: list[np.ndarray]) -> np.ndarray:
    """ufunc over all inputs, left to right, allocating the output once."""
    out = ufunc(arrays[0], arrays[1])
    for array in arrays[2:]:
        if np.broadcast_shapes(out.shape, array.shape) == out.shape:
            ufunc(out, array, out=out)
        else:
            out = ufunc(out, array)
    return out


class Add(_ElementwiseMerge[s.AddSpec]):
    """y = x1 + x2 + ... + xk."""

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        return _fold(np.add, arrays)


class Subtract(_ElementwiseMerge[s.SubtractSpec]):
    """y = x1 − x2 (exactly two inputs)."""

    max_inputs: ClassVar[int | None] = 2

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        return np.subtract(arrays[0], arrays[1])


class Multiply(_ElementwiseMerge[s.MultiplySpec]):
    """y = x1 · x2 · ... · xk."""

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        return _fold(np.multiply, arrays)


class Average(_ElementwiseMerge[s.AverageSpec]):
    """y = (x1 + ... + xk) / k."""

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        total = _fold(np.add, arrays)
        total /= total.dtype.type(len(arrays))
        return total


class Maximum(_ElementwiseMerge[s.MaximumSpec]):
    """y = max(x1, ..., xk) element-wise."""

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        return _fold(np.maximum, arrays)


class Minimum(_ElementwiseMerge[s.MinimumSpec]):
    """y = min(x1, ..., xk) element-wise."""

    def combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        return _fold(np.minimum, arrays)


class Concatenate(Layer[s.ConcatenateSpec]):
    """Joins inputs along `axis` (default −1, counted on the batched tensor as Keras).

    Shape: inputs equal except on `axis`, whose sizes add up.
    """

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        ranks = {len(s) for s in input_shapes}
        shapes = ", ".join(format_shape(s) for s in input_shapes)
        if len(ranks) != 1:
            raise ShapeError(f"inputs must have the same rank to be concatenated, got {shapes}")
        axis = batch_axis_index(self.spec.axis, ranks.pop())
        first = input_shapes[0]
        for shape in input_shapes[1:]:
            if any(a != b for i, (a, b) in enumerate(zip(first, shape, strict=False)) if i != axis):
                raise ShapeError(
                    f"inputs must match on every axis but axis {self.spec.axis}, got {shapes}"
                )
        total = sum(shape[axis] for shape in input_shapes)
        return (*first[:axis], total, *first[axis + 1 :])

    def __call__(
        self, xs: Sequence[np.ndarray], params: Params, *, inplace: bool = False
    ) -> np.ndarray:
        axis = batch_axis_index(self.spec.axis, xs[0].ndim - 1) + 1
        return np.concatenate(list(xs), axis=axis)
