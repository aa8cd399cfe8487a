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
from builder.spec.layers.conv import (
    Conv1DSpec,
    Conv2DSpec,
    Conv2DTransposeSpec,
    DepthwiseConv2DSpec,
    SeparableConv2DSpec,
)
from builder.spec.layers.core import (
    DenseSpec,
    DropoutSpec,
    FlattenSpec,
    GaussianDropoutSpec,
    GaussianNoiseSpec,
    IdentitySpec,
    SpatialDropout2DSpec,
)
from builder.spec.layers.merge import (
    AddSpec,
    AverageSpec,
    ConcatenateSpec,
    MaximumSpec,
    MinimumSpec,
    MultiplySpec,
    SubtractSpec,
)
from builder.spec.layers.normalization import (
    BatchNormalizationSpec,
    LayerNormalizationSpec,
    LayerScaleSpec,
    NormalizationSpec,
    RescalingSpec,
)
from builder.spec.layers.pooling import (
    AveragePooling1DSpec,
    AveragePooling2DSpec,
    GlobalAveragePooling1DSpec,
    GlobalAveragePooling2DSpec,
    GlobalMaxPooling1DSpec,
    GlobalMaxPooling2DSpec,
    MaxPooling1DSpec,
    MaxPooling2DSpec,
)
from builder.spec.layers.reshaping import (
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
    # issue 13: the catalogue for real networks
    DepthwiseConv2DSpec,
    SeparableConv2DSpec,
    Conv2DTransposeSpec,
    UpSampling2DSpec,
    Cropping2DSpec,
    RescalingSpec,
    NormalizationSpec,
    LayerNormalizationSpec,
    LayerScaleSpec,
    SpatialDropout2DSpec,
    GaussianNoiseSpec,
    GaussianDropoutSpec,
    PermuteSpec,
    RepeatVectorSpec,
    IdentitySpec,
    Conv1DSpec,
    MaxPooling1DSpec,
    AveragePooling1DSpec,
    GlobalMaxPooling1DSpec,
    GlobalAveragePooling1DSpec,
    UpSampling1DSpec,
    ZeroPadding1DSpec,
    Cropping1DSpec,
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
    "AveragePooling1DSpec",
    "AveragePooling2DSpec",
    "AverageSpec",
    "BatchNormalizationSpec",
    "ConcatenateSpec",
    "Conv1DSpec",
    "Conv2DSpec",
    "Conv2DTransposeSpec",
    "Cropping1DSpec",
    "Cropping2DSpec",
    "DenseSpec",
    "DepthwiseConv2DSpec",
    "DropoutSpec",
    "ELUSpec",
    "FlattenSpec",
    "GaussianDropoutSpec",
    "GaussianNoiseSpec",
    "GlobalAveragePooling1DSpec",
    "GlobalAveragePooling2DSpec",
    "GlobalMaxPooling1DSpec",
    "GlobalMaxPooling2DSpec",
    "IdentitySpec",
    "LayerNormalizationSpec",
    "LayerScaleSpec",
    "LayerSpec",
    "LeakyReLUSpec",
    "MaxPooling1DSpec",
    "MaxPooling2DSpec",
    "MaximumSpec",
    "MinimumSpec",
    "MultiplySpec",
    "NormalizationSpec",
    "PReLUSpec",
    "PermuteSpec",
    "ReLUSpec",
    "RepeatVectorSpec",
    "RescalingSpec",
    "ReshapeSpec",
    "SeparableConv2DSpec",
    "SoftmaxSpec",
    "SpatialDropout2DSpec",
    "SubtractSpec",
    "ThresholdedReLUSpec",
    "UpSampling1DSpec",
    "UpSampling2DSpec",
    "ZeroPadding1DSpec",
    "ZeroPadding2DSpec",
]
