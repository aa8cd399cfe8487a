"""Keras interop: `builder import` (Keras model files → config + weights) and `builder export`.

The files are data: they are read with `zipfile`, `json` and `h5py` (extra `[keras]`),
never with Keras, and class names are looked up in our registry only.
"""

from __future__ import annotations

from typing import Any

from builder.errors import DataError

KERAS_EXTRA_HINT = 'pip install "yaml-model-builder[keras]"'


def require_h5py(command: str) -> Any:
    """The h5py module, or a one-line DataError saying which extra to install."""
    try:
        import h5py
    except ImportError:
        raise DataError(f"builder {command} needs the 'keras' extra: {KERAS_EXTRA_HINT}") from None
    return h5py
