"""The runnable model: weights and prediction over a compiled graph and its execution plan."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from builder.errors import DataError, ResourceError
from builder.graph import Graph, Node, compile_graph
from builder.layers.base import Shape, WeightSpec, format_shape
from builder.plan import Plan, Step, build_plan
from builder.sizes import format_bytes
from builder.spec.model import INPUT_NAME, ModelSpec

if TYPE_CHECKING:
    from builder.report import SummaryReport

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
        self.name: str = graph.name
        self.dtype = np.dtype(graph.dtype)
        self.plan: Plan = build_plan(graph)
        self._weights: dict[str, dict[str, np.ndarray]] | None = None
        self.step_timer: Callable[[Step, float], None] | None = None
        """If set, `forward` calls it with each step and the seconds it took (`--profile`)."""

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Model:
        """The runnable model of a validated spec; raises ConfigError listing every graph problem."""
        return cls(compile_graph(spec))

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

    def summary(self, batch_size: int = 1, show_trainable: bool = False) -> SummaryReport:
        """The summary report; `str()` of it is the Keras-style text table."""
        from builder.report import summarize

        return summarize(self.graph, batch_size=batch_size, show_trainable=show_trainable)

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
        seed = self.spec.seed if seed is None else seed
        self._set_weights(initial_weights(self.weight_specs(), seed, self.dtype))

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
        return cast(dict[str, dict[str, np.ndarray]], self._weights)

    # --- memory ----------------------------------------------------------------------

    def weight_bytes(self) -> int:
        return self.count_params() * self.dtype.itemsize

    def work_bytes_per_sample(self) -> int:
        """Peak bytes of live activations plus a layer's scratch, per sample of a chunk."""
        return self.plan.work_bytes_per_sample

    def output_bytes(self, count: int) -> int:
        """Bytes of the output for `count` samples."""
        return count * math.prod(self.output_shape) * self.dtype.itemsize

    def check_memory(self, batch_size: int, max_memory: int) -> int:
        """The chunk size (≤ batch_size) that keeps weights + work under `max_memory`.

        Raises ResourceError, before anything is allocated, when the weights alone or a
        single sample's work do not fit.
        """
        weights = self.weight_bytes()
        per_sample = max(self.work_bytes_per_sample(), 1)
        limit = f"over the memory limit of {format_bytes(max_memory)}"
        if weights > max_memory:
            raise ResourceError(f"the weights need {format_bytes(weights)}, {limit}")
        fits = (max_memory - weights) // per_sample
        if fits < 1:
            raise ResourceError(
                f"one sample needs {format_bytes(per_sample)} of activations on top of "
                f"{format_bytes(weights)} of weights, {limit}"
            )
        return int(min(batch_size, fits))

    def default_chunk(self) -> int:
        per_sample = max(self.work_bytes_per_sample(), 1)
        return int(max(1, min(MAX_AUTO_CHUNK, WORK_BUDGET // per_sample)))

    # --- prediction ------------------------------------------------------------------

    def __call__(self, x: Any) -> np.ndarray:
        """Output for a batch x of shape (N, *input_shape); large batches run in chunks."""
        return self.predict(x)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        max_memory: int = DEFAULT_MAX_MEMORY,
        out: Any = None,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """Output for x, computed `batch_size` samples at a time (default: fit a work budget).

        x is an array of shape (N, *input_shape), one sample of shape input_shape (given
        the batch axis, as `builder run` does), or anything with `shape`, `dtype` and row
        slicing (`x[a:b]`), such as a `.npy` reader. `out`, if given, receives the rows
        (`out[a:b] = ...`, in order) and is returned; else a new array is. `progress`, if
        given, is called with the number of samples of each finished chunk.
        """
        x = self.check_input(x)
        if out is None:
            self.check_memory(self._batch(batch_size), max_memory)
            needed = self.output_bytes(x.shape[0]) + self.weight_bytes()
            if needed > max_memory:
                raise ResourceError(
                    f"the output needs {format_bytes(self.output_bytes(x.shape[0]))}, over the "
                    f"memory limit of {format_bytes(max_memory)}"
                )
            out = np.empty((x.shape[0], *self.output_shape), dtype=self.dtype)
        for start, part in self.predict_chunks(x, batch_size, max_memory):
            out[start : start + len(part)] = part
            if progress is not None:
                progress(len(part))
        return out

    def predict_chunks(
        self, x: Any, batch_size: int | None = None, max_memory: int = DEFAULT_MAX_MEMORY
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, output rows) per chunk of x, in order. The input and memory checks
        and the weight initialisation happen now, before the first chunk is asked for."""
        x = self.check_input(x)
        chunk = self.check_memory(self._batch(batch_size), max_memory)
        self._layer_weights()
        return self._run_chunks(x, chunk)

    def _batch(self, batch_size: int | None) -> int:
        if batch_size is None:
            return self.default_chunk()
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(
                f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
            )
        if batch_size < 1:
            raise ValueError(
                f"batch_size must be a positive integer. Received: batch_size={batch_size}"
            )
        return int(batch_size)

    def _run_chunks(self, x: Any, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, x.shape[0], chunk):
            batch = np.asarray(x[start : start + chunk]).astype(self.dtype, copy=False)
            yield start, self.forward(batch)

    def check_input(self, x: Any) -> Any:
        """x with the batch axis, shape (N, *input_shape) and a real-number dtype, or a
        DataError. One sample without the batch axis gains it (shape (1, *input_shape))."""
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            try:
                x = np.asarray(x)
            except (ValueError, TypeError) as error:
                raise DataError(f"input is not a numeric array: {error}") from None
        if np.dtype(x.dtype).kind not in "biuf":
            raise DataError(f"input must hold real numbers, got dtype {x.dtype}")
        shape = tuple(x.shape)
        if shape == self.input_shape:
            return np.asarray(x[0 : shape[0]]).reshape(1, *shape)
        if len(shape) < 1 or shape[1:] != self.input_shape:
            raise DataError(
                f"input must have shape {format_shape(self.input_shape)} (or "
                f"{self.input_shape} for one sample), got {shape}"
            )
        return x

    def forward(self, x: np.ndarray, observe: Callable[[int], None] | None = None) -> np.ndarray:
        """One chunk through the plan. Each array is freed after its last reader; a step may
        overwrite its input in place when nothing else can see that memory. `observe`, if
        given, receives the number of live arrays after each step."""
        remaining = dict(self.plan.readers)
        values: dict[str, np.ndarray] = {INPUT_NAME: x}
        weights = self._layer_weights()
        timer = self.step_timer
        for step in self.plan.steps:
            started = time.perf_counter() if timer is not None else 0.0
            inputs = [values[name] for name in step.inputs]
            for name in step.inputs:
                remaining[name] -= 1
            only = step.inputs[0]
            scratch = (  # may the step overwrite its input?
                len(inputs) == 1
                and only != INPUT_NAME
                and remaining[only] == 0
                and not np.may_share_memory(inputs[0], x)  # never write into the caller's data
                and not any(
                    np.may_share_memory(inputs[0], v) for k, v in values.items() if k != only
                )
            )
            out = step.run(inputs, weights[step.node.name], scratch)
            if timer is not None:
                timer(step, time.perf_counter() - started)
            for name in step.inputs:
                if remaining[name] == 0:
                    values.pop(name, None)
            del inputs
            values[step.output] = out
            if observe is not None:
                observe(len(values))
        return values[self.plan.output]
