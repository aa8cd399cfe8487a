"""Pydantic models of the layer entries (canonical form `{type: Conv2D, ...}`).

Defaults and constraints are Keras 3's (SPEC section 3). Each model validates its own
arguments only; checks that need the input shape (channels divisible by groups, a
kernel larger than its input) happen when the graph is compiled.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from builder.ops.activations import ACTIVATION_NAMES
from builder.spec.fields import (
    DataFormat,
    Initializer,
    LayerName,
    NonNegativeFloat,
    Padding,
    Pair,
    PositiveInt,
    StrictModel,
    describe,
    list_as_tuple,
)

ActivationName = Literal[ACTIVATION_NAMES]  # type: ignore[valid-type]


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
        return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr,no-any-return]

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        """The canonical name, then the Keras aliases accepted for it."""
        return cls.model_fields["type"].annotation.__args__  # type: ignore[union-attr,no-any-return]

    @field_validator("type", mode="after", check_fields=False)
    @classmethod
    def _canonical_type(cls, value: str) -> str:
        """Keras aliases (`MaxPool2D`) are accepted and stored under the canonical name."""
        return cls.canonical_type()

    @property
    def type_name(self) -> str:
        return self.type  # type: ignore[attr-defined,no-any-return]


# --- advanced activations (usable as layers and inline as `activation:` values) ---


class ReLUSpec(LayerSpec):
    """f(x) = min(x, max_value) where x > threshold, else negative_slope·(x − threshold)."""

    type: Literal["ReLU"]
    max_value: NonNegativeFloat | None = None
    negative_slope: NonNegativeFloat = 0.0
    threshold: NonNegativeFloat = 0.0


class LeakyReLUSpec(LayerSpec):
    """f(x) = x where x >= 0, else alpha·x. `negative_slope` is Keras 3's name for alpha."""

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


# --- convolution, pooling, core ---


class Conv2DSpec(LayerSpec):
    """2-D convolution, channels_last; kernel (kh, kw, C/groups, filters)."""

    type: Literal["Conv2D", "Convolution2D"]
    filters: PositiveInt
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Padding = "valid"
    dilation_rate: Pair = (1, 1)
    groups: PositiveInt = 1
    activation: ActivationValue = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    data_format: DataFormat = "channels_last"

    @field_validator("groups", mode="after")
    @classmethod
    def _groups_divide_filters(cls, value: int, info: Any) -> int:
        filters = info.data.get("filters")
        if filters is not None and filters % value:
            raise PydanticCustomError(
                "groups",
                "filters ({filters}) must be divisible by groups, got groups={groups}",
                {"filters": filters, "groups": value},
            )
        return value


class _Pooling2DSpec(LayerSpec):
    pool_size: Pair = (2, 2)
    strides: Pair | None = Field(default=None, description="Default: pool_size.")
    padding: Padding = "valid"
    data_format: DataFormat = "channels_last"


class MaxPooling2DSpec(_Pooling2DSpec):
    """Maximum over each window; `same` pads with −inf."""

    type: Literal["MaxPooling2D", "MaxPool2D"]


class AveragePooling2DSpec(_Pooling2DSpec):
    """Mean over each window; `same` divides by the real (unpadded) cells only."""

    type: Literal["AveragePooling2D", "AvgPool2D"]


class GlobalMaxPooling2DSpec(LayerSpec):
    """Maximum over H and W: (H, W, C) → (C,) or (1, 1, C) with keepdims."""

    type: Literal["GlobalMaxPooling2D", "GlobalMaxPool2D"]
    keepdims: bool = False
    data_format: DataFormat = "channels_last"


class GlobalAveragePooling2DSpec(LayerSpec):
    """Mean over H and W: (H, W, C) → (C,) or (1, 1, C) with keepdims."""

    type: Literal["GlobalAveragePooling2D", "GlobalAvgPool2D"]
    keepdims: bool = False
    data_format: DataFormat = "channels_last"


class FlattenSpec(LayerSpec):
    """(H, W, C) → (H·W·C,), row-major as Keras."""

    type: Literal["Flatten"]
    data_format: DataFormat = "channels_last"


class DenseSpec(LayerSpec):
    """y = activation(x @ kernel + bias) on the last axis; kernel (in, units)."""

    type: Literal["Dense"]
    units: PositiveInt
    activation: ActivationValue = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


class DropoutSpec(LayerSpec):
    """Identity at inference."""

    type: Literal["Dropout"]
    rate: Annotated[float, Field(ge=0, le=1)]
    seed: int | None = Field(
        default=None, description="Accepted for Keras parity; unused at inference."
    )


class BatchNormalizationSpec(LayerSpec):
    """gamma·(x − moving_mean)/sqrt(moving_variance + epsilon) + beta (inference)."""

    type: Literal["BatchNormalization"]
    axis: int = -1
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.99
    epsilon: Annotated[float, Field(gt=0)] = 0.001
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"


class ActivationSpec(LayerSpec):
    """Applies an activation function (a name or an advanced block)."""

    type: Literal["Activation"]
    activation: ActivationValue


# --- graph layers (SPEC section 8) ---


def _zero_padding(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    def non_negative(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if non_negative(value):
        return ((value, value), (value, value))
    if isinstance(value, list) and len(value) == 2:
        if all(non_negative(v) for v in value):
            return ((value[0], value[0]), (value[1], value[1]))
        if all(
            isinstance(v, list) and len(v) == 2 and all(non_negative(x) for x in v) for v in value
        ):
            return ((value[0][0], value[0][1]), (value[1][0], value[1][1]))
    raise PydanticCustomError(
        "zero_padding",
        "must be an integer >= 0, a pair [rows, cols] or [[top, bottom], [left, right]], got {got}",
        {"got": describe(value)},
    )


_NN_INT = {"type": "integer", "minimum": 0}
_NN_PAIR = {"type": "array", "items": _NN_INT, "minItems": 2, "maxItems": 2}


class ZeroPadding2DSpec(LayerSpec):
    """Adds zero rows/columns: (H, W, C) → (H + top + bottom, W + left + right, C)."""

    type: Literal["ZeroPadding2D"]
    padding: Annotated[
        tuple[tuple[int, int], tuple[int, int]],
        BeforeValidator(_zero_padding),
        WithJsonSchema(
            {
                "anyOf": [
                    _NN_INT,
                    _NN_PAIR,
                    {"type": "array", "items": _NN_PAIR, "minItems": 2, "maxItems": 2},
                ]
            }
        ),
    ] = ((1, 1), (1, 1))
    data_format: DataFormat = "channels_last"


class ReshapeSpec(LayerSpec):
    """Reshapes each sample to `target_shape` (one −1 is inferred)."""

    type: Literal["Reshape"]
    target_shape: Annotated[tuple[int, ...], BeforeValidator(list_as_tuple), Field(min_length=1)]

    @field_validator("target_shape", mode="after")
    @classmethod
    def _check(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v == 0 or v < -1 for v in value) or value.count(-1) > 1:
            raise PydanticCustomError(
                "target_shape",
                "must hold positive sizes and at most one -1, got {got}",
                {"got": describe(list(value))},
            )
        return tuple(value)


class AddSpec(LayerSpec):
    """Element-wise sum of two or more inputs."""

    type: Literal["Add"]


class SubtractSpec(LayerSpec):
    """inputs[0] − inputs[1] (exactly two inputs)."""

    type: Literal["Subtract"]


class MultiplySpec(LayerSpec):
    """Element-wise product of two or more inputs."""

    type: Literal["Multiply"]


class AverageSpec(LayerSpec):
    """Element-wise mean of two or more inputs."""

    type: Literal["Average"]


class MaximumSpec(LayerSpec):
    """Element-wise maximum of two or more inputs."""

    type: Literal["Maximum"]


class MinimumSpec(LayerSpec):
    """Element-wise minimum of two or more inputs."""

    type: Literal["Minimum"]


class ConcatenateSpec(LayerSpec):
    """Joins two or more inputs along `axis`; the other axes must be equal."""

    type: Literal["Concatenate"]
    axis: int = -1
