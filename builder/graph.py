"""Compiling a `ModelSpec` into a graph of layers whose every shape is known before any weight exists.

Each layer reads the layers named in its `inputs` (default: the previous layer; the model
input is `input`, or the names declared under the top-level `inputs`). A layer may only
read earlier layers, which rules out cycles. The outputs are the layers named by the
top-level `outputs` (default: the last layer); layers that lead to no output are left out
of the graph, as Keras builds a model, with a warning. Every problem (unknown input, wrong
number of inputs, a shape that cannot work, an unknown output) becomes a `Problem` at the
YAML position concerned; all are reported together.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    """The compiled layers that lead to an output, in evaluation order (the last one is an
    output); the model inputs by name with their per-sample shapes; the output names."""

    spec: ModelSpec
    nodes: tuple[Node, ...]
    warnings: tuple[Problem, ...] = ()
    inputs: dict[str, Shape] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A Graph built by hand from a spec and nodes: the spec's inputs, the last node out.
        if not self.inputs:
            object.__setattr__(self, "inputs", self.spec.input_shapes)
        if not self.outputs:
            object.__setattr__(self, "outputs", (self.nodes[-1].name,))

    @property
    def name(self) -> str:
        return self.spec.name or "model"

    @property
    def dtype(self) -> str:
        return self.spec.dtype

    @property
    def input_shape(self) -> Shape:
        """The per-sample shape of the only input (see `inputs` when there are several)."""
        if len(self.inputs) != 1:
            raise ValueError(f"model {self.name!r} has {len(self.inputs)} inputs; use .inputs")
        return next(iter(self.inputs.values()))

    @property
    def output_shape(self) -> Shape:
        """The per-sample shape of the only output (see `output_shapes` when there are several)."""
        if len(self.outputs) != 1:
            raise ValueError(f"model {self.name!r} has {len(self.outputs)} outputs; use .outputs")
        return self.output_shapes[self.outputs[0]]

    @property
    def output_shapes(self) -> dict[str, Shape]:
        """Output name → per-sample shape, in the order of `outputs`."""
        found = {node.name: node.output_shape for node in self.nodes}
        return {name: found[name] for name in self.outputs}

    def node(self, name: str) -> Node:
        """The node called `name`."""
        return next(node for node in self.nodes if node.name == name)

    @property
    def is_sequential(self) -> bool:
        """One input, one output, and each layer reads the one before it."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            return False
        (previous,) = self.inputs
        for node in self.nodes:
            if node.inputs != (previous,):
                return False
            previous = node.name
        return previous == self.outputs[0]

    def consumers(self) -> dict[str, list[Node]]:
        """Name → the nodes that read it (the model inputs included)."""
        found: dict[str, list[Node]] = {name: [] for name in self.inputs}
        for node in self.nodes:
            found.setdefault(node.name, [])
            for name in node.inputs:
                found[name].append(node)
        return found


def compile_graph(spec: ModelSpec) -> Graph:
    """The graph of a validated spec; raises ConfigError listing every graph problem."""
    inputs = spec.input_shapes
    shapes: dict[str, Shape | None] = dict(inputs)
    positions = {str(layer.name): index for index, layer in enumerate(spec.layers)}
    nodes: list[Node] = []
    problems: list[Problem] = []
    previous = next(iter(inputs)) if len(inputs) == 1 else None
    for index, layer_spec in enumerate(spec.layers):
        layer = build_layer(layer_spec)
        if layer_spec.inputs is None and previous is None:  # no default with several inputs
            problems.append(_no_default_input(spec, index))
            shapes[layer.name] = None
            previous = layer.name
            continue
        names = tuple(layer_spec.inputs) if layer_spec.inputs is not None else (str(previous),)
        previous = layer.name
        found = _input_problems(spec, index, layer, names, shapes, positions)
        if found:
            problems += found
            shapes[layer.name] = None
            continue
        if any(shapes[name] is None for name in names):
            shapes[layer.name] = None  # an input already failed; do not report the cascade
            continue
        input_shape: Any = (
            shapes[names[0]] if not layer.is_merge else tuple(shapes[name] for name in names)
        )
        try:
            output_shape = layer.output_shape(input_shape)
            node = Node(
                index,
                layer,
                names,
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
    outputs = _outputs(spec, inputs, positions, problems)
    if problems:
        raise ConfigError(problems)
    kept = _leading_to(outputs, nodes)
    return Graph(
        spec,
        tuple(node for node in nodes if node.name in kept),
        tuple(_unused_warnings(spec, nodes, kept) + _training_only_warnings(spec)),
        inputs,
        outputs,
    )


def _no_default_input(spec: ModelSpec, index: int) -> Problem:
    names = list(spec.input_shapes)
    message = (
        f"the model has {len(names)} inputs ({', '.join(names)}): say which this layer reads, "
        f"e.g. inputs: [{names[0]}]"
    )
    return spec.problem_at(("layers", index), spec.where(index), message)


def _outputs(
    spec: ModelSpec,
    inputs: dict[str, Shape],
    positions: dict[str, int],
    problems: list[Problem],
) -> tuple[str, ...]:
    """The output names (default: the last layer); unknown or repeated names are problems."""
    if spec.outputs is None:
        return (spec.layer_names[-1],)
    seen: list[str] = []
    for k, name in enumerate(spec.outputs):
        if name in seen:
            message = f"{name!r} is listed twice"
        elif name in inputs:
            message = f"{name!r} is a model input, not a layer"
        elif name not in positions:
            message = f"unknown layer {name!r}" + suggest(name, positions)
        else:
            seen.append(name)
            continue
        problems.append(spec.problem_at(("outputs", k), "outputs", message))
    return tuple(seen)


def _leading_to(outputs: tuple[str, ...], nodes: list[Node]) -> set[str]:
    """Names of the nodes whose result some output depends on (the outputs included)."""
    wanted = set(outputs)
    for node in reversed(nodes):  # a node only reads earlier ones
        if node.name in wanted:
            wanted.update(node.inputs)
    return wanted


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
                f"earlier layers or {_model_inputs(spec)}, so the graph has no cycles"
            )
        elif name == INPUT_NAME:
            named = ", ".join(map(repr, spec.input_shapes))
            message = (
                f"unknown layer 'input': the model inputs are named {named} (top-level inputs)"
            )
        else:
            known = list(shapes)  # the model inputs first, then the earlier layers
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


def _model_inputs(spec: ModelSpec) -> str:
    names = list(spec.input_shapes)
    if len(names) == 1:
        return repr(names[0])
    return "the model inputs (" + ", ".join(map(repr, names)) + ")"


def _unused_warnings(spec: ModelSpec, nodes: list[Node], kept: set[str]) -> list[Problem]:
    """One warning per left-out layer whose output nothing reads, naming the left-out layers
    that only fed it (each layer is named once, with the first such layer it feeds)."""
    read = {name for node in nodes for name in node.inputs}
    named: set[str] = set()
    warnings = []
    for end in nodes:
        if end.name in kept or end.name in read:
            continue
        feeding = _left_out_feeding(end, nodes, kept) - named
        named |= feeding | {end.name}
        along = [node.name for node in nodes if node.name in feeding]
        also = f"; left out with {', '.join(map(repr, along))}" if along else "; left out"
        warnings.append(
            spec.problem_at(
                ("layers", end.index),
                spec.where(end.index),
                f"warning: the output of {end.name!r} is never used{also}",
            )
        )
    if spec.inputs is not None:
        for name in spec.inputs:
            if name not in kept:
                message = f"warning: input {name!r} leads to no output (it is still required)"
                warnings.append(spec.problem_at(("inputs", name), f"inputs {name}", message))
    return warnings


def _left_out_feeding(end: Node, nodes: list[Node], kept: set[str]) -> set[str]:
    """Names of the left-out nodes that `end` depends on (not `end` itself)."""
    by_name = {node.name: node for node in nodes}
    found: set[str] = set()
    todo = [name for name in end.inputs]
    while todo:
        name = todo.pop()
        if name in found or name in kept or name not in by_name:
            continue
        found.add(name)
        todo.extend(by_name[name].inputs)
    return found
