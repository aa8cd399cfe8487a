"""Activation specs: `Activation` and the advanced activations, which may also stand inline
as the `activation:` value of Conv2D, Dense and Activation."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from builder.ops.names import ACTIVATION_NAMES
from builder.spec.fields import Initializer, NonNegativeFloat, PositiveInt, list_as_tuple
from builder.spec.layers.base import LayerSpec, TrainingOnly

ActivationName = Literal[ACTIVATION_NAMES]  # type: ignore[valid-type]


class ReLUSpec(LayerSpec):
    """f(x) = min(x, max_value) where x > threshold, else negative_slope·(x − threshold)."""

    type: Literal["ReLU"]
    max_value: NonNegativeFloat | None = None
    negative_slope: NonNegativeFloat = 0.0
    threshold: NonNegativeFloat = 0.0


class LeakyReLUSpec(LayerSpec):
    """f(x) = x where x >= 0, else alpha·x. `negative_slope` is Keras 3's name for alpha."""

    positional: ClassVar[str | None] = "negative_slope"
    type: Literal["LeakyReLU"]
    alpha: NonNegativeFloat = 0.3
    negative_slope: NonNegativeFloat | None = Field(default=None, description="Alias of alpha.")

    @model_validator(mode="after")
    def _merge_alias(self) -> LeakyReLUSpec:
        if self.negative_slope is not None:
            if "alpha" in self.model_fields_set:
                raise PydanticCustomError(
                    "alias_conflict", "give alpha or its alias negative_slope, not both"
                )
            self.alpha = self.negative_slope
            self.negative_slope = None
        return self


_AXIS_SCHEMA = {"type": "integer", "minimum": 1}


def _axes_as_tuple(value: Any) -> Any:
    """`3` → (3,), `[1, 2]` → (1, 2); each item is then checked as a positive integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    return list_as_tuple(value)


class PReLUSpec(LayerSpec):
    """f(x) = x where x >= 0, else alpha·x, with a learned alpha per (unshared) element."""

    type: Literal["PReLU"]
    alpha_regularizer: Any = TrainingOnly
    alpha_constraint: Any = TrainingOnly
    alpha_initializer: Initializer = "zeros"
    shared_axes: Annotated[
        tuple[PositiveInt, ...] | None,
        BeforeValidator(_axes_as_tuple),
        WithJsonSchema(
            {"anyOf": [_AXIS_SCHEMA, {"type": "array", "items": _AXIS_SCHEMA}, {"type": "null"}]}
        ),
    ] = Field(default=None, description="1-based axes (0 is the batch axis) sharing one alpha.")


class ELUSpec(LayerSpec):
    """f(x) = x where x > 0, else alpha·(exp(x) − 1)."""

    positional: ClassVar[str | None] = "alpha"
    type: Literal["ELU"]
    alpha: float = 1.0


class ThresholdedReLUSpec(LayerSpec):
    """f(x) = x where x > theta, else 0 (Keras 2's layer; equals ReLU(threshold=theta))."""

    type: Literal["ThresholdedReLU"]
    theta: NonNegativeFloat = 1.0


class SoftmaxSpec(LayerSpec):
    """f(x) = exp(x) / sum(exp(x)) along `axis`."""

    type: Literal["Softmax"]
    axis: int = -1


ADVANCED_ACTIVATION_SPECS: tuple[type[LayerSpec], ...] = (
    ReLUSpec,
    LeakyReLUSpec,
    PReLUSpec,
    ELUSpec,
    ThresholdedReLUSpec,
    SoftmaxSpec,
)
"""The layers that may also stand inline as a Conv2D/Dense/Activation `activation:` value."""

AdvancedActivationSpec = Annotated[
    Union[ADVANCED_ACTIVATION_SPECS],  # type: ignore[valid-type]  # noqa: UP007 (a runtime tuple)
    Field(discriminator="type"),
]


def _activation_kind(value: Any) -> str | None:
    if value is None:
        return "none"
    if isinstance(value, str):
        return "name"
    if isinstance(value, (dict, LayerSpec)):
        return "block"
    return None


def _inline_block(value: Any) -> Any:
    if value is None:
        return "linear"
    if isinstance(value, LayerSpec) and (value.name is not None or value.inputs is not None):
        raise PydanticCustomError(
            "inline_activation",
            "an inline activation takes no name or inputs (the layer's are used)",
        )
    if isinstance(value, LayerSpec) and (not value.trainable or value.training_only()):
        raise PydanticCustomError(
            "inline_activation",
            "an inline activation takes no trainable or training-only arguments: give them "
            "to the layer that holds it",
        )
    return value


ActivationValue = Annotated[
    Annotated[ActivationName, Tag("name")]
    | Annotated[AdvancedActivationSpec, Tag("block")]
    | Annotated[None, Tag("none")],
    Discriminator(
        _activation_kind,
        custom_error_type="activation_value",
        custom_error_message="must be an activation name or an advanced activation block",
    ),
    AfterValidator(_inline_block),
]
"""`relu`, or `{LeakyReLU: {alpha: 0.05}}` (normalised to `{type: LeakyReLU, alpha: 0.05}`)."""


class ActivationSpec(LayerSpec):
    """Applies an activation function (a name or an advanced block)."""

    positional: ClassVar[str | None] = "activation"
    type: Literal["Activation"]
    activation: ActivationValue
