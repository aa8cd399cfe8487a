"""Names the config may use for initialisers and activations, kept apart from their
implementations so that parsing a config imports no NumPy and summarising it no weight code
(`builder.ops.initializers`, `builder.ops.activations`)."""

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

ACTIVATION_ALIASES: dict[str, str] = {"swish": "silu", "hard_swish": "hard_silu"}
"""Keras's second names for an activation → the name it stands for."""

ACTIVATION_NAMES: tuple[str, ...] = (
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "silu",
    "swish",
    "hard_silu",
    "hard_swish",
    "gelu",
    "mish",
    "exponential",
)
"""Every activation name a config may use (SPEC section 4), aliases included; the kernels
are in `builder.ops.activations.ACTIVATIONS`."""
