"""Pydantic models of the layer entries (canonical form `{type: Conv2D, ...}`), one module per
family as in `builder/layers/`.

Defaults and constraints are Keras 3's (SPEC section 3). Each model validates its own
arguments only; checks that need the input shape (channels divisible by groups, a kernel
larger than its input) happen when the graph is compiled. `LAYER_SPECS` is the catalogue's
order; `builder.registry` pairs each model with its layer class (a test checks they agree).
"""

from __future__ import annotations

from builder.spec.layers.activation import (
    ADVANCED_ACTIVATION_SPECS,
    ActivationSpec,
    ActivationValue,
    ELUSpec,
    LeakyReLUSpec,
    PReLUSpec,
    ReLUSpec,
    SoftmaxSpec,
    ThresholdedReLUSpec,
)
from builder.spec.layers.base import LayerSpec
from builder.spec.layers.conv import Conv2DSpec
from builder.spec.layers.core import DenseSpec, DropoutSpec, FlattenSpec
from builder.spec.layers.merge import (
    AddSpec,
    AverageSpec,
    ConcatenateSpec,
    MaximumSpec,
    MinimumSpec,
    MultiplySpec,
    SubtractSpec,
)
from builder.spec.layers.normalization import BatchNormalizationSpec
from builder.spec.layers.pooling import (
    AveragePooling2DSpec,
    GlobalAveragePooling2DSpec,
    GlobalMaxPooling2DSpec,
    MaxPooling2DSpec,
)
from builder.spec.layers.reshaping import ReshapeSpec, ZeroPadding2DSpec

LAYER_SPECS: tuple[type[LayerSpec], ...] = (
    Conv2DSpec,
    MaxPooling2DSpec,
    AveragePooling2DSpec,
    GlobalMaxPooling2DSpec,
    GlobalAveragePooling2DSpec,
    FlattenSpec,
    DenseSpec,
    DropoutSpec,
    BatchNormalizationSpec,
    ActivationSpec,
    ReLUSpec,
    LeakyReLUSpec,
    PReLUSpec,
    ELUSpec,
    ThresholdedReLUSpec,
    SoftmaxSpec,
    ZeroPadding2DSpec,
    ReshapeSpec,
    AddSpec,
    SubtractSpec,
    MultiplySpec,
    AverageSpec,
    MaximumSpec,
    MinimumSpec,
    ConcatenateSpec,
)
"""Every layer model, in the catalogue's order (the order of `builder layers`)."""

SPECS: dict[str, type[LayerSpec]] = {spec.canonical_type(): spec for spec in LAYER_SPECS}
"""Canonical type name → its model."""

TYPE_NAMES: dict[str, str] = {
    name: spec.canonical_type() for spec in LAYER_SPECS for name in spec.type_names()
}
"""Every accepted type name (Keras aliases included) → its canonical name."""

ADVANCED_ACTIVATIONS: tuple[str, ...] = tuple(
    spec.canonical_type() for spec in ADVANCED_ACTIVATION_SPECS
)
"""The layer types that may also stand inline as an `activation:` value."""

__all__ = [
    "ADVANCED_ACTIVATIONS",
    "ADVANCED_ACTIVATION_SPECS",
    "LAYER_SPECS",
    "SPECS",
    "TYPE_NAMES",
    "ActivationSpec",
    "ActivationValue",
    "AddSpec",
    "AverageSpec",
    "AveragePooling2DSpec",
    "BatchNormalizationSpec",
    "ConcatenateSpec",
    "Conv2DSpec",
    "DenseSpec",
    "DropoutSpec",
    "ELUSpec",
    "FlattenSpec",
    "GlobalAveragePooling2DSpec",
    "GlobalMaxPooling2DSpec",
    "LayerSpec",
    "LeakyReLUSpec",
    "MaxPooling2DSpec",
    "MaximumSpec",
    "MinimumSpec",
    "MultiplySpec",
    "PReLUSpec",
    "ReLUSpec",
    "ReshapeSpec",
    "SoftmaxSpec",
    "SubtractSpec",
    "ThresholdedReLUSpec",
    "ZeroPadding2DSpec",
]
