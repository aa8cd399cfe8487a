"""Shared test set-up.

When a Hypothesis test fails, its pytest plugin imports `hypothesis.extra._patching`, which
imports libcst, which emits a DeprecationWarning at import time; with warnings as errors
that turns the failure into a pytest INTERNALERROR that hides the falsifying example.
Importing it once here, with that warning silenced, keeps failures readable.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # libcst missing: the plugin then skips writing patches
        pass

# Keras interop tests of the catalogue layers (issue 13): enabled once those layers are merged.
collect_ignore: list[str] = []
