"""Normalisation specs: BatchNormalization (inference)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from builder.spec.fields import Initializer, PositiveInt, list_as_tuple
from builder.spec.layers.base import LayerSpec, TrainingOnly


class BatchNormalizationSpec(LayerSpec):
    """gamma·(x − moving_mean)/sqrt(moving_variance + epsilon) + beta (inference)."""

    type: Literal["BatchNormalization"]
    beta_regularizer: Any = TrainingOnly
    gamma_regularizer: Any = TrainingOnly
    beta_constraint: Any = TrainingOnly
    gamma_constraint: Any = TrainingOnly
    axis: int = -1
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.99
    epsilon: Annotated[float, Field(gt=0)] = 0.001
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"


def _axes(value: Any) -> Any:
    """`-1` → (-1,), `[1, 2]` → (1, 2); items must be integers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    return list_as_tuple(value)


_AXES_SCHEMA = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
Axes = Annotated[tuple[int, ...], BeforeValidator(_axes), Field(min_length=1)]
"""One axis or several, counted on the batched tensor as Keras (−1 the last, 0 the batch)."""

Values = float | list[float]


class RescalingSpec(LayerSpec):
    """y = x·scale + offset (scale and offset numbers, or lists broadcast on the last axis)."""

    type: Literal["Rescaling"]
    scale: Values
    offset: Values = 0.0


class NormalizationSpec(LayerSpec):
    """y = (x − mean)/max(sqrt(variance), 1e−7) with stored statistics; `invert` computes
    mean + x·max(sqrt(variance), 1e−7). `axis` are the axes that keep their own statistics
    (null: one scalar mean and variance). The statistics are the weights `mean` and
    `variance` (and Keras's sample `count`), all non-trainable; `mean`/`variance` given
    here are their initial values (a number, or a list broadcast onto the kept axes)."""

    type: Literal["Normalization"]
    axis: Annotated[Axes | None, WithJsonSchema({"anyOf": [_AXES_SCHEMA, {"type": "null"}]})] = (
        -1,
    )
    mean: Values | None = None
    variance: Values | None = None
    invert: bool = False

    @model_validator(mode="after")
    def _both_or_neither(self) -> NormalizationSpec:
        if (self.mean is None) != (self.variance is None):
            raise PydanticCustomError(
                "statistics", "give both mean and variance, or neither (then zeros and ones)"
            )
        if self.mean is not None and self.variance is not None:
            sizes = {len(v) if isinstance(v, list) else 0 for v in (self.mean, self.variance)}
            if len(sizes) != 1:
                raise PydanticCustomError(
                    "statistics", "mean and variance must have the same shape"
                )
            values = self.variance if isinstance(self.variance, list) else [self.variance]
            if any(v < 0 for v in values):
                raise PydanticCustomError("statistics", "variance must be >= 0")
        return self


class LayerNormalizationSpec(LayerSpec):
    """y = (x − μ)/sqrt(σ² + epsilon)·gamma + beta, μ and σ² over `axis` of each sample."""

    type: Literal["LayerNormalization"]
    beta_regularizer: Any = TrainingOnly
    gamma_regularizer: Any = TrainingOnly
    beta_constraint: Any = TrainingOnly
    gamma_constraint: Any = TrainingOnly
    axis: Annotated[Axes, WithJsonSchema(_AXES_SCHEMA)] = (-1,)
    epsilon: Annotated[float, Field(gt=0)] = 0.001
    center: bool = True
    scale: bool = True
    rms_scaling: bool = Field(
        default=False,
        description="Keras's flag: y = x/sqrt(σ² + epsilon)·gamma (σ² still centred), no beta.",
    )
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"


class LayerScaleSpec(LayerSpec):
    """y = x·gamma per channel (ConvNeXt's layer); gamma (projection_dim,) starts at
    init_values."""

    type: Literal["LayerScale"]
    init_values: float
    projection_dim: PositiveInt
