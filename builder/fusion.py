"""Plan rewrites that fuse a Conv2D/Dense with what follows it into one step.

A chain host → [BatchNormalization] → [activation] runs as one step when every link but
the last has exactly one reader and is not a model output:

- BatchNormalization on the last axis right after a Conv2D or Dense without activation
  (a layer with `folds_affine`) folds into its weights: with y = x·s + t per channel
  (`BatchNormalization.affine`), conv(x, k) + b followed by it is conv(x, k·s) + (b·s + t).
  The folded kernel and bias are computed once per weight set (the step remembers the
  arrays it folded and refolds when the model's weights are replaced; like the
  onnxruntime session, it does not see weight arrays edited in place). This changes
  rounding, not the function: outputs agree with the unfused layers to float rounding.
- An element-wise activation (`commutes_with_max`: ReLU, LeakyReLU, ...) of a Conv2D,
  inline or as the next layer, runs on each block of the convolution's output right
  after its GEMM, while the block is in cache and on the worker thread that computed it
  (`conv2d(epilogue=)`); bit for bit the same as applying it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from builder.graph import Graph, Node
from builder.layers.base import Params

Run = Callable[[list[np.ndarray], Params, bool], np.ndarray]


@dataclass(frozen=True)
class Chain:
    """host (Conv2D/Dense), then an optional BatchNormalization folded into it, then an
    optional element-wise activation layer, computed as one step named after the last."""

    host: Node
    norm: Node | None = None
    activation: Node | None = None

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in (self.host, self.norm, self.activation) if n is not None)


def find_chains(graph: Graph, taken: set[int]) -> list[Chain]:
    """The chains worth fusing; nodes in `taken` (already rewritten) are left alone."""
    readers = graph.consumers()

    def only_reader(node: Node) -> Node | None:
        found = readers[node.name]
        if node.name in graph.outputs or len(found) != 1 or found[0].index in taken:
            return None
        return found[0]

    chains = []
    for node in graph.nodes:
        layer: Any = node.layer
        if node.index in taken or not getattr(layer, "folds_affine", False):
            continue
        norm = only_reader(node) if layer.activation is None else None
        if norm is not None and not _folds_into(norm):
            norm = None
        tail = norm or node
        activation = only_reader(tail) if layer.activation is None else None
        convolution = getattr(layer, "takes_epilogue", False)
        if activation is not None and not (
            convolution and activation.layer.is_activation and activation.layer.commutes_with_max
        ):
            activation = None
        inline = layer.activation is not None and convolution and layer.activation.commutes_with_max
        if norm is not None or activation is not None or inline:
            chains.append(Chain(node, norm, activation))
            taken.update(n.index for n in chains[-1].nodes)
    return chains


def chain_run(chain: Chain) -> Run:
    """Run the chain as one step (see the module docstring)."""
    host: Any = chain.host.layer
    activation = chain.activation.layer if chain.activation is not None else host.activation
    epilogue = None
    if activation is not None:
        function = activation

        def epilogue(block: np.ndarray) -> None:  # weightless: commutes_with_max
            function(block, {}, inplace=True)

    own = {key.partition("/")[2]: key for key in _weight_keys(chain.host)}
    fold = _Fold(chain.host, chain.norm) if chain.norm is not None else None

    def run(xs: list[np.ndarray], params: Params, scratch: bool) -> np.ndarray:
        if fold is not None:
            weights = fold(params, xs[0].dtype)
        elif len(chain.nodes) == 1:
            weights = params  # a step of one layer gets that layer's weights as they are
        else:
            weights = {name: params[key] for name, key in own.items() if key in params}
        if epilogue is not None:
            return host.linear(xs[0], weights, epilogue=epilogue)
        return host.linear(xs[0], weights)

    return run


class _Fold:
    """The host's kernel and bias with the BatchNormalization folded in, cached per weight
    set (recomputed when any source array is a different object)."""

    def __init__(self, host: Node, norm: Node) -> None:
        self.host, self.norm = host, norm
        self.sources: tuple[np.ndarray, ...] = ()
        self.folded: Params = {}

    def __call__(self, params: Params, dtype: np.dtype[Any]) -> Params:
        prefix = (f"{self.host.name}/", f"{self.norm.name}/")
        sources = tuple(v for k, v in sorted(params.items()) if k.startswith(prefix))
        stale = len(sources) != len(self.sources) or any(
            a is not b for a, b in zip(sources, self.sources, strict=False)
        )
        if stale or self.folded["kernel"].dtype != dtype:
            self.folded = self._fold(params, dtype)
            self.sources = sources
        return self.folded

    def _fold(self, params: Params, dtype: np.dtype[Any]) -> Params:
        norm: Any = self.norm.layer
        factor, offset = norm.affine(
            {
                k.partition("/")[2]: v
                for k, v in params.items()
                if k.startswith(f"{self.norm.name}/")
            }
        )
        kernel = params[f"{self.host.name}/kernel"].astype(np.float64) * factor
        bias = params.get(f"{self.host.name}/bias")
        shift = offset if bias is None else bias.astype(np.float64) * factor + offset
        return {"kernel": kernel.astype(dtype), "bias": shift.astype(dtype)}


def _folds_into(norm: Node) -> bool:
    """A BatchNormalization (it has `affine`) whose features are the last axis."""
    layer: Any = norm.layer
    return (
        hasattr(layer, "affine")
        and layer.feature_axis(norm.input_shape) == len(norm.input_shape) - 1
    )


def _weight_keys(node: Node) -> list[str]:
    return [f"{node.name}/{w.name}" for w in node.weights]
