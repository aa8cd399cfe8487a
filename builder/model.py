"""The runnable model: weights and prediction over a compiled graph and its execution plan."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from builder.errors import DataError, ResourceError, missing_extra
from builder.graph import Graph, Node, compile_graph
from builder.layers.base import Shape, WeightSpec, format_shape
from builder.ops import threads
from builder.plan import Plan, Step, build_plan
from builder.sizes import format_bytes
from builder.spec.model import ModelSpec

if TYPE_CHECKING:
    from builder.report import SummaryReport

DEFAULT_MAX_MEMORY = 4 * 1024**3
"""Refuse work whose weights or per-chunk activations exceed this many bytes (`--max-memory`)."""

WORK_BUDGET = 256 * 1024**2
"""Bytes of activations and scratch per chunk when the caller gives no batch size."""

MAX_AUTO_CHUNK = 256

INIT_BYTES_PER_VALUE = 1
"""Initialisers draw in blocks; a truncated normal remembers the positions to redraw (8-byte
indices, about 4.6% of the values, twice while they are joined): per value of the largest
weight, on top of all weights and its block temporaries."""

INIT_BLOCK_BYTES_PER_VALUE = 18
"""Per value of one draw block (`DRAW_BLOCK` values, or the whole weight when smaller): the
float64 draw (8), then its scaled copy (8) or |x| and a mask (9); measured 17.05."""

LOAD_BYTES_PER_VALUE = 8
"""A stored weight is read in its file dtype (at most 8 bytes a value) before the cast."""

KERNEL_BLOCK_BYTES = 4 * 2**20
"""Element-wise activations and pooling run over cache-sized blocks; their temporaries
(measured with tracemalloc: gelu 2 MiB, average pooling 2 MiB) stay under this."""

READ_BUFFER_BYTES = 16 * 2**20
"""NumPy reads a compressed `.npy` member through a buffer of up to 16 MiB."""


class Runtime(Protocol):
    """An engine other than NumPy: `forward` has `Model.forward`'s contract."""

    def forward(self, batch: np.ndarray) -> np.ndarray: ...


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
        self.engine = "numpy"
        """`numpy` (the reference) or another engine attached by `builder.engines.attach`."""
        self._runtime_factory: Callable[[Model], Runtime] | None = None
        self._runtime: Runtime | None = None  # built from the current weights on first use

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Model:
        """The runnable model of a validated spec; raises ConfigError listing every graph problem."""
        return cls(compile_graph(spec))

    def __repr__(self) -> str:
        shapes = ", ".join(format_shape(shape) for shape in self.graph.inputs.values())
        shapes = shapes if len(self.graph.inputs) == 1 else f"[{shapes}]"
        return (
            f"Model(name={self.name!r}, input_shape={shapes}, "
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

    @property
    def input_shapes(self) -> dict[str, Shape]:
        """Input name → per-sample shape (`{"input": input_shape}` for a one-input model)."""
        return dict(self.graph.inputs)

    @property
    def output_shapes(self) -> dict[str, Shape]:
        """Output name → per-sample shape, in the order of the config's `outputs`."""
        return self.graph.output_shapes

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
        before allocating, weights (and the temporaries of drawing them) over `max_memory`.
        Only the weights count: activations are the business of `predict`."""
        from builder.ops.initializers import DRAW_BLOCK
        from builder.weights import initial_weights

        largest = self._largest_weight()
        block = min(largest, DRAW_BLOCK) * INIT_BLOCK_BYTES_PER_VALUE
        self.check_weight_memory(max_memory, largest * INIT_BYTES_PER_VALUE + block)
        seed = self.spec.seed if seed is None else seed
        self._set_weights(initial_weights(self.weight_specs(), seed, self.dtype))

    def save_weights(self, path: str | os.PathLike[str]) -> None:
        from builder.weights import save_weights

        save_weights(path, self.weights)

    def load_weights(self, path: str | os.PathLike[str], max_memory: int | None = None) -> None:
        """Weights from a `.npz` (keys `layer/weight`), cast to the model's dtype; with
        `max_memory`, refused before reading when they (and one array as stored) exceed it."""
        from builder.weights import load_weights

        if max_memory is not None:
            stored = self._largest_weight() * LOAD_BYTES_PER_VALUE
            self.check_weight_memory(max_memory, stored + min(stored, READ_BUFFER_BYTES))
        self._set_weights(load_weights(path, self.weight_specs(), self.dtype))

    def _largest_weight(self) -> int:
        return max((w.size for _, w in self.weight_specs()), default=0)

    def check_weight_memory(self, max_memory: int, transient: int = 0) -> None:
        """Raise ResourceError unless the weights, plus the `transient` bytes that exist
        while one of them is made (drawn or read), fit in `max_memory`."""
        weights = self.weight_bytes()
        if weights > max_memory:
            raise ResourceError(
                f"the weights need {format_bytes(weights)}, over the memory limit of "
                f"{format_bytes(max_memory)}"
            )
        if weights + transient > max_memory:
            raise ResourceError(
                f"the weights need {format_bytes(weights)} (and {format_bytes(transient)} "
                f"while they are made), over the memory limit of {format_bytes(max_memory)}"
            )

    def _set_weights(self, flat: dict[str, np.ndarray]) -> None:
        grouped: dict[str, dict[str, np.ndarray]] = {node.name: {} for node in self.nodes}
        for key, array in flat.items():
            layer, _, name = key.partition("/")
            grouped[layer][name] = array
        self._weights = grouped
        self._runtime = None  # an engine built from the old weights
        self._session = None  # built from the old weights

    def _layer_weights(self) -> dict[str, dict[str, np.ndarray]]:
        if self._weights is None:
            self.init_weights()
        return cast(dict[str, dict[str, np.ndarray]], self._weights)

    # --- memory ----------------------------------------------------------------------

    def weight_bytes(self) -> int:
        return self.count_params() * self.dtype.itemsize

    def held_weight_bytes(self) -> int:
        """The weights as held while predicting: the model's own, plus the copies its engine
        keeps at its peak (the engine class's `weight_copies`, measured; 0 for NumPy)."""
        return self.weight_bytes() * (1 + getattr(self._runtime_factory, "weight_copies", 0))

    def held_work_bytes_per_sample(self) -> int:
        """The plan's work per sample times the engine's measured `work_factor` (1 for NumPy)."""
        factor = getattr(self._runtime_factory, "work_factor", 1.0)
        return math.ceil(self.work_bytes_per_sample() * factor)

    def work_bytes_per_sample(self) -> int:
        """Peak bytes of live activations plus a layer's scratch, per sample of a chunk."""
        return self.plan.work_bytes_per_sample

    def output_bytes(self, count: int) -> int:
        """Bytes of the outputs for `count` samples."""
        per_sample = sum(math.prod(shape) for shape in self.output_shapes.values())
        return count * per_sample * self.dtype.itemsize

    def fixed_work_bytes(self) -> int:
        """Bytes of scratch a chunk needs whatever its size: the largest layer's fixed-size
        blocks (`scratch_fixed_elements`, the convolution's patch blocks, one set per worker
        thread) plus KERNEL_BLOCK_BYTES per worker thread for the temporaries of blocked
        element-wise and pooling kernels (`threads.split_batch` runs whole passes at once)."""
        blocks = max(
            (node.layer.scratch_fixed_elements(node.input_shape) for node in self.nodes),
            default=0,
        )
        return threads.workers() * KERNEL_BLOCK_BYTES + self.dtype.itemsize * blocks

    def check_memory(
        self, batch_size: int, max_memory: int, held: int = 0, per_sample_extra: int = 0
    ) -> int:
        """The chunk size (≤ batch_size) that keeps weights + held + work under `max_memory`.

        chunk · (work per sample + per_sample_extra) + fixed scratch + weights + held ≤
        max_memory, where `held` is data kept for the whole run (an input read whole, the
        output when it is returned rather than written). Raises ResourceError, before
        anything is allocated, when the weights alone or a single sample do not fit.
        """
        weights = self.held_weight_bytes()
        per_sample = max(self.held_work_bytes_per_sample() + per_sample_extra, 1)
        limit = f"over the memory limit of {format_bytes(max_memory)}"
        if weights > max_memory:
            copies = f" with the {self.engine} engine's copies" if self.engine != "numpy" else ""
            raise ResourceError(f"the weights need {format_bytes(weights)}{copies}, {limit}")
        if weights + held > max_memory:
            raise ResourceError(
                f"the input and output held in memory need {format_bytes(held)} on top of "
                f"{format_bytes(weights)} of weights, {limit}"
            )
        # the NumPy kernels' fixed blocks; another engine's own scratch is in its work factor
        fixed = self.fixed_work_bytes() if self.engine == "numpy" else 0
        fits = (max_memory - weights - held - fixed) // per_sample
        if fits < 1:
            on_top = f"{format_bytes(weights)} of weights" + (
                f", {format_bytes(held)} of input and output" if held else ""
            )
            on_top += f", {format_bytes(fixed)} of kernel scratch" if fixed else ""
            raise ResourceError(
                f"one sample needs {format_bytes(per_sample)} of activations on top of "
                f"{on_top}, {limit}"
            )
        return int(min(batch_size, fits))

    def default_chunk(self) -> int:
        per_sample = max(self.work_bytes_per_sample(), 1)
        return int(max(1, min(MAX_AUTO_CHUNK, WORK_BUDGET // per_sample)))

    # --- prediction ------------------------------------------------------------------

    def __call__(self, x: Any) -> Any:
        """Output for a batch x of shape (N, *input_shape); large batches run in chunks."""
        return self.predict(x)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        max_memory: int = DEFAULT_MAX_MEMORY,
        out: Any = None,
        progress: Callable[[int], None] | None = None,
        held_bytes: int = 0,
    ) -> Any:
        """Output for x, computed `batch_size` samples at a time (default: fit a work budget).

        x is an array of shape (N, *input_shape), one sample of shape input_shape (given
        the batch axis, as `builder run` does), or anything with `shape`, `dtype` and row
        slicing (`x[a:b]`), such as a `.npy` reader. A model with several inputs takes a
        dict {input name: array}, the arrays sharing N; one with several outputs returns a
        dict {output name: (N, *output shape)}. `out`, if given, receives the rows
        (`out[a:b] = ...`, in order; a dict of such per output when there are several) and
        is returned; else new arrays are. `progress`, if given, is called with the number
        of samples of each finished chunk. `max_memory` bounds weights, the returned output,
        `held_bytes` (what the caller keeps alive for the run, e.g. an input read whole) and
        each chunk's work together.
        """
        xs = self.check_inputs(x)
        count = _batch_count(xs)
        single = len(self.graph.outputs) == 1
        if out is None:
            weights, output = self.held_weight_bytes(), self.output_bytes(count)
            if weights <= max_memory < weights + output:  # (weights alone: check_memory says)
                raise ResourceError(
                    f"the output needs {format_bytes(output)} on top of {format_bytes(weights)}"
                    f" of weights, over the memory limit of {format_bytes(max_memory)}"
                )
            held_bytes += output
            self.check_memory(
                self._batch(batch_size), max_memory, *self._input_costs(xs, held_bytes)
            )
            out = {
                name: np.empty((count, *shape), dtype=self.dtype)
                for name, shape in self.output_shapes.items()
            }
        if not single and not isinstance(out, dict):
            raise ValueError(
                f"the model has {len(self.graph.outputs)} outputs: give out as a dict "
                f"{{output name: array}}, got {type(out).__name__}"
            )
        targets = {self.graph.outputs[0]: out} if single and not isinstance(out, dict) else out
        for start, part in self.predict_chunks(xs, batch_size, max_memory, held_bytes=held_bytes):
            parts = {self.graph.outputs[0]: part} if single else part
            for name, values in parts.items():
                targets[name][start : start + len(values)] = values
            if progress is not None:
                progress(len(next(iter(parts.values()))))
        return targets[self.graph.outputs[0]] if single else targets

    def predict_dask(
        self, x: Any, batch_size: int | None = None, max_memory: int = DEFAULT_MAX_MEMORY
    ) -> Any:
        """y = model(x) for a Dask array x: (N, *input_shape) -> (N, *output_shape), lazily
        (extra `[dask]`; `builder run --dask` runs it on a cluster).

        Block i of the result is one forward pass (on this model's engine) of x's block i,
        so with `batch_size=B` it equals `predict(x, batch_size=B)`. `batch_size`: rows per
        block, the batch axis rechunked to it (default: x's own chunks, cut down only where
        a block would exceed `max_memory`, the bytes one worker may use for weights plus one
        block's work). The model is one key of the graph: each worker receives it once.
        Nothing runs until the result is computed.
        """
        try:
            import dask
            import dask.array as da
        except ImportError:
            raise missing_extra("predict_dask", "dask") from None
        if len(self.graph.inputs) != 1 or len(self.graph.outputs) != 1:
            raise DataError("predict_dask takes models with one input and one output")
        if not isinstance(x, da.Array) or tuple(x.shape[1:]) != self.input_shape:
            raise DataError(
                f"predict_dask needs a Dask array of shape {format_shape(self.input_shape)}, "
                f"got {type(x).__name__} of shape {getattr(x, 'shape', None)}"
            )
        _checked_array(x, self.input_shape, "input")  # dtype
        widest = max(x.chunks[0], default=1)
        chunk = self.check_memory(batch_size or widest, max_memory)
        if batch_size is not None or chunk < widest or x.numblocks[1:] != (1,) * (x.ndim - 1):
            x = x.rechunk({0: chunk, **{axis: -1 for axis in range(1, x.ndim)}})
        self._layer_weights()  # materialised here, not once per worker
        run = uuid.uuid4().hex  # keys unique per call: runs sharing a scheduler never mix
        shipped = dask.delayed(self, name=f"builder-model-{run}")
        out_shape = self.output_shape
        return da.map_blocks(
            _forward_block,
            x,
            shipped,
            dtype=self.dtype,
            chunks=(x.chunks[0], *((size,) for size in out_shape)),
            drop_axis=list(range(1, x.ndim)),
            new_axis=list(range(1, 1 + len(out_shape))),
            meta=np.empty((0,) * (1 + len(out_shape)), dtype=self.dtype),
            name=f"builder-forward-{run}",
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to Dask workers) without a built engine session or a profiler hook: the
        receiving process builds its own engine from the weights."""
        state = dict(self.__dict__)
        state["_runtime"] = None
        state["step_timer"] = None
        return state

    def predict_chunks(
        self,
        x: Any,
        batch_size: int | None = None,
        max_memory: int = DEFAULT_MAX_MEMORY,
        *,
        held_bytes: int = 0,
    ) -> Iterator[tuple[int, Any]]:
        """(first row, output rows) per chunk of x, in order (the rows a dict per output
        when there are several). The input and memory checks and the weight
        initialisation happen now, before the first chunk is asked for; `held_bytes` as
        in `predict`."""
        xs = self.check_inputs(x)
        chunk = self.check_memory(
            self._batch(batch_size), max_memory, *self._input_costs(xs, held_bytes)
        )
        self._layer_weights()
        return self._run_chunks(xs, chunk, self._engine_forward())

    def _input_costs(self, xs: dict[str, Any], held: int) -> tuple[int, int]:
        """(held bytes, extra bytes per sample) of reading the inputs chunk by chunk: a row
        reader (not an in-memory array) of another dtype reads each chunk in its own dtype
        before the cast the plan counts; a lazy source's own scratch is held."""
        extra = 0
        for x in xs.values():
            held += int(getattr(x, "scratch_bytes", 0))
            if not isinstance(x, np.ndarray) and np.dtype(x.dtype) != self.dtype:
                extra += math.prod(x.shape[1:]) * np.dtype(x.dtype).itemsize
        return held, extra

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

    def use_engine(self, name: str, factory: Callable[[Model], Runtime] | None) -> None:
        """Run `predict` on another engine: `factory(model)` builds it from the current
        weights when first needed (again after the weights change); None is NumPy."""
        self.engine, self._runtime_factory, self._runtime = name, factory, None

    def _engine_forward(self) -> Callable[[np.ndarray], np.ndarray]:
        if self._runtime_factory is None:
            return self.forward
        if self._runtime is None:
            self._runtime = self._runtime_factory(self)
        return self._runtime.forward

    def _run_chunks(
        self, xs: dict[str, Any], chunk: int, forward: Callable[[Any], Any]
    ) -> Iterator[tuple[int, Any]]:
        for start in range(0, _batch_count(xs), chunk):
            # NaN and Inf run as IEEE arithmetic says, without NumPy's RuntimeWarnings: the
            # CLI reports non-finite data once, in its own words (builder.finite)
            with np.errstate(all="ignore"):
                batch = {
                    name: np.asarray(x[start : start + chunk]).astype(self.dtype, copy=False)
                    for name, x in xs.items()
                }
                result = forward(batch if len(batch) > 1 else next(iter(batch.values())))
            yield start, result

    def check_input(self, x: Any) -> Any:
        """x with the batch axis, shape (N, *input_shape) and a real-number dtype, or a
        DataError. One sample without the batch axis gains it (shape (1, *input_shape)).
        With several inputs, x is a dict and the result is `check_inputs(x)`."""
        if len(self.graph.inputs) != 1 or isinstance(x, dict):
            return self.check_inputs(x)
        return _checked_array(x, self.input_shape, "input")

    def check_inputs(self, x: Any) -> dict[str, Any]:
        """{input name: checked array}, from one array (a one-input model) or a dict with
        exactly the input names; every array is checked as `check_input` does and all
        share one batch size. Raises DataError naming every missing or unexpected name."""
        shapes = self.graph.inputs
        if not isinstance(x, dict):
            if len(shapes) != 1:
                raise DataError(
                    f"the model has {len(shapes)} inputs: give a dict "
                    f"{{{', '.join(f'{name!r}: array' for name in shapes)}}}, got {type(x).__name__}"
                )
            x = {next(iter(shapes)): x}
        missing = [name for name in shapes if name not in x]
        extra = [str(name) for name in x if name not in shapes]
        if missing or extra:
            found = [f"missing {', '.join(map(repr, missing))}"] if missing else []
            found += [f"unexpected {', '.join(map(repr, extra))}"] if extra else []
            raise DataError(f"the inputs are {', '.join(map(repr, shapes))}: {'; '.join(found)}")
        label = (lambda name: "input") if len(shapes) == 1 else (lambda name: f"input {name!r}")
        checked = {
            name: _checked_array(x[name], shape, label(name)) for name, shape in shapes.items()
        }
        counts = {name: int(array.shape[0]) for name, array in checked.items()}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{name!r} has {count}" for name, count in counts.items())
            raise DataError(f"the inputs must have the same number of samples: {listed}")
        return checked

    def forward(self, x: Any, observe: Callable[[int], None] | None = None) -> Any:
        """`_forward_whole(x, observe)`, with the batch split between the cores' threads
        (`threads.split_batch`, the same result) unless `observe` is given or the steps are
        being timed (`--profile` times one pass, not the sum of two threads')."""
        if observe is None and self.step_timer is None:
            return threads.split_batch(self._forward_whole, x)
        return self._forward_whole(x, observe)

    def _forward_whole(self, x: Any, observe: Callable[[int], None] | None = None) -> Any:
        """One chunk through the plan: x an array (one input) or a dict by input name; the
        output an array (one output) or a dict by output name. Each array is freed after
        its last reader; a step may overwrite its input in place when nothing else can see
        that memory. `observe`, if given, receives the number of live arrays after each step."""
        given = x if isinstance(x, dict) else {self.plan.inputs[0]: x}
        remaining = dict(self.plan.readers)
        values: dict[str, np.ndarray] = dict(given)
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
                and only not in given
                and remaining[only] == 0
                and not any(np.may_share_memory(inputs[0], v) for v in given.values())
                and not any(
                    np.may_share_memory(inputs[0], v) for k, v in values.items() if k != only
                )
            )  # never write into the caller's data
            out = step.run(inputs, step.params(weights), scratch)
            if timer is not None:
                timer(step, time.perf_counter() - started)
            for name in step.inputs:
                if remaining[name] == 0:
                    values.pop(name, None)
            del inputs
            values[step.output] = out
            if observe is not None:
                observe(len(values))
        if len(self.plan.outputs) == 1:
            return values[self.plan.output]
        return {name: values[name] for name in self.plan.outputs}


def _batch_count(xs: dict[str, Any]) -> int:
    return int(next(iter(xs.values())).shape[0])


def _checked_array(x: Any, shape: Shape, label: str) -> Any:
    """x with the batch axis, (N, *shape), holding real numbers; else a DataError."""
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as error:
            raise DataError(f"{label} is not a numeric array: {error}") from None
    if np.dtype(x.dtype).kind not in "biuf":
        raise DataError(f"{label} must hold real numbers, got dtype {x.dtype}")
    found = tuple(x.shape)
    if found == shape:
        return np.asarray(x[0 : found[0]]).reshape(1, *found)
    if len(found) < 1 or found[1:] != shape:
        raise DataError(
            f"{label} must have shape {format_shape(shape)} (or {shape} for one sample), "
            f"got {found}"
        )
    return x


def _forward_block(block: np.ndarray, model: Model) -> np.ndarray:
    """One Dask block through the model's engine, cast to its dtype as a local run does."""
    with np.errstate(all="ignore"):  # as `Model._run_chunks`
        batch = np.asarray(block).astype(model.dtype, copy=False)
        return model._engine_forward()(batch)
