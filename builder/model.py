"""The runnable model: weights, memory planning and the forward pass over a compiled graph."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from builder.config import INPUT_NAME
from builder.errors import DataError, ResourceError
from builder.graph import Graph, Node
from builder.layers.base import Layer, Shape, WeightSpec, format_shape

DEFAULT_MAX_MEMORY = 4 * 1024**3
"""Refuse work whose weights or per-chunk activations exceed this many bytes (`--max-memory`)."""

WORK_BUDGET = 256 * 1024**2
"""Bytes of activations and scratch per chunk when the caller gives no batch size."""

MAX_AUTO_CHUNK = 256


class Model:
    """A compiled config that runs on NumPy arrays of shape (N, *input_shape).

    Weights are created on first use from the spec's seed (a pure function of seed, layer
    name and weight name), or loaded with `load_weights`.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.spec = graph.spec
        self.name: str = graph.spec.name or "model"
        self.dtype = np.dtype(graph.spec.dtype)
        self._weights: dict[str, dict[str, np.ndarray]] | None = None
        self._readers = {name: len(users) for name, users in graph.consumers().items()}
        self._pool_first, self._deferred = _pool_first(graph)
        self._work_per_sample = self._peak_work_bytes()

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, input_shape={format_shape(self.input_shape)}, "
            f"layers={len(self.nodes)}, params={self.count_params():,})"
        )

    # --- structure -------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self.graph.nodes

    @property
    def input_shape(self) -> Shape:
        return self.graph.input_shape

    @property
    def output_shape(self) -> Shape:
        return self.graph.output_shape

    def weight_specs(self) -> list[tuple[str, WeightSpec]]:
        """(`layer/weight` key, spec) for every weight, in layer order."""
        return [(f"{node.name}/{w.name}", w) for node in self.nodes for w in node.weights]

    def count_params(self, trainable: bool | None = None) -> int:
        return sum(
            w.size for _, w in self.weight_specs() if trainable is None or w.trainable == trainable
        )

    def summary(self, batch_size: int = 1) -> Any:
        """The summary report; `str()` of it is the Keras-style text table."""
        from builder.report import summarize

        return summarize(self, batch_size=batch_size)

    # --- weights ---------------------------------------------------------------------

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Every weight by `layer/weight` key (initialised from the seed on first access)."""
        return {
            f"{layer}/{name}": array
            for layer, found in self._layer_weights().items()
            for name, array in found.items()
        }

    def init_weights(self, seed: int | None = None, max_memory: int = DEFAULT_MAX_MEMORY) -> None:
        """(Re)initialise every weight from `seed` (default: the config's seed); refuses,
        before allocating, weights larger than `max_memory`."""
        from builder.weights import initial_weights

        self.check_memory(1, max_memory)
        flat = initial_weights(
            self.weight_specs(), self.spec.seed if seed is None else seed, self.dtype
        )
        self._set_weights(flat)

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        from builder.weights import save_weights

        save_weights(path, self.weights)

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        from builder.weights import load_weights

        self._set_weights(load_weights(path, self.weight_specs(), self.dtype))

    def _set_weights(self, flat: dict[str, np.ndarray]) -> None:
        grouped: dict[str, dict[str, np.ndarray]] = {node.name: {} for node in self.nodes}
        for key, array in flat.items():
            layer, _, name = key.partition("/")
            grouped[layer][name] = array
        self._weights = grouped

    def _layer_weights(self) -> dict[str, dict[str, np.ndarray]]:
        if self._weights is None:
            self.init_weights()
        return self._weights  # type: ignore[return-value]

    # --- memory ----------------------------------------------------------------------

    def weight_bytes(self) -> int:
        return self.count_params() * self.dtype.itemsize

    def work_bytes_per_sample(self) -> int:
        """Peak bytes of live activations plus a layer's scratch, per sample of a chunk."""
        return self._work_per_sample

    def output_bytes(self, count: int) -> int:
        """Bytes of the output for `count` samples."""
        return count * math.prod(self.output_shape) * self.dtype.itemsize

    def _peak_work_bytes(self) -> int:
        consumers = dict(self._readers)
        live = {INPUT_NAME: math.prod(self.input_shape)}
        peak = 0
        for node in self.nodes:
            out = math.prod(node.output_shape)
            peak = max(peak, sum(live.values()) + out + _scratch_elements(node))
            for name in node.inputs:
                consumers[name] -= 1
                if consumers[name] == 0:
                    live.pop(name, None)
            live[node.name] = out
        return peak * self.dtype.itemsize

    def check_memory(self, batch_size: int, max_memory: int) -> int:
        """The chunk size (≤ batch_size) that keeps weights + work under `max_memory`.

        Raises ResourceError, before anything is allocated, when the weights alone or a
        single sample's work do not fit.
        """
        weights = self.weight_bytes()
        per_sample = max(self.work_bytes_per_sample(), 1)
        if weights > max_memory:
            raise ResourceError(
                f"the weights need {_size(weights)}, over the memory limit of {_size(max_memory)} "
                "(raise it with --max-memory)"
            )
        fits = (max_memory - weights) // per_sample
        if fits < 1:
            raise ResourceError(
                f"one sample needs {_size(per_sample)} of activations on top of {_size(weights)} of "
                f"weights, over the memory limit of {_size(max_memory)} (raise it with --max-memory)"
            )
        return int(min(batch_size, fits))

    def default_chunk(self) -> int:
        return int(max(1, min(MAX_AUTO_CHUNK, WORK_BUDGET // max(self.work_bytes_per_sample(), 1))))

    # --- forward pass ----------------------------------------------------------------

    def __call__(self, x: Any) -> np.ndarray:
        """Output for a batch x of shape (N, *input_shape); large batches run in chunks."""
        return self.predict(x)

    def predict(
        self, x: Any, batch_size: int | None = None, max_memory: int = DEFAULT_MAX_MEMORY
    ) -> np.ndarray:
        """Output for x, computed `batch_size` samples at a time (default: fit a work budget)."""
        x = self.check_input(x)
        chunks = self.iter_chunks(x, batch_size, max_memory)  # checks memory first
        out_bytes = self.output_bytes(x.shape[0])
        if out_bytes + self.weight_bytes() > max_memory:
            raise ResourceError(
                f"the output needs {_size(out_bytes)}, over the memory limit of {_size(max_memory)}"
            )
        out = np.empty((x.shape[0], *self.output_shape), dtype=self.dtype)
        for start, part in chunks:
            out[start : start + len(part)] = part
        return out

    def predict_dask(
        self, x: Any, batch_size: int | None = None, max_memory: int = DEFAULT_MAX_MEMORY
    ) -> Any:
        """Lazy output for a Dask array x (extra `[dask]`): `builder.distributed.predict_dask`."""
        from builder.distributed import predict_dask

        return predict_dask(self, x, batch_size, max_memory)

    def iter_chunks(
        self, x: np.ndarray, batch_size: int | None = None, max_memory: int = DEFAULT_MAX_MEMORY
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(start index, output) per chunk of an already checked input. The memory check
        and weight initialisation happen now, before the first chunk is asked for."""
        chunk = self.check_memory(batch_size or self.default_chunk(), max_memory)
        self._layer_weights()
        return self._run_chunks(x, chunk)

    def _run_chunks(self, x: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, x.shape[0], chunk):
            batch = np.asarray(x[start : start + chunk]).astype(self.dtype, copy=False)
            yield start, self.forward(batch)

    def _run_node(
        self,
        node: Node,
        inputs: list[np.ndarray],
        weights: dict[str, dict[str, np.ndarray]],
        scratch: bool,
    ) -> np.ndarray:
        """One layer's output, following the plan: a ReLU-like activation read only by max
        pooling is deferred (`_deferred`) and applied to the pooled output (`_pool_first`)."""
        layer: Any = node.layer
        if layer.is_merge:
            return layer(inputs, weights[node.name])  # type: ignore[no-any-return]
        if node.index in self._deferred:
            if self._deferred[node.index] is layer:
                return inputs[0]  # the activation layer itself: applied after pooling
            return layer.linear(inputs[0], weights[node.name])  # type: ignore[no-any-return]
        out = layer(inputs[0], weights[node.name], inplace=scratch)
        if node.index in self._pool_first:
            owner, activation = self._pool_first[node.index]
            out = activation(out, weights[owner], inplace=True)
        return out  # type: ignore[no-any-return]

    def check_input(self, x: Any) -> np.ndarray:
        """x as an array of shape (N, *input_shape) with a real-number dtype, or a DataError."""
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except (ValueError, TypeError) as error:
                raise DataError(f"input is not a numeric array: {error}") from None
        if x.dtype.kind not in "biuf":
            raise DataError(f"input must hold real numbers, got dtype {x.dtype}")
        if tuple(x.shape[1:]) != self.input_shape or x.ndim < 1:
            raise DataError(
                f"input must have shape {format_shape(self.input_shape)}, got {tuple(x.shape)}"
            )
        return x

    def forward(self, x: np.ndarray, observe: Callable[[int], None] | None = None) -> np.ndarray:
        """One chunk through the graph. Each intermediate is freed after its last reader;
        a layer may overwrite its input in place when nothing else can see that memory.
        `observe`, if given, receives the number of live arrays after each layer."""
        consumers = dict(self._readers)
        values: dict[str, np.ndarray] = {INPUT_NAME: x}
        weights = self._layer_weights()
        for node in self.nodes:
            inputs = [values[name] for name in node.inputs]
            for name in node.inputs:
                consumers[name] -= 1
            only = node.inputs[0]
            scratch = (  # may the layer overwrite its input?
                len(inputs) == 1
                and only != INPUT_NAME
                and consumers[only] == 0
                and not np.may_share_memory(inputs[0], x)  # never write into the caller's data
                and not any(
                    np.may_share_memory(inputs[0], v) for k, v in values.items() if k != only
                )
            )
            out = self._run_node(node, inputs, weights, scratch)
            for name in node.inputs:
                if consumers[name] == 0:
                    values.pop(name, None)
            del inputs
            values[node.name] = out
            if observe is not None:
                observe(len(values))
        return values[self.nodes[-1].name]


def _pool_first(graph: Graph) -> tuple[dict[int, tuple[str, Layer]], dict[int, Layer]]:
    """Where max pooling may run before the activation feeding it.

    For an activation f with f(max(a, b)) == max(f(a), f(b)) bit for bit (ReLU-like, see
    `Layer.commutes_with_max`) whose only reader is MaxPooling2D, pool(f(x)) equals
    f(pool(x)), and the second applies f to a pool_size-times smaller array. f is an
    activation layer, or the inline activation of a Conv2D/Dense. Returns
    ({pool index: (weights owner, f)}, {index of f's node: f}).
    """
    readers = graph.consumers()
    last = graph.nodes[-1].name
    after_pool: dict[int, tuple[str, Layer]] = {}
    deferred: dict[int, Layer] = {}
    for node in graph.nodes:
        inline = getattr(node.layer, "activation", None)
        activation = inline if isinstance(inline, Layer) else node.layer
        if not activation.commutes_with_max or node.name == last or len(readers[node.name]) != 1:
            continue
        reader = graph.nodes[readers[node.name][0]]
        if reader.layer.type_name == "MaxPooling2D":
            after_pool[reader.index] = (node.name, activation)
            deferred[node.index] = activation
    return after_pool, deferred


def _scratch_elements(node: Node) -> int:
    """Extra elements a layer allocates while it runs (the im2col patch matrix of a conv)."""
    spec = node.layer.spec
    if node.layer.type_name == "Conv2D":
        height, width, _ = node.output_shape
        kh, kw = spec.kernel_size
        return height * width * kh * kw * node.input_shape[-1] // spec.groups + math.prod(
            node.input_shape
        )
    return 0


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} TiB"
