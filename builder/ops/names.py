"""Names the config may use for initialisers, kept apart from their implementation so that
validating or summarising a config never imports weight code (`builder.ops.initializers`)."""

from __future__ import annotations

INITIALIZER_NAMES: tuple[str, ...] = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
)
