"""The onnxruntime engine: the model exported to ONNX (`builder.onnx_export`) and run by an
onnxruntime CPU session built once per model.

`forward(batch)` has `Model.forward`'s contract: an (N, *input_shape) array in the model's
dtype in (a dict by input name when there are several), (N, *output_shape) out (a dict by
output name when there are several), all channels_last. Chunking, memory checks and
input checks stay with the caller, as for the NumPy engine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

from builder.engines.onnxruntime_profile import KernelProfile, read_profile
from builder.errors import UnsupportedError, missing_extra

if TYPE_CHECKING:
    from builder.model import Model


def import_onnxruntime() -> Any:
    """The `onnxruntime` module, or a MissingExtraError saying what to install."""
    try:
        import onnxruntime
    except ImportError:
        raise missing_extra("the onnxruntime engine", "onnx") from None
    return onnxruntime


class OnnxRuntimeEngine:
    """y = session.run(x) for the ONNX export of `model` with its current weights.

    The session uses every core for intra-op parallelism (`os.cpu_count()`), one inter-op
    thread (the graph is mostly a chain) and all graph optimisations. Its CPU memory arena
    stays on: `builder run` of the seed CNN on 10,000 and 20,000 samples peaked at 151 MiB
    RSS both times with it, and at 209 and 290 MiB (growing with the samples) without.
    Memory (`--max-memory`), measured with `benchmarks/bench_engine_memory.py` (peak RSS
    growth of one `predict` call after a warm-up sample, 2026-12-01, 2 cores, onnxruntime
    1.32), per sample of a chunk against builder's plan estimate
    (`Model.work_bytes_per_sample`, what the NumPy engine is checked against): seed CNN
    0.62-0.73 (chunks 4 to 1,000), small VGG 0.17-0.18, the other example configs 0.17-0.92
    at chunks 16-256, but ConvNeXt blocks 3.12 (16) to 3.31 (256): the LayerNormalization
    and GELU of the export are element-wise chains whose full-size intermediates the plan
    does not count (the NumPy engine itself measured 1.86-1.89 there). Hence
    `work_factor` = 3.5. The weights: building the session (the serialized proto, the
    session's initializers, their NCHWc reorder and pre-packed GEMM copies) grew the peak
    RSS by 3.05x the weight bytes on a 192 MiB Dense stack, 3.47-3.56x on 78 MiB of
    Conv/BatchNormalization/Dense, 4.33-4.45x on 72 MiB of 3x3 Conv, on top of the model's
    own NumPy copy. Hence `weight_copies` = 5: the memory check counts the weights six
    times for this engine.
    Shape: (N, *input_shape) → (N, *output_shape).
    """

    profile = False
    """Record onnxruntime's per-kernel times (`ProfiledOnnxRuntimeEngine`, `run --profile`)."""

    weight_copies = 5
    """Copies of the weights the engine holds at its peak besides the model's (measured 4.45)."""

    work_factor = 3.5
    """Peak work per sample over the plan's estimate (measured at most 3.31, ConvNeXt)."""

    def __init__(self, model: Model, threads: int | None = None) -> None:
        ort = import_onnxruntime()
        from builder.onnx_export import to_onnx

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.layers = [node.name for node in model.nodes]
        self._profile_dir: str | None = None
        if self.profile:  # onnxruntime writes the trace to a file; ours, removed when read
            self._profile_dir = tempfile.mkdtemp(prefix="builder-onnxruntime-")
            options.enable_profiling = True
            options.profile_file_prefix = os.path.join(self._profile_dir, "profile")
        proto = to_onnx(model).SerializeToString()
        try:
            self.session = ort.InferenceSession(
                proto, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UnsupportedError(f"onnxruntime cannot run this model: {first}") from None
        self.dtype = model.dtype
        self.input_names: list[str] = [value.name for value in self.session.get_inputs()]
        self.output_names: list[str] = [value.name for value in self.session.get_outputs()]

    def forward(self, batch: Any) -> Any:
        """The model's output for one chunk: an (N, *input_shape) array of the model's dtype,
        or a dict of such by input name; an array back, or a dict by output name when the
        model has several outputs (as `Model.forward`)."""
        given = batch if isinstance(batch, dict) else {self.input_names[0]: batch}
        feeds = {name: np.ascontiguousarray(given[name], dtype=self.dtype) for name in given}
        found = self.session.run(self.output_names, feeds)
        if len(found) == 1:
            return found[0]
        return dict(zip(self.output_names, found, strict=True))

    def end_profile(self) -> KernelProfile:
        """The kernel times recorded since the session was built, by layer; ends profiling."""
        if self._profile_dir is None:
            raise ValueError("this engine was built without profiling (ProfiledOnnxRuntimeEngine)")
        try:
            return read_profile(self.session.end_profiling(), self.layers)
        finally:
            shutil.rmtree(self._profile_dir, ignore_errors=True)
            self._profile_dir = None

    def __repr__(self) -> str:
        threads = self.session.get_session_options().intra_op_num_threads
        names = ", ".join(self.input_names)
        return f"OnnxRuntimeEngine(inputs=[{names}], threads={threads})"


class ProfiledOnnxRuntimeEngine(OnnxRuntimeEngine):
    """The onnxruntime engine with onnxruntime's profiler on (`end_profile()` reads it)."""

    profile = True
