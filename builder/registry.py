"""The single list of layer types: type name → spec model and layer class.

The Pydantic union (`builder.spec.model`), the JSON Schema, the shorthand normaliser and
the graph compiler all read their names from here; a test checks they agree. Layer
classes are named by import path and imported on first use, so validating or
summarising a config never imports the NumPy kernels.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from builder.ops.activations import ACTIVATION_NAMES
from builder.spec import layers as s

if TYPE_CHECKING:
    from builder.layers.base import Layer


@dataclass(frozen=True)
class LayerEntry:
    """One layer type: its spec model and where its implementation lives."""

    spec: type[s.LayerSpec]
    impl: str  # "module:Class"

    @property
    def type_name(self) -> str:
        return self.spec.canonical_type()

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.spec.type_names()[1:]

    def layer_class(self) -> type[Layer]:
        module, _, name = self.impl.partition(":")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


_ENTRIES = (
    LayerEntry(s.Conv2DSpec, "builder.layers.conv:Conv2D"),
    LayerEntry(s.MaxPooling2DSpec, "builder.layers.pooling:MaxPooling2D"),
    LayerEntry(s.AveragePooling2DSpec, "builder.layers.pooling:AveragePooling2D"),
    LayerEntry(s.GlobalMaxPooling2DSpec, "builder.layers.pooling:GlobalMaxPooling2D"),
    LayerEntry(s.GlobalAveragePooling2DSpec, "builder.layers.pooling:GlobalAveragePooling2D"),
    LayerEntry(s.FlattenSpec, "builder.layers.core:Flatten"),
    LayerEntry(s.DenseSpec, "builder.layers.core:Dense"),
    LayerEntry(s.DropoutSpec, "builder.layers.core:Dropout"),
    LayerEntry(s.BatchNormalizationSpec, "builder.layers.normalization:BatchNormalization"),
    LayerEntry(s.ActivationSpec, "builder.layers.activation:Activation"),
    LayerEntry(s.ReLUSpec, "builder.layers.activation:ReLU"),
    LayerEntry(s.LeakyReLUSpec, "builder.layers.activation:LeakyReLU"),
    LayerEntry(s.PReLUSpec, "builder.layers.activation:PReLU"),
    LayerEntry(s.ELUSpec, "builder.layers.activation:ELU"),
    LayerEntry(s.ThresholdedReLUSpec, "builder.layers.activation:ThresholdedReLU"),
    LayerEntry(s.SoftmaxSpec, "builder.layers.activation:Softmax"),
    LayerEntry(s.ZeroPadding2DSpec, "builder.layers.reshaping:ZeroPadding2D"),
    LayerEntry(s.ReshapeSpec, "builder.layers.reshaping:Reshape"),
    LayerEntry(s.AddSpec, "builder.layers.merge:Add"),
    LayerEntry(s.SubtractSpec, "builder.layers.merge:Subtract"),
    LayerEntry(s.MultiplySpec, "builder.layers.merge:Multiply"),
    LayerEntry(s.AverageSpec, "builder.layers.merge:Average"),
    LayerEntry(s.MaximumSpec, "builder.layers.merge:Maximum"),
    LayerEntry(s.MinimumSpec, "builder.layers.merge:Minimum"),
    LayerEntry(s.ConcatenateSpec, "builder.layers.merge:Concatenate"),
)

LAYERS: dict[str, LayerEntry] = {entry.type_name: entry for entry in _ENTRIES}
"""Canonical type name → entry, in the catalogue's order."""

TYPE_NAMES: dict[str, str] = {
    name: entry.type_name for entry in _ENTRIES for name in (entry.type_name, *entry.aliases)
}
"""Every accepted type name (aliases included) → its canonical name."""

ADVANCED_ACTIVATIONS: tuple[str, ...] = tuple(
    spec.canonical_type() for spec in s.ADVANCED_ACTIVATION_SPECS
)

__all__ = [
    "ACTIVATION_NAMES",
    "ADVANCED_ACTIVATIONS",
    "LAYERS",
    "TYPE_NAMES",
    "LayerEntry",
    "layer_class",
]


@cache
def layer_class(type_name: str) -> type[Layer]:
    """The implementation class of a canonical type name."""
    return LAYERS[type_name].layer_class()
