"""Normalisation and scaling at inference: BatchNormalization, LayerNormalization,
Normalization (stored statistics), Rescaling and LayerScale."""

from __future__ import annotations

import math

import numpy as np

from builder.layers.base import Layer, Params, Shape, ShapeError, WeightSpec, batch_axis_index
from builder.ops.normalization import layer_norm, layer_scale, normalize
from builder.spec.layers import (
    BatchNormalizationSpec,
    LayerNormalizationSpec,
    LayerScaleSpec,
    NormalizationSpec,
    RescalingSpec,
)


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
        # a negative variance gives NaN, silently: `builder.finite` warns about such weights once
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            variance = params["moving_variance"].astype(np.float64)
            inv_std = 1.0 / np.sqrt(variance + self.spec.epsilon)
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


def _values(value: float | list[float]) -> float | tuple[float, ...]:
    return tuple(value) if isinstance(value, list) else value


def _check_broadcast(
    value: float | list[float] | None, shape: Shape, field: str, what: str
) -> None:
    """A list must fit the last axis of `shape` (broadcast right-to-left, as Keras)."""
    if isinstance(value, list) and len(value) != 1 and (not shape or len(value) != shape[-1]):
        raise ShapeError(
            f"{field} has {len(value)} values but {what} {shape}; give one number "
            f"or {shape[-1] if shape else 1} values",
            field=field,
        )


class Rescaling(Layer[RescalingSpec]):
    """y = x·scale + offset, in x's dtype; a list scale or offset has one value per channel
    (the last axis). Shape: unchanged. No weights."""

    def output_shape(self, input_shape: Shape) -> Shape:
        for field in ("scale", "offset"):
            _check_broadcast(
                getattr(self.spec, field), input_shape[-1:], field, "the channel axis has size"
            )
        return tuple(input_shape)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        scale = np.asarray(self.spec.scale, dtype=x.dtype)
        offset = np.asarray(self.spec.offset, dtype=x.dtype)
        y = x if inplace else np.empty_like(x)
        np.multiply(x, scale, out=y)
        y += offset
        return y


class Normalization(Layer[NormalizationSpec]):
    """y = (x − mean)/max(sqrt(variance), 1e−7), or with `invert`
    y = mean + x·max(sqrt(variance), 1e−7) (Keras's epsilon; no epsilon is added to the
    variance), with stored statistics.

    Shape: unchanged. Weights, all non-trainable, as a Keras Normalization after adapt():
    `mean` and `variance` of shape (input[a] for a in sorted(axis)) (() for axis null) and
    `count` (). Params: 2·prod(kept sizes) + 1. Given `mean`/`variance` are their initial
    values (Keras keeps given statistics as constants, no weights: 0 params there).
    """

    def kept_axes(self, input_shape: Shape) -> tuple[int, ...]:
        """Per-sample indices of the axes with their own statistics, ascending."""
        if self.spec.axis is None:
            return ()
        kept = sorted(batch_axis_index(a, len(input_shape)) for a in self.spec.axis)
        if len(set(kept)) != len(kept):
            raise ShapeError(f"axis {list(self.spec.axis)} repeats an axis", field="axis")
        return tuple(kept)

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape[a] for a in self.kept_axes(input_shape))
        for field in ("mean", "variance"):
            _check_broadcast(getattr(self.spec, field), shape, field, "the kept axes have shape")
        return tuple(input_shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        shape = tuple(input_shape[a] for a in self.kept_axes(input_shape))
        s = self.spec
        mean = None if s.mean is None else _values(s.mean)
        variance = None if s.variance is None else _values(s.variance)
        return [
            WeightSpec("mean", shape, "zeros" if mean is None else "constant", False, mean),
            WeightSpec(
                "variance", shape, "ones" if variance is None else "constant", False, variance
            ),
            WeightSpec("count", (), "zeros", trainable=False),
        ]

    def scratch_elements(self, input_shape: Shape) -> int:
        """x − mean, before the division."""
        return math.prod(input_shape)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        axes = tuple(a + 1 for a in self.kept_axes(x.shape[1:]))
        return normalize(x, params["mean"], params["variance"], axes, self.spec.invert)


class LayerNormalization(Layer[LayerNormalizationSpec]):
    """y = (x − μ)/sqrt(σ² + epsilon)·gamma + beta, μ and σ² the mean and (biased) variance
    of each sample over `axis`; with rms_scaling, Keras's y = x/sqrt(σ² + epsilon)·gamma.

    Shape: unchanged. Weights: `gamma` (if scale or rms_scaling) and `beta` (if center and
    not rms_scaling), of shape (input[a] for a in sorted(axis)) as Keras (sorted as
    written, so [-1, 1] keeps that order). Params: (scale + center)·prod(those sizes).
    Computed in x's dtype: a float64 model stays float64 (Keras 3.15 computes it in float32).
    """

    def _checked_axes(self, input_shape: Shape) -> tuple[int, ...]:
        indices = [batch_axis_index(a, len(input_shape)) for a in self.spec.axis]
        if len(set(indices)) != len(indices):
            raise ShapeError(f"axis {list(self.spec.axis)} repeats an axis", field="axis")
        return tuple(sorted(self.spec.axis))

    def output_shape(self, input_shape: Shape) -> Shape:
        self._checked_axes(input_shape)
        return tuple(input_shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        full = (0, *input_shape)  # indexed as the batched tensor, as Keras's axis is
        shape = tuple(full[a] for a in self._checked_axes(input_shape))
        found = []
        if s.scale or s.rms_scaling:
            found.append(WeightSpec("gamma", shape, s.gamma_initializer))
        if s.center and not s.rms_scaling:
            found.append(WeightSpec("beta", shape, s.beta_initializer))
        return found

    def scratch_elements(self, input_shape: Shape) -> int:
        """x − μ and its square."""
        return 2 * math.prod(input_shape)

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        s = self.spec
        return layer_norm(
            x,
            tuple(s.axis),
            params.get("gamma"),
            params.get("beta"),
            s.epsilon,
            s.rms_scaling,
        )


class LayerScale(Layer[LayerScaleSpec]):
    """y[..., c] = x[..., c]·gamma[c] (ConvNeXt's layer). Shape: unchanged.

    Weight: `gamma` (projection_dim,), starting at init_values (Keras names it `variable`).
    Params: projection_dim, which must equal the input's channels.
    """

    def output_shape(self, input_shape: Shape) -> Shape:
        if input_shape[-1] != self.spec.projection_dim:
            raise ShapeError(
                f"the input has {input_shape[-1]} channels; LayerScale scales "
                f"projection_dim={self.spec.projection_dim} of them (they must be equal)",
                field="projection_dim",
            )
        return tuple(input_shape)

    def weights(self, input_shape: Shape) -> list[WeightSpec]:
        size = (self.spec.projection_dim,)
        return [WeightSpec("gamma", size, "constant", value=self.spec.init_values)]

    def __call__(self, x: np.ndarray, params: Params, *, inplace: bool = False) -> np.ndarray:
        gamma = params["gamma"].astype(x.dtype, copy=False)
        if inplace:
            x *= gamma
            return x
        return layer_scale(x, gamma)
