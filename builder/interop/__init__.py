"""Keras interop: `builder import` (Keras model files → config + weights) and `builder export`.

The files are data: they are read with `zipfile`, `json` and `h5py` (extra `[keras]`),
never with Keras, and class names are looked up in our registry only.
"""

from __future__ import annotations

from typing import Any

from builder.errors import missing_extra


def require_h5py(command: str) -> Any:
    """The h5py module, or a one-line MissingExtraError saying which extra to install."""
    try:
        import h5py
    except ImportError:
        raise missing_extra(f"builder {command}", "keras") from None
    return h5py
