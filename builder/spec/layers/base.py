"""The fields every layer entry accepts, and how a spec model names its type."""

from __future__ import annotations

from pydantic import Field, field_validator

from builder.spec.fields import LayerName, StrictModel


class LayerSpec(StrictModel):
    """Fields every layer accepts: an optional unique `name` and the `inputs` it reads."""

    name: LayerName | None = None
    inputs: list[LayerName] | None = Field(
        default=None,
        description="Names of the layers feeding this one (default: the previous layer).",
    )

    @classmethod
    def canonical_type(cls) -> str:
        """The type name this model stands for (`MaxPooling2D`, never its alias)."""
        return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]

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
