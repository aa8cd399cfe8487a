"""Compiling a `ModelSpec` into a graph of layers whose every shape is known before any weight exists.

Each layer reads the layers named in its `inputs` (default: the previous layer; the model
input is `input`). A layer may only read earlier layers, which rules out cycles. Every
problem (unknown input, wrong number of inputs, a shape that cannot work) becomes a
`Problem` at the YAML position of the layer concerned; all are reported together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from builder.errors import ConfigError, Problem, ShapeError
from builder.layers.base import Layer, Shape, WeightSpec
from builder.registry import build_layer
from builder.spec.messages import suggest
from builder.spec.model import INPUT_NAME, ModelSpec


@dataclass(frozen=True)
class Node:
    """One compiled layer: what it reads, the shapes in and out, its weights and MACs."""

    index: int
    layer: Layer[Any]
    inputs: tuple[str, ...]
    input_shape: Any  # a Shape, or a tuple of Shapes for merge layers
    output_shape: Shape
    weights: tuple[WeightSpec, ...]
    macs: int

    @property
    def name(self) -> str:
        return self.layer.name


@dataclass(frozen=True)
class Graph:
    """The compiled layers in evaluation order; the last one is the output."""

    spec: ModelSpec
    nodes: tuple[Node, ...]
    warnings: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name or "model"

    @property
    def dtype(self) -> str:
        return self.spec.dtype

    @property
    def input_shape(self) -> Shape:
        return tuple(self.spec.input_shape)

    @property
    def output_shape(self) -> Shape:
        return self.nodes[-1].output_shape

    @property
    def is_sequential(self) -> bool:
        previous = INPUT_NAME
        for node in self.nodes:
            if node.inputs != (previous,):
                return False
            previous = node.name
        return True

    def consumers(self) -> dict[str, list[int]]:
        """Name → indices of the nodes that read it (the model input included)."""
        found: dict[str, list[int]] = {INPUT_NAME: []}
        for node in self.nodes:
            found.setdefault(node.name, [])
            for name in node.inputs:
                found[name].append(node.index)
        return found


def compile_graph(spec: ModelSpec) -> Graph:
    """The graph of a validated spec; raises ConfigError listing every graph problem."""
    shapes: dict[str, Shape | None] = {INPUT_NAME: tuple(spec.input_shape)}
    positions = {str(layer.name): index for index, layer in enumerate(spec.layers)}
    nodes: list[Node] = []
    problems: list[Problem] = []
    previous = INPUT_NAME
    for index, layer_spec in enumerate(spec.layers):
        layer = build_layer(layer_spec)
        inputs = tuple(layer_spec.inputs) if layer_spec.inputs is not None else (previous,)
        previous = layer.name
        found = _input_problems(spec, index, layer, inputs, shapes, positions)
        if found:
            problems += found
            shapes[layer.name] = None
            continue
        if any(shapes[name] is None for name in inputs):
            shapes[layer.name] = None  # an input already failed; do not report the cascade
            continue
        input_shape: Any = (
            shapes[inputs[0]] if not layer.is_merge else tuple(shapes[name] for name in inputs)
        )
        try:
            output_shape = layer.output_shape(input_shape)
            node = Node(
                index,
                layer,
                inputs,
                input_shape,
                output_shape,
                tuple(_weights(layer, input_shape)),
                layer.macs(input_shape),
            )
        except ShapeError as error:
            fields = tuple(error.field.split(".")) if error.field else ()
            where = spec.where(index, " ".join(fields) or None)
            problems.append(spec.problem_at(("layers", index, *fields), where, str(error)))
            shapes[layer.name] = None
            continue
        nodes.append(node)
        shapes[layer.name] = output_shape
    if problems:
        raise ConfigError(problems)
    warnings = _unused_warnings(spec, nodes) + _training_only_warnings(spec)
    return Graph(spec, tuple(nodes), tuple(warnings))


def _weights(layer: Layer[Any], input_shape: Any) -> list[WeightSpec]:
    """The layer's weights; `trainable: false` makes every one of them non-trainable."""
    found = layer.weights(input_shape)
    return found if layer.spec.trainable else [replace(w, trainable=False) for w in found]


def _training_only_warnings(spec: ModelSpec) -> list[Problem]:
    """One note, at the first layer concerned, that regularisers and constraints are ignored."""
    given = [(index, layer.training_only()) for index, layer in enumerate(spec.layers)]
    given = [(index, keys) for index, keys in given if keys]
    if not given:
        return []
    index, _ = given[0]
    keys = sorted({key for _, found in given for key in found})
    layers = ", ".join(f"layers[{i}]" for i, _ in given)
    message = f"note: {', '.join(keys)} ({layers}) only act in training; ignored at inference"
    return [spec.problem_at(("layers", index), spec.where(index), message)]


def _input_problems(
    spec: ModelSpec,
    index: int,
    layer: Layer[Any],
    inputs: tuple[str, ...],
    shapes: dict[str, Shape | None],
    positions: dict[str, int],
) -> list[Problem]:
    where = spec.where(index, "inputs")
    path = ("layers", index, "inputs")
    problems = []
    for k, name in enumerate(inputs):
        if name in shapes:
            continue
        if name == layer.name:
            message = f"{name!r} cannot read its own output (a cycle)"
        elif name in positions:
            message = (
                f"{name!r} is defined later (layers[{positions[name]}]); a layer can only read "
                "earlier layers or 'input', so the graph has no cycles"
            )
        else:
            known = [INPUT_NAME, *(n for n in shapes if n != INPUT_NAME)]
            message = f"unknown layer {name!r}" + suggest(name, known)
        problems.append(spec.problem_at(path + (k,), where, message))
    if problems:
        return problems
    count = len(inputs)
    if count < layer.min_inputs:
        message = f"{layer.type_name} needs at least {layer.min_inputs} inputs, got {count}"
    elif layer.max_inputs is not None and count > layer.max_inputs:
        wanted = "exactly" if layer.min_inputs == layer.max_inputs else "at most"
        noun = "input" if layer.max_inputs == 1 else "inputs"
        message = f"{layer.type_name} takes {wanted} {layer.max_inputs} {noun}, got {count}"
    else:
        return []
    return [
        spec.problem_at(
            path if layer.spec.inputs is not None else ("layers", index),
            where,
            message,
        )
    ]


def _unused_warnings(spec: ModelSpec, nodes: list[Node]) -> list[Problem]:
    used = {name for node in nodes for name in node.inputs}
    warnings = []
    for node in nodes[:-1]:
        if node.name not in used:
            warnings.append(
                spec.problem_at(
                    ("layers", node.index),
                    spec.where(node.index),
                    f"warning: the output of {node.name!r} is never used",
                )
            )
    return warnings
