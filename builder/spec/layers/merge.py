"""Merge specs (SPEC section 8): element-wise merges and Concatenate."""

from __future__ import annotations

from typing import Literal

from builder.spec.layers.base import LayerSpec


class AddSpec(LayerSpec):
    """Element-wise sum of two or more inputs."""

    type: Literal["Add"]


class SubtractSpec(LayerSpec):
    """inputs[0] − inputs[1] (exactly two inputs)."""

    type: Literal["Subtract"]


class MultiplySpec(LayerSpec):
    """Element-wise product of two or more inputs."""

    type: Literal["Multiply"]


class AverageSpec(LayerSpec):
    """Element-wise mean of two or more inputs."""

    type: Literal["Average"]


class MaximumSpec(LayerSpec):
    """Element-wise maximum of two or more inputs."""

    type: Literal["Maximum"]


class MinimumSpec(LayerSpec):
    """Element-wise minimum of two or more inputs."""

    type: Literal["Minimum"]


class ConcatenateSpec(LayerSpec):
    """Joins two or more inputs along `axis`; the other axes must be equal."""

    type: Literal["Concatenate"]
    axis: int = -1
