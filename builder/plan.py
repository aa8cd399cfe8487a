"""The execution plan of a compiled graph: the steps a forward pass runs, in order, what each
reads, and the memory a sample needs while they run.

Planning is separate from the graph (what the network is) and from the model (weights and
prediction): the plan may reorder and fuse work as long as every output stays bit for bit
what layer-by-layer evaluation gives, with one stated exception. Rewrites:

- pool-first: for an element-wise f that commutes with max (`commutes_with_max`:
  non-decreasing and piecewise linear, e.g. ReLU) whose only reader is max pooling
  (`selects_maximum`), pool(f(x)) == f(pool(x)) exactly, and the second applies f to a
  pool_size-times smaller array.
- batch-norm folding (`builder.fusion`): a BatchNormalization after a Conv2D/Dense is
  folded into its kernel and bias, one step for both. This is the exception: equal to the
  unfused layers up to float rounding, not bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from builder import fusion
from builder.graph import Graph, Node
from builder.layers.base import Params
from builder.spec.model import INPUT_NAME

Run = Callable[[list[np.ndarray], Params, bool], np.ndarray]
"""A step's computation: (input arrays, the layer's params, may it overwrite its input)."""


@dataclass(frozen=True)
class Step:
    """One computation of the forward pass; its result is stored under its node's name."""

    node: Node  # the layer computed: its params, and its name in a profile
    inputs: tuple[str, ...]  # names of the arrays it reads (`input` or earlier steps)
    run: Run
    then: str | None = None  # pool-first: the layer whose final activation runs after this
    linear_only: bool = False  # pool-first: this layer's inline activation runs later
    absorbed: tuple[Node, ...] = ()  # folding: earlier layers this step also computes

    @property
    def output(self) -> str:
        return self.node.name

    def params(self, weights: Mapping[str, Params]) -> Params:
        """What `run` receives: the node's weights, or for a step that absorbed layers
        every layer's, keyed `layer/weight`."""
        if not self.absorbed:
            return weights[self.node.name]
        return {
            f"{node.name}/{key}": array
            for node in (*self.absorbed, self.node)
            for key, array in weights[node.name].items()
        }


@dataclass(frozen=True)
class Plan:
    """The steps in execution order, how many steps read each array (so the forward pass
    frees an array after its last reader; a model output counts as one more reader, so it
    is never freed or overwritten), the peak bytes of live arrays and scratch per sample of
    a chunk, and the names of the model's inputs and outputs."""

    steps: tuple[Step, ...]
    readers: dict[str, int]
    work_bytes_per_sample: int
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] = (INPUT_NAME,)

    @property
    def output(self) -> str:
        """The name of the first (usually the only) output."""
        return self.outputs[0]


def build_plan(graph: Graph) -> Plan:
    """The plan of `graph`, with the pool-first rewrite applied where it is exact."""
    deferred = _pool_first_pairs(graph)  # {pool node index: activation node}
    skipped = {a.index for a in deferred.values() if a.layer.is_activation}
    linear_only = {a.index for a in deferred.values()} - skipped
    taken = set(deferred) | {a.index for a in deferred.values()}
    folds = {fold.norm.index: fold for fold in fusion.find_folds(graph, taken)}
    hosts = {fold.host.index for fold in folds.values()}
    steps = []
    for node in graph.nodes:
        if node.index in skipped or node.index in hosts:
            continue  # a standalone activation applied after its pooling, or a folded host
        if node.index in folds:
            host = folds[node.index].host
            run = fusion.fold_run(folds[node.index])
            steps.append(Step(node, host.inputs, run, absorbed=(host,)))
            continue
        if node.index in deferred:
            source = deferred[node.index]
            inputs = source.inputs if source.index in skipped else node.inputs
            steps.append(Step(node, inputs, _pool_then(node, source), then=source.name))
        elif node.index in linear_only:
            steps.append(Step(node, node.inputs, _linear_part(node), linear_only=True))
        else:
            steps.append(Step(node, node.inputs, _whole(node)))
    readers: dict[str, int] = dict.fromkeys(graph.inputs, 0)
    for step in steps:
        readers.setdefault(step.output, 0)
        for name in step.inputs:
            readers[name] += 1
    for name in graph.outputs:
        readers[name] += 1  # the caller reads it
    itemsize = np.dtype(graph.dtype).itemsize
    work = _peak_work_elements(graph, steps, readers) * itemsize
    return Plan(tuple(steps), readers, work, graph.outputs, tuple(graph.inputs))


def _pool_first_pairs(graph: Graph) -> dict[int, Node]:
    """{index of a max pooling node: the node whose final activation it may run before}."""
    readers = graph.consumers()
    pairs: dict[int, Node] = {}
    for node in graph.nodes:
        activation = node.layer.final_activation()
        if not activation.commutes_with_max or node.name in graph.outputs:
            continue  # an output is read as it is, after its activation
        if activation is node.layer and not node.layer.is_activation:
            continue  # the layer is its own final step but not a plain activation
        if len(readers[node.name]) != 1:
            continue
        (reader,) = readers[node.name]
        if reader.layer.selects_maximum:
            pairs[reader.index] = node
    return pairs


def _whole(node: Node) -> Run:
    layer = node.layer
    if layer.is_merge:
        return lambda xs, params, scratch: layer(xs, params)
    return lambda xs, params, scratch: layer(xs[0], params, inplace=scratch)


def _linear_part(node: Node) -> Run:
    """A Conv2D/Dense whose inline activation runs after the pooling that reads it."""
    layer: Any = node.layer
    return lambda xs, params, scratch: layer.linear(xs[0], params)


def _pool_then(pool: Node, source: Node) -> Run:
    """Max pooling, then the activation deferred from `source` on the pooled (fresh) array.
    Activations that commute with max have no weights, hence the empty params."""
    layer, activation = pool.layer, source.layer.final_activation()

    def run(xs: list[np.ndarray], params: Params, scratch: bool) -> np.ndarray:
        return activation(layer(xs[0], params, inplace=scratch), {}, inplace=True)

    return run


def _peak_work_elements(graph: Graph, steps: list[Step], readers: dict[str, int]) -> int:
    """Largest sum, over the steps, of live arrays + the step's output + its scratch."""
    remaining = dict(readers)
    live = {name: math.prod(shape) for name, shape in graph.inputs.items()}
    peak = 0
    for step in steps:
        node = step.node
        out = math.prod(node.output_shape)
        scratch = max(n.layer.scratch_elements(n.input_shape) for n in (*step.absorbed, node))
        peak = max(peak, sum(live.values()) + out + scratch)
        for name in step.inputs:
            remaining[name] -= 1
            if remaining[name] == 0:
                live.pop(name, None)
        live[step.output] = out
    return peak
