"""The single list of layer types: each spec model beside its layer class.

Adding a layer type is a spec class (listed in `builder.spec.layers.LAYER_SPECS`), a layer
class, and one line here; a test checks that this list, the Pydantic union and the JSON
Schema name the same types. Parsing a config needs only the spec side, so it never imports
this module (or NumPy); compiling a graph does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.layers import activation, conv, core, merge, normalization, pooling, reshaping
from builder.layers.base import Layer
from builder.spec import layers as s


@dataclass(frozen=True)
class LayerEntry:
    """One layer type: its spec model and the class that computes it."""

    spec: type[s.LayerSpec]
    layer: type[Layer[Any]]

    @property
    def type_name(self) -> str:
        return self.spec.canonical_type()

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.spec.type_names()[1:]


ENTRIES: tuple[LayerEntry, ...] = (
    LayerEntry(s.Conv2DSpec, conv.Conv2D),
    LayerEntry(s.MaxPooling2DSpec, pooling.MaxPooling2D),
    LayerEntry(s.AveragePooling2DSpec, pooling.AveragePooling2D),
    LayerEntry(s.GlobalMaxPooling2DSpec, pooling.GlobalMaxPooling2D),
    LayerEntry(s.GlobalAveragePooling2DSpec, pooling.GlobalAveragePooling2D),
    LayerEntry(s.FlattenSpec, core.Flatten),
    LayerEntry(s.DenseSpec, core.Dense),
    LayerEntry(s.DropoutSpec, core.Dropout),
    LayerEntry(s.BatchNormalizationSpec, normalization.BatchNormalization),
    LayerEntry(s.ActivationSpec, activation.Activation),
    LayerEntry(s.ReLUSpec, activation.ReLU),
    LayerEntry(s.LeakyReLUSpec, activation.LeakyReLU),
    LayerEntry(s.PReLUSpec, activation.PReLU),
    LayerEntry(s.ELUSpec, activation.ELU),
    LayerEntry(s.ThresholdedReLUSpec, activation.ThresholdedReLU),
    LayerEntry(s.SoftmaxSpec, activation.Softmax),
    LayerEntry(s.ZeroPadding2DSpec, reshaping.ZeroPadding2D),
    LayerEntry(s.ReshapeSpec, reshaping.Reshape),
    LayerEntry(s.AddSpec, merge.Add),
    LayerEntry(s.SubtractSpec, merge.Subtract),
    LayerEntry(s.MultiplySpec, merge.Multiply),
    LayerEntry(s.AverageSpec, merge.Average),
    LayerEntry(s.MaximumSpec, merge.Maximum),
    LayerEntry(s.MinimumSpec, merge.Minimum),
    LayerEntry(s.ConcatenateSpec, merge.Concatenate),
    LayerEntry(s.DepthwiseConv2DSpec, conv.DepthwiseConv2D),
    LayerEntry(s.SeparableConv2DSpec, conv.SeparableConv2D),
    LayerEntry(s.Conv2DTransposeSpec, conv.Conv2DTranspose),
    LayerEntry(s.UpSampling2DSpec, reshaping.UpSampling2D),
    LayerEntry(s.Cropping2DSpec, reshaping.Cropping2D),
    LayerEntry(s.RescalingSpec, normalization.Rescaling),
    LayerEntry(s.NormalizationSpec, normalization.Normalization),
    LayerEntry(s.LayerNormalizationSpec, normalization.LayerNormalization),
    LayerEntry(s.LayerScaleSpec, normalization.LayerScale),
    LayerEntry(s.SpatialDropout2DSpec, core.SpatialDropout2D),
    LayerEntry(s.GaussianNoiseSpec, core.GaussianNoise),
    LayerEntry(s.GaussianDropoutSpec, core.GaussianDropout),
    LayerEntry(s.PermuteSpec, reshaping.Permute),
    LayerEntry(s.RepeatVectorSpec, reshaping.RepeatVector),
    LayerEntry(s.IdentitySpec, core.Identity),
    LayerEntry(s.Conv1DSpec, conv.Conv1D),
    LayerEntry(s.MaxPooling1DSpec, pooling.MaxPooling1D),
    LayerEntry(s.AveragePooling1DSpec, pooling.AveragePooling1D),
    LayerEntry(s.GlobalMaxPooling1DSpec, pooling.GlobalMaxPooling1D),
    LayerEntry(s.GlobalAveragePooling1DSpec, pooling.GlobalAveragePooling1D),
    LayerEntry(s.UpSampling1DSpec, reshaping.UpSampling1D),
    LayerEntry(s.ZeroPadding1DSpec, reshaping.ZeroPadding1D),
    LayerEntry(s.Cropping1DSpec, reshaping.Cropping1D),
)

LAYERS: dict[str, LayerEntry] = {entry.type_name: entry for entry in ENTRIES}
"""Canonical type name → entry, in the catalogue's order."""


def build_layer(spec: s.LayerSpec) -> Layer[Any]:
    """The layer object of a validated layer spec."""
    return LAYERS[spec.type_name].layer(spec)
