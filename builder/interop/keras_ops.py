"""Keras 3 operations recorded in a functional config → our layers.

Keras 3 records arithmetic on symbolic tensors (`x + 3.0`, `x * (1/6)`, `a * b`) as
entries with `module: keras.src.ops.numpy` and a class such as `Add`, whose node's `args`
hold the tensors and Python numbers. `keras.applications.MobileNetV3*` builds its
hard sigmoid as `ReLU(6)(x + 3.0) * (1/6)`. An operation of one tensor and one number is
an affine map y = x·scale + offset, our `Rescaling`; one of two tensors is the merge
layer of the same name. Anything else is refused by the caller's class check.
"""

from __future__ import annotations

from typing import Any

OPERATION_MODULE = "keras.src.ops"
"""Module prefix of Keras 3 operations (as opposed to layers) in a saved config."""

_MERGES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply"}
_MERGES.update({"Maximum": "Maximum", "Minimum": "Minimum"})


_TF_FUNCTIONS = {
    "__operators__.add": "Add",
    "math.add": "Add",
    "math.multiply": "Multiply",
    "math.subtract": "Subtract",
    "math.truediv": "TrueDivide",
    "math.divide": "TrueDivide",
}
"""tf.keras 2 records `x + 3.0` as a `TFOpLambda` layer naming a TensorFlow function,
the constant in the call's kwargs (`{"y": 3.0}`); these few map to an affine layer, any
other function stays refused."""


def is_operation(entry: dict[str, Any]) -> bool:
    """Whether a functional-config entry is a Keras 3 operation, or a tf.keras 2
    TFOpLambda of one of the arithmetic functions we know (not a layer)."""
    if entry.get("class_name") == "TFOpLambda":
        config = entry.get("config")
        return isinstance(config, dict) and config.get("function") in _TF_FUNCTIONS
    return str(entry.get("module") or "").startswith(OPERATION_MODULE)


def operation_as_layer(entry: dict[str, Any], name: str) -> tuple[str, dict[str, Any]] | str:
    """(our class name, its Keras-style config) for an operation entry, or a refusal
    message. Operands are read from the single call node's `args`, in order:
    a tensor is a `__keras_tensor__` dict, a constant a Python int or float."""
    kind = str(entry.get("class_name"))
    nodes = entry.get("inbound_nodes")
    if kind == "TFOpLambda":
        return _tf_operation(entry, nodes, name)
    if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict):
        return f"operation {kind} must be called once"
    node = nodes[0]
    args = node.get("args")
    if not isinstance(args, list) or node.get("kwargs"):
        return f"operation {kind} with keyword arguments is not supported"
    operands = [_operand(arg) for arg in args]
    if any(op is None for op in operands):
        return f"operation {kind} has an operand that is neither a tensor nor a number"
    numbers = [op for op in operands if not isinstance(op, str)]
    tensors = len(operands) - len(numbers)
    if tensors == len(operands) and kind in _MERGES and len(operands) >= 2:
        return _MERGES[kind], {"name": name}
    if tensors != 1 or len(operands) != 2:
        return (
            f"operation {kind} of {tensors} tensor(s) and {len(numbers)} number(s) is not supported"
        )
    constant = float(numbers[0])  # type: ignore[arg-type]
    tensor_first = isinstance(operands[0], str)
    affine = _affine(kind, constant, tensor_first)
    if affine is None:
        return f"operation {kind} with a constant operand is not supported"
    scale, offset = affine
    return "Rescaling", {"name": name, "scale": scale, "offset": offset}


def _tf_operation(entry: dict[str, Any], nodes: Any, name: str) -> tuple[str, dict[str, Any]] | str:
    """A tf.keras 2 `TFOpLambda` of `x` and a constant `y`: `[[x, 0, 0, {"y": c}]]`."""
    function = entry["config"]["function"]
    kind = _TF_FUNCTIONS[function]
    # TFOpLambda nodes are one call, not a list of calls: [[x, 0, 0, {"y": c}]]
    call = nodes[0] if isinstance(nodes, list) and len(nodes) == 1 else None
    kwargs = call[3] if isinstance(call, list) and len(call) == 4 else None
    constant = _operand(kwargs.get("y")) if isinstance(kwargs, dict) else None
    if not isinstance(constant, float):
        return f"TFOpLambda {function} is supported only as one tensor and a number y"
    affine = _affine(kind, constant, True)
    if affine is None:
        return f"TFOpLambda {function} with y={constant} is not supported"
    return "Rescaling", {"name": name, "scale": affine[0], "offset": affine[1]}


def _operand(arg: Any) -> str | float | None:
    """'tensor' for a symbolic tensor, the value for a real number, None otherwise."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return "tensor"
    if isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return float(arg)
    return None


def _affine(kind: str, c: float, tensor_first: bool) -> tuple[float, float] | None:
    """(scale, offset) with op(x, c) (or op(c, x)) = x·scale + offset."""
    if kind == "Add":
        return 1.0, c
    if kind == "Multiply":
        return c, 0.0
    if kind == "Subtract":
        return (1.0, -c) if tensor_first else (-1.0, c)
    if kind in ("Divide", "TrueDivide") and tensor_first and c != 0.0:
        return 1.0 / c, 0.0
    return None


SCALED_RESIDUAL = ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer")
"""The one application-private layer we know: `inputs[0] + inputs[1] * scale`
(InceptionResNetV2's residual blocks in Keras 3), matched by module and class exactly."""


def is_scaled_residual(entry: dict[str, Any]) -> bool:
    """Whether an entry is InceptionResNetV2's CustomScaleLayer (and nothing else)."""
    return (entry.get("module"), entry.get("class_name")) == SCALED_RESIDUAL and entry.get(
        "registered_name"
    ) in (None, SCALED_RESIDUAL[1])


def scaled_residual_scale(config: dict[str, Any], inputs: list[str]) -> float | str:
    """The `scale` of a CustomScaleLayer reading two tensors, or a refusal message."""
    scale = config.get("scale")
    if len(inputs) != 2:
        return f"CustomScaleLayer must read 2 tensors, got {len(inputs)}"
    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
        return f"CustomScaleLayer scale must be a number, got {scale!r}"
    return float(scale)
