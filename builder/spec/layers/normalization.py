"""Normalisation specs: BatchNormalization (inference)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from builder.spec.fields import Initializer
from builder.spec.layers.base import LayerSpec


class BatchNormalizationSpec(LayerSpec):
    """gamma·(x − moving_mean)/sqrt(moving_variance + epsilon) + beta (inference)."""

    type: Literal["BatchNormalization"]
    axis: int = -1
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.99
    epsilon: Annotated[float, Field(gt=0)] = 0.001
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"
