"""Core specs: Flatten, Dense, Dropout, Identity and the noise layers (identity at inference)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from builder.spec.fields import DataFormat, Initializer, PositiveInt
from builder.spec.layers.activation import ActivationValue
from builder.spec.layers.base import LayerSpec


class FlattenSpec(LayerSpec):
    """(H, W, C) → (H·W·C,), row-major as Keras."""

    type: Literal["Flatten"]
    data_format: DataFormat = "channels_last"


class DenseSpec(LayerSpec):
    """y = activation(x @ kernel + bias) on the last axis; kernel (in, units)."""

    positional: ClassVar[str | None] = "units"
    type: Literal["Dense"]
    units: PositiveInt
    activation: ActivationValue = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


class DropoutSpec(LayerSpec):
    """Identity at inference."""

    positional: ClassVar[str | None] = "rate"
    type: Literal["Dropout"]
    rate: Annotated[float, Field(ge=0, le=1)]
    seed: int | None = Field(
        default=None, description="Accepted for Keras parity; unused at inference."
    )


class IdentitySpec(LayerSpec):
    """y = x."""

    type: Literal["Identity"]


class SpatialDropout2DSpec(LayerSpec):
    """Drops whole channels while training; identity at inference. Input (H, W, C)."""

    type: Literal["SpatialDropout2D"]
    rate: Annotated[float, Field(ge=0, le=1)]
    seed: int | None = Field(
        default=None, description="Accepted for Keras parity; unused at inference."
    )
    data_format: DataFormat = "channels_last"


class GaussianNoiseSpec(LayerSpec):
    """Adds N(0, stddev²) noise while training; identity at inference. Keras requires
    stddev in [0, 1]."""

    type: Literal["GaussianNoise"]
    stddev: Annotated[float, Field(ge=0, le=1)]
    seed: int | None = Field(
        default=None, description="Accepted for Keras parity; unused at inference."
    )


class GaussianDropoutSpec(LayerSpec):
    """Multiplies by N(1, rate/(1 − rate)) noise while training; identity at inference."""

    type: Literal["GaussianDropout"]
    rate: Annotated[float, Field(ge=0, le=1)]
    seed: int | None = Field(
        default=None, description="Accepted for Keras parity; unused at inference."
    )
