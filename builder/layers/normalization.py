"""BatchNormalization at inference."""

from __future__ import annotations

import numpy as np

from builder.layers.base import Layer, Params, Shape, WeightSpec, batch_axis_index
from builder.spec.layers import BatchNormalizationSpec


class BatchNormalization(Layer[BatchNormalizationSpec]):
    """y = gamma·(x − moving_mean)/sqrt(moving_variance + epsilon) + beta, per feature of `axis`.

    Shape: unchanged. Weights of size C = input_shape[axis]: gamma (if scale) and beta (if
    center) are trainable, moving_mean and moving_variance are not. Params: (2 + center + scale)·C.
    """

    def feature_axis(self, input_shape: Shape) -> int:
        return batch_axis_index(self.spec.axis, len(input_shape))

    def output_shape(self, input_shape: Shape) -> Shape:
        self.feature_axis(input_shape)
        return tuple(input_shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        size = (input_shape[self.feature_axis(input_shape)],)
        found = []
        if s.scale:
            found.append(WeightSpec("gamma", size, s.gamma_initializer))
        if s.center:
            found.append(WeightSpec("beta", size, s.beta_initializer))
        found.append(WeightSpec("moving_mean", size, s.moving_mean_initializer, trainable=False))
        found.append(
            WeightSpec("moving_variance", size, s.moving_variance_initializer, trainable=False)
        )
        return found

    def affine(self, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """(factor, offset), float64, shape (C,): y = x·factor + offset along the feature
        axis, factor = gamma/sqrt(moving_variance + epsilon), offset = beta − mean·factor."""
        inv_std = 1.0 / np.sqrt(params["moving_variance"].astype(np.float64) + self.spec.epsilon)
        factor = inv_std * params["gamma"] if self.spec.scale else inv_std
        offset = -params["moving_mean"] * factor
        if self.spec.center:
            offset = offset + params["beta"]
        return factor, offset

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        # Fold into one multiply-add: y = x·factor + offset, factor = gamma/sqrt(var + eps).
        axis = self.feature_axis(x.shape[1:])
        broadcast = [1] * x.ndim
        broadcast[axis + 1] = -1
        dtype = x.dtype
        factor, offset = self.affine(params)
        factor = factor.astype(dtype).reshape(broadcast)
        offset = offset.astype(dtype).reshape(broadcast)
        y = x if inplace else np.empty_like(x)
        np.multiply(x, factor, out=y)
        y += offset
        return y
