"""The fields every layer entry accepts, and how a spec model names its type."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from builder.spec.fields import LayerName, StrictModel

TRAINING_ONLY = (
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)
"""Keras arguments that only training uses: accepted (a Keras config carries them), ignored.
A layer family adds its own (`depthwise_regularizer`, `gamma_constraint`, ...) with
`TrainingOnly`; every field named `*_regularizer` or `*_constraint` is one of them."""

_TRAINING_ONLY = Field(default=None, description="Training only: accepted and ignored.")
TrainingOnly: Any = _TRAINING_ONLY


class LayerSpec(StrictModel):
    """Fields every layer accepts: an optional unique `name`, the `inputs` it reads,
    `trainable`, and Keras's training-only arguments (accepted and ignored at inference)."""

    positional: ClassVar[str | None] = None
    """The field a scalar shorthand sets, as Keras's first argument (`Dense: 10` → units)."""

    name: LayerName | None = None
    inputs: list[LayerName] | None = Field(
        default=None,
        description="Names of the layers feeding this one (default: the previous layer).",
    )
    trainable: bool = Field(
        default=True, description="false counts the layer's weights as non-trainable."
    )
    kernel_regularizer: Any = _TRAINING_ONLY
    bias_regularizer: Any = _TRAINING_ONLY
    activity_regularizer: Any = _TRAINING_ONLY
    kernel_constraint: Any = _TRAINING_ONLY
    bias_constraint: Any = _TRAINING_ONLY

    @classmethod
    def training_only_fields(cls) -> tuple[str, ...]:
        """Every training-only argument this layer type accepts (and ignores)."""
        return tuple(k for k in cls.model_fields if k.endswith(("_regularizer", "_constraint")))

    def training_only(self) -> list[str]:
        """The training-only arguments this layer was given (ignored at inference)."""
        return [key for key in self.training_only_fields() if getattr(self, key) is not None]

    @classmethod
    def canonical_type(cls) -> str:
        """The type name this model stands for (`MaxPooling2D`, never its alias)."""
        return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]

    @classmethod
    def required_fields(cls) -> list[str]:
        """The fields without a default, the class's own before inherited ones, as Keras
        orders its arguments (Conv2D: filters, kernel_size)."""
        own = list(cls.__annotations__)
        names = sorted(cls.model_fields, key=lambda n: own.index(n) if n in own else len(own))
        return [n for n in names if cls.model_fields[n].is_required() and n != "type"]

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        """The canonical name, then the Keras aliases accepted for it."""
        return cls.model_fields["type"].annotation.__args__  # type: ignore[union-attr]

    @field_validator("type", mode="after", check_fields=False)
    @classmethod
    def _canonical_type(cls, value: str) -> str:
        """Keras aliases (`MaxPool2D`) are accepted and stored under the canonical name."""
        return cls.canonical_type()

    @property
    def type_name(self) -> str:
        return self.type  # type: ignore[attr-defined]
