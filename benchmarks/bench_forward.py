"""Forward-pass speed, every engine in its best configuration (issues 6 and 15): builder's
NumPy engine, builder's onnxruntime engine, a plain im2col NumPy baseline, and PyTorch.

    python benchmarks/bench_forward.py [--repeat N] [--networks NAME ...] [--quick] [--layers]
                                       [--malloc tuned|default]

The script first re-executes itself with the allocator and BLAS settings under which every
engine runs at its best on this machine, and prints them: `OPENBLAS_CORETYPE` and
`OPENBLAS_L2_SIZE` unset (OpenBLAS picks its kernel from the CPU), and with `--malloc tuned`
(the default) `MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736`, so glibc keeps freed
memory instead of returning it, and no engine pays this VM's slow fresh-page faults on every
pass; all engines share the allocator. `--malloc default` keeps glibc's defaults.

For each reference network (benchmarks/configs/), at its batch size, in float32 and in one
process: builder's `model.predict(x, batch_size=B)` on one batch with the NumPy engine and
with the onnxruntime engine (extra [onnx]), the plain baseline below, and PyTorch when it
can be imported (never a dependency) are built from the *same* weights,
their outputs are checked against builder's (rtol 1e-3, atol 1e-4; the script exits with
status 1 if they differ), then timed: in each of three passes every implementation runs
its share of the runs back to back (after a pause and an untimed run, so that its own
thread pool is awake and the other library's spinning threads have gone idle). Reported per
network: median ms per batch, images/s, achieved GFLOP/s (2·MACs·batch / time), time
relative to PyTorch, speed-up over the baseline, and the peak memory of one forward pass;
then a summary with the ratios to PyTorch per network and their geometric mean.

The baseline is deliberately the straightforward NumPy version a user would write first:
np.pad, sliding_window_view + a reshape copy, one matmul, a separate bias add, activations
that allocate new arrays, pooling as a windowed .max/.mean. It is the bar to beat, not a
reference implementation to optimise.

`--layers` adds a per-layer profile (median ms of each layer inside the chain) for all
three implementations, to see which layers cost what relative to PyTorch.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere without installing builder

from machine import OtherLoad, blas_threads, header_lines, load_note, source_version  # noqa: E402

from builder.config import parse  # noqa: E402
from builder.model import Model  # noqa: E402

NETWORKS: dict[str, int] = {"seed_cnn_classifier": 256, "vgg_small": 32, "strided": 16}
"""Reference network (benchmarks/configs/<name>.yaml) → batch size, as in issue 6."""

RTOL, ATOL = 1e-3, 1e-4
TARGET_VS_TORCH = {"numpy": 1.6, "onnxruntime": 0.8}  # geometric mean of time / PyTorch, at most
TARGET_ONNXRUNTIME_EACH = 1.0  # onnxruntime time / PyTorch time on every network, at most
TARGET_VS_BASELINE = {
    "seed_cnn_classifier": 4.0,
    "strided": 4.0,
}  # baseline time / builder time, at least

Array = np.ndarray
Step = Callable[[Any], Any]


# --- the plain im2col NumPy baseline ----------------------------------------------------


def same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow `same`: out = ceil(length/stride), the odd padding cell goes after."""
    out = -(-length // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - length, 0)
    return total // 2, total - total // 2


def layer_pads(
    x_shape: tuple[int, ...],
    window: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int] = (1, 1),
) -> list[tuple[int, int]]:
    """((top, bottom), (left, right)) for a (N, H, W, C) input."""
    if padding == "valid":
        return [(0, 0), (0, 0)]
    return [same_pads(x_shape[1 + i], window[i], strides[i], dilation[i]) for i in range(2)]


def plain_conv2d(
    x: Array,
    kernel: Array,
    bias: Array | None,
    strides: tuple[int, int],
    padding: str,
    dilation: tuple[int, int],
    groups: int,
) -> Array:
    kh, kw, group_channels, filters = kernel.shape
    top_bottom, left_right = layer_pads(x.shape, (kh, kw), strides, padding, dilation)
    x = np.pad(x, ((0, 0), top_bottom, left_right, (0, 0)))
    reach = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    # (N, H', W', C, kh, kw): every window, subsampled by strides and dilation.
    windows = sliding_window_view(x, reach, axis=(1, 2))[
        :, :: strides[0], :: strides[1], :, :: dilation[0], :: dilation[1]
    ]
    n, out_h, out_w = windows.shape[:3]
    per_group = filters // groups
    outputs = []
    for g in range(groups):
        block = windows[:, :, :, g * group_channels : (g + 1) * group_channels]
        cols = block.transpose(0, 1, 2, 4, 5, 3).reshape(n * out_h * out_w, -1)  # copies
        weights = kernel[..., g * per_group : (g + 1) * per_group].reshape(-1, per_group)
        outputs.append(cols @ weights)
    y = (outputs[0] if groups == 1 else np.concatenate(outputs, axis=1)).reshape(
        n, out_h, out_w, filters
    )
    return y + bias if bias is not None else y


def plain_pool2d(
    x: Array, pool: tuple[int, int], strides: tuple[int, int], padding: str, average: bool
) -> Array:
    """Max pads with −inf; average with `same` divides by the real cells of each window."""
    pads = [(0, 0), *layer_pads(x.shape, pool, strides, padding), (0, 0)]
    padded = np.pad(x, pads, constant_values=0.0 if average else -np.inf)
    windows = sliding_window_view(padded, pool, axis=(1, 2))[:, :: strides[0], :: strides[1]]
    if not average:
        return windows.max(axis=(-2, -1))
    if padding == "valid":
        return windows.mean(axis=(-2, -1))
    ones = np.pad(np.ones(x.shape[1:3], dtype=x.dtype), pads[1:3])
    counts = sliding_window_view(ones, pool)[:: strides[0], :: strides[1]].sum(axis=(-2, -1))
    return windows.sum(axis=(-2, -1)) / counts[None, :, :, None]


def plain_softmax(x: Array, axis: int = -1) -> Array:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def plain_relu(x: Array, max_value: float | None, negative_slope: float, threshold: float) -> Array:
    y = np.where(x > threshold, x, negative_slope * (x - threshold))
    return np.minimum(y, max_value) if max_value is not None else y


PLAIN_NAMED: dict[str, Step] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": plain_softmax,
}


def plain_activation(value: Any) -> Step:
    """The baseline's function for an activation name or an advanced-activation spec."""
    if isinstance(value, str):
        if value not in PLAIN_NAMED:
            raise NotImplementedError(f"the baseline has no activation {value!r}")
        return PLAIN_NAMED[value]
    kind = value.type_name
    if kind == "LeakyReLU":
        return lambda x: np.where(x >= 0, x, value.alpha * x)
    if kind == "ReLU":
        return lambda x: plain_relu(x, value.max_value, value.negative_slope, value.threshold)
    if kind == "ELU":
        return lambda x: np.where(x > 0, x, value.alpha * (np.exp(x) - 1))
    if kind == "Softmax":
        return lambda x: plain_softmax(x, value.axis)
    raise NotImplementedError(f"the baseline has no activation layer {kind}")


def plain_step(layer: Any, params: dict[str, Array]) -> Step:
    """One layer of the baseline, as a function of its input."""
    s, kind = layer.spec, layer.type_name
    if kind == "Conv2D":
        act = plain_activation(s.activation)
        kernel, bias = params["kernel"], params.get("bias")
        return lambda x: act(
            plain_conv2d(x, kernel, bias, s.strides, s.padding, s.dilation_rate, s.groups)
        )
    if kind == "Dense":
        act = plain_activation(s.activation)
        kernel, bias = params["kernel"], params.get("bias")
        return lambda x: act(x @ kernel + bias if bias is not None else x @ kernel)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        strides = s.strides or s.pool_size
        return lambda x: plain_pool2d(
            x, s.pool_size, strides, s.padding, kind == "AveragePooling2D"
        )
    if kind in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"):
        reduce = np.max if kind == "GlobalMaxPooling2D" else np.mean
        return lambda x: reduce(x, axis=(1, 2), keepdims=s.keepdims)
    if kind == "Flatten":
        return lambda x: x.reshape(len(x), -1)
    if kind == "Dropout":
        return lambda x: x
    if kind == "Activation":
        return plain_activation(s.activation)
    return plain_activation(s)  # ReLU, LeakyReLU, ELU, Softmax layers


# --- PyTorch, from the same weights -----------------------------------------------------


def torch_steps(model: Model, params: dict[str, dict[str, Array]], torch: Any) -> list[Step]:
    """One function per layer on NCHW tensors in channels_last memory.

    TensorFlow's asymmetric `same` padding is done with F.pad; symmetric padding goes to
    the op itself (cheaper, same result). Average pooling with asymmetric `same` padding
    sums windows (divisor_override=1) and divides by the count of real cells per window.
    """
    return [
        _torch_step(node.layer, node.input_shape, params[node.name], torch) for node in model.nodes
    ]


def _torch_step(
    layer: Any, input_shape: tuple[int, ...], params: dict[str, Array], torch: Any
) -> Step:
    F = torch.nn.functional
    s, kind = layer.spec, layer.type_name
    if kind == "Conv2D":
        act = _torch_activation(s.activation, torch)
        weight = torch.from_numpy(params["kernel"]).permute(3, 2, 0, 1).contiguous()
        weight = weight.to(memory_format=torch.channels_last)
        bias = torch.from_numpy(params["bias"]) if "bias" in params else None
        pads = layer_pads((0, *input_shape), s.kernel_size, s.strides, s.padding, s.dilation_rate)
        options = dict(stride=tuple(s.strides), dilation=tuple(s.dilation_rate), groups=s.groups)
        if all(a == b for a, b in pads):
            return lambda x: act(
                F.conv2d(x, weight, bias, padding=(pads[0][0], pads[1][0]), **options)
            )
        flat = (*pads[1], *pads[0])  # F.pad wants (left, right, top, bottom)
        return lambda x: act(F.conv2d(F.pad(x, flat), weight, bias, **options))
    if kind == "Dense":
        if len(input_shape) != 1:
            raise NotImplementedError("the PyTorch path runs Dense on flat inputs only")
        act = _torch_activation(s.activation, torch)
        weight = torch.from_numpy(np.ascontiguousarray(params["kernel"].T))
        bias = torch.from_numpy(params["bias"]) if "bias" in params else None
        return lambda x: act(F.linear(x, weight, bias))
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return _torch_pool(s, input_shape, kind == "AveragePooling2D", torch)
    if kind in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"):
        if kind == "GlobalMaxPooling2D":
            return lambda x: x.amax(dim=(2, 3), keepdim=s.keepdims)
        return lambda x: x.mean(dim=(2, 3), keepdim=s.keepdims)
    if kind == "Flatten":  # Keras flattens (H, W, C) in row-major order: NHWC, not NCHW
        return lambda x: (x.permute(0, 2, 3, 1) if x.dim() == 4 else x).reshape(x.shape[0], -1)
    if kind == "Dropout":
        return lambda x: x
    if kind == "Activation":
        return _torch_activation(s.activation, torch)
    return _torch_activation(s, torch)


def _torch_pool(s: Any, input_shape: tuple[int, ...], average: bool, torch: Any) -> Step:
    """Pooling with TensorFlow's padding, in the cheapest exact PyTorch form:
    - no padding, or symmetric padding ≤ k/2: the op's own padding (count_include_pad=False);
    - padding only after (bottom/right) where ceil_mode gives the same output size:
      ceil_mode=True, whose clipped last window equals padding with −inf (max) and dividing
      by the real cells (average);
    - otherwise F.pad (−inf for max; for average, window sums divided by real-cell counts)."""
    F = torch.nn.functional
    pool, strides = tuple(s.pool_size), tuple(s.strides or s.pool_size)
    pads = layer_pads((0, *input_shape), pool, strides, s.padding)
    reduce = F.avg_pool2d if average else F.max_pool2d
    options = {"count_include_pad": False} if average else {}
    if all(a == b and a <= k // 2 for (a, b), k in zip(pads, pool, strict=False)):
        return lambda x: reduce(x, pool, strides, padding=(pads[0][0], pads[1][0]), **options)
    ceil_sizes = [
        _torch_ceil_length(n, k, st)
        for n, k, st in zip(input_shape[:2], pool, strides, strict=False)
    ]
    tf_sizes = [-(-n // st) for n, st in zip(input_shape[:2], strides, strict=False)]
    if pads[0][0] == pads[1][0] == 0 and ceil_sizes == tf_sizes:
        return lambda x: reduce(x, pool, strides, ceil_mode=True)
    flat = (*pads[1], *pads[0])  # F.pad wants (left, right, top, bottom)
    if not average:
        return lambda x: F.max_pool2d(F.pad(x, flat, value=-math.inf), pool, strides)
    ones = F.pad(torch.ones(1, 1, *input_shape[:2]), flat)
    counts = F.avg_pool2d(ones, pool, strides, divisor_override=1)
    return lambda x: F.avg_pool2d(F.pad(x, flat), pool, strides, divisor_override=1) / counts


def _torch_ceil_length(length: int, pool: int, stride: int) -> int:
    """PyTorch's pooled length with ceil_mode and no padding (a window must start inside)."""
    out = -(-(length - pool) // stride) + 1
    return out - 1 if (out - 1) * stride >= length else out


def _torch_activation(value: Any, torch: Any) -> Step:
    F = torch.nn.functional
    if isinstance(value, str):
        named = {
            "linear": lambda x: x,
            "relu": F.relu,
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "softmax": lambda x: F.softmax(x, dim=1 if x.dim() == 4 else -1),
        }
        if value not in named:
            raise NotImplementedError(f"the PyTorch path has no activation {value!r}")
        return named[value]
    kind = value.type_name
    if kind == "LeakyReLU":
        return lambda x: F.leaky_relu(x, value.alpha)
    if kind == "ReLU":
        if (value.max_value, value.negative_slope, value.threshold) == (None, 0.0, 0.0):
            return F.relu

        def general(x: Any) -> Any:
            y = torch.where(x > value.threshold, x, value.negative_slope * (x - value.threshold))
            return y.clamp(max=value.max_value) if value.max_value is not None else y

        return general
    if kind == "ELU":
        return lambda x: F.elu(x, value.alpha)
    if kind == "Softmax" and value.axis == -1:
        return lambda x: F.softmax(x, dim=1 if x.dim() == 4 else -1)
    raise NotImplementedError(f"the PyTorch path has no activation layer {kind}")


def to_torch(x: Array, torch: Any) -> Any:
    """An NHWC array seen as an NCHW tensor: the permuted view *is* channels_last memory."""
    t = torch.from_numpy(x)
    return t.permute(0, 3, 1, 2) if t.dim() == 4 else t


def from_torch(t: Any) -> Array:
    return (t.permute(0, 2, 3, 1) if t.dim() == 4 else t).contiguous().numpy()


# --- running and timing -----------------------------------------------------------------


@dataclass
class Implementation:
    """A way to run a network: the whole batch (`run`), and per layer (`steps`, `prepare`)."""

    label: str
    run: Callable[[Array], Array]
    steps: list[Callable[[Any, bool], Any]]  # empty: no per-layer profile (onnxruntime)
    prepare: Callable[[Array], Any] = lambda x: x
    kind: str = "numpy"  # numpy | baseline | torch | onnxruntime
    times: list[float] = field(default_factory=list)
    peak: str = "n/a (not traced)"

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def load_network(name: str) -> Model:
    return Model.from_spec(parse(HERE / "configs" / f"{name}.yaml"))


def layer_params(model: Model) -> dict[str, dict[str, Array]]:
    grouped: dict[str, dict[str, Array]] = {node.name: {} for node in model.nodes}
    for key, array in model.weights.items():
        layer, _, weight = key.partition("/")
        grouped[layer][weight] = array
    return grouped


def find(found: list[Implementation], kind: str) -> Implementation | None:
    return next((impl for impl in found if impl.kind == kind), None)


def onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def implementations(model: Model, batch: int, torch: Any) -> list[Implementation]:
    if not model.graph.is_sequential:
        raise NotImplementedError("the baseline and PyTorch paths run sequential networks only")
    params = layer_params(model)
    builder_steps = [
        (lambda x, inplace, layer=node.layer, p=params[node.name]: layer(x, p, inplace=inplace))
        for node in model.nodes
    ]
    plain = [
        (lambda x, inplace, f=plain_step(node.layer, params[node.name]): f(x))  # noqa: B008 (bound per node on purpose)
        for node in model.nodes
    ]
    found = [
        Implementation(
            "builder numpy", lambda x: model.predict(x, batch_size=batch), builder_steps
        ),
        Implementation("plain NumPy baseline", lambda x: chain(plain, x), plain, kind="baseline"),
    ]
    if onnxruntime_version() is not None:
        # Same config, same seed: the same initial weights as `model`, by construction.
        from builder.engines import attach

        engine = load_network(model.name)
        attach(engine, "onnxruntime")  # setting `engine.engine` alone left it on NumPy
        engine.predict(np.zeros((1, *model.input_shape), np.float32))  # builds the session
        found.append(
            Implementation(
                f"builder onnxruntime {onnxruntime_version()}",
                lambda x: engine.predict(x, batch_size=batch),
                [],
                kind="onnxruntime",
            )
        )
    if torch is not None:
        steps = [(lambda x, inplace, f=f: f(x)) for f in torch_steps(model, params, torch)]
        found.append(
            Implementation(
                f"PyTorch {torch.__version__.split('+')[0]} channels_last",
                lambda x: from_torch(chain(steps, to_torch(x, torch))),
                steps,
                lambda x: to_torch(x, torch),
                kind="torch",
            )
        )
    return found


def chain(steps: list[Callable[[Any, bool], Any]], x: Any, clock: list[float] | None = None) -> Any:
    """Run the steps in order; a step may overwrite its input unless it is the caller's `x`
    (the rule of builder's Model.forward for a sequential graph). With `clock`, append
    each step's wall time."""
    for index, step in enumerate(steps):
        start = time.perf_counter()
        x = step(x, index > 0)
        if clock is not None:
            clock.append(time.perf_counter() - start)
    return x


def check_agreement(name: str, found: list[Implementation], x: Array) -> str:
    """Compare every output with builder's; exit loudly when one differs."""
    reference = found[0].run(x)
    notes = []
    for impl in found[1:]:
        other = impl.run(x)
        diff = float(np.max(np.abs(other.astype(np.float64) - reference)))
        agree = other.shape == reference.shape and np.allclose(
            other, reference, rtol=RTOL, atol=ATOL
        )
        notes.append(f"vs {impl.label}: max |diff| {diff:.2e}")
        if not agree:
            raise SystemExit(
                f"FAIL {name}: {impl.label} output differs from builder's "
                f"(shape {other.shape} vs {reference.shape}, max |diff| {diff:.3e}, rtol {RTOL}, atol {ATOL})"
            )
    return f"outputs agree with builder's (rtol {RTOL}, atol {ATOL}): " + "; ".join(notes)


PASSES = 3
"""Timed runs are split into this many passes over the implementations."""

SETTLE_SECONDS = 0.2
"""Pause before each block: OpenBLAS's and PyTorch's OpenMP worker threads spin-wait after
work; on a 2-core machine the idle pool's spinning threads slowed the other library's next
runs 2-5× when implementations alternated run by run."""


def time_blocks(found: list[Implementation], x: Array, runs: int) -> None:
    """Time `runs` runs of each implementation, in PASSES passes; within a pass, each
    implementation runs its share back to back after a pause and one untimed run, so its
    own thread pool is awake and the other's is asleep. Passes spread machine drift over all."""
    gc.collect()
    share = max(1, math.ceil(runs / PASSES))
    for _ in range(PASSES):
        for impl in found:
            time.sleep(SETTLE_SECONDS)
            impl.run(x)
            for _ in range(share):
                start = time.perf_counter()
                impl.run(x)
                impl.times.append(time.perf_counter() - start)


def warm_up(found: list[Implementation], x: Array) -> float:
    """Two untimed runs each; returns the seconds one run of all of them takes."""
    total = 0.0
    for impl in found:
        impl.run(x)
        start = time.perf_counter()
        impl.run(x)
        total += time.perf_counter() - start
    return total


def traced_peak(run: Callable[[], Any]) -> int:
    """Peak bytes allocated through Python/NumPy while `run` executes (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure_peaks(name: str, found: list[Implementation], x: Array, batch: int) -> None:
    """builder: the first predict of a fresh model (so buffers it keeps count too); baseline: one run."""
    fresh = load_network(name)
    _ = fresh.weights  # initialise from the seed before tracing
    found[0].peak = mib(traced_peak(lambda: fresh.predict(x, batch_size=batch)))
    found[1].peak = mib(traced_peak(lambda: found[1].run(x)))


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


# --- reporting --------------------------------------------------------------------------


def network_table(name: str, batch: int, flops: float, found: list[Implementation]) -> list[str]:
    reference = find(found, "torch")
    torch_time = reference.median if reference else None
    baseline_time = found[1].median
    head = (
        f"  {'implementation':<30}{'median ms':>11}{'min ms':>9}{'images/s':>10}{'GFLOP/s':>9}"
        f"{'time/torch':>12}{'baseline/time':>15}  peak memory"
    )
    lines = [head, "  " + "-" * (len(head) + 6)]
    for impl in found:
        t = impl.median
        vs_torch = f"{t / torch_time:.2f}x" if torch_time else "n/a"
        lines.append(
            f"  {impl.label:<30}{t * 1e3:>11.2f}{min(impl.times) * 1e3:>9.2f}{batch / t:>10,.0f}"
            f"{flops / t / 1e9:>9.1f}{vs_torch:>12}{baseline_time / t:>14.2f}x  {impl.peak}"
        )
    return lines


def summary_table(rows: list[tuple[str, int, float, list[Implementation]]]) -> list[str]:
    """Per network: ms per batch of each engine, time / PyTorch, baseline / NumPy engine;
    then the geometric mean of each engine's time / PyTorch, with the targets of issue 15."""
    engines = [kind for kind in ("numpy", "onnxruntime") if find(rows[0][3], kind)]
    has_torch = all(find(found, "torch") for *_, found in rows)
    lines = [
        "| network (float32) | batch | GFLOP | "
        + " | ".join(f"builder {kind} ms" for kind in engines)
        + " | PyTorch ms | baseline ms | "
        + " | ".join(f"{kind} / PyTorch" for kind in engines)
        + " | baseline / numpy |",
        "|---" * (6 + 2 * len(engines)) + "|",
    ]
    ratios: dict[str, list[float]] = {kind: [] for kind in engines}
    for name, batch, flops, found in rows:
        base, ours = find(found, "baseline"), find(found, "numpy")
        reference = find(found, "torch")
        cells = [f"{find(found, kind).median * 1e3:.1f}" for kind in engines]  # type: ignore[union-attr]
        shares = []
        for kind in engines:
            if reference is None:
                shares.append("n/a")
                continue
            ratio = find(found, kind).median / reference.median  # type: ignore[union-attr]
            ratios[kind].append(ratio)
            shares.append(f"{ratio:.2f}x")
        torch_ms = f"{reference.median * 1e3:.1f}" if reference else "n/a"
        lines.append(
            f"| {name} | {batch} | {flops / 1e9:.2f} | {' | '.join(cells)} | {torch_ms} | "
            f"{base.median * 1e3:.1f} | {' | '.join(shares)} | {base.median / ours.median:.2f}x |"  # type: ignore[union-attr]
        )
    if not has_torch:
        lines.append("(PyTorch not importable: no ratios to PyTorch)")
        return lines
    lines.append("")
    for kind in engines:
        geo = math.exp(statistics.fmean(math.log(r) for r in ratios[kind]))
        target = TARGET_VS_TORCH[kind]
        verdict = f"target <= {target}: {'met' if geo <= target else 'NOT met'}"
        if kind == "onnxruntime":
            worst = max(ratios[kind])
            verdict += (
                f"; worst network {worst:.2f}x, target <= {TARGET_ONNXRUNTIME_EACH}: "
                f"{'met' if worst <= TARGET_ONNXRUNTIME_EACH else 'NOT met'}"
            )
        lines.append(f"geometric mean of builder {kind} / PyTorch: {geo:.2f}x ({verdict})")
    for name, _, _, found in rows:
        if name in TARGET_VS_BASELINE:
            speedup = find(found, "baseline").median / find(found, "numpy").median  # type: ignore[union-attr]
            need = TARGET_VS_BASELINE[name]
            lines.append(
                f"{name}: baseline time / numpy engine time = {speedup:.2f}x "
                f"(target >= {need:g}x: {'met' if speedup >= need else 'NOT met'})"
            )
    return lines


def layer_profile(model: Model, found: list[Implementation], x: Array, runs: int) -> list[str]:
    """Median ms of each layer inside the chain, per implementation, and for Conv2D and
    Dense the time of their whole multiply as one np.matmul on a ready patch matrix
    ("one GEMM": what the layer would cost if im2col, padding, bias and activation were free)."""
    clocks: list[list[list[float]]] = [[] for _ in found]
    for impl, clock in zip(
        found, clocks, strict=False
    ):  # in blocks, for the reason given at SETTLE_SECONDS
        time.sleep(SETTLE_SECONDS)
        chain(impl.steps, impl.prepare(x))
        for _ in range(runs):
            ticks: list[float] = []
            chain(impl.steps, impl.prepare(x), ticks)
            clock.append(ticks)
    medians = [
        [statistics.median(ticks[i] for ticks in clock) * 1e3 for i in range(len(model.nodes))]
        for clock in clocks
    ]
    gemms = [gemm_ms(node, len(x), runs) for node in model.nodes]
    labels = [
        f"{node.name} ({node.layer.type_name}{inline_activation(node.layer)})"
        for node in model.nodes
    ]
    width = max(map(len, labels)) + 2
    names = ["builder", "baseline", "torch"][: len(found)]
    head = f"  {'layer (type)':<{width}}{'output shape':>15}" + "".join(
        f"{n + ' ms':>13}" for n in names
    )
    head += f"{'one GEMM ms':>13}" + (f"{'builder/torch':>15}" if len(found) > 2 else "")
    lines = [head, "  " + "-" * (len(head) - 2)]
    for i, node in enumerate(model.nodes):
        row = f"  {labels[i]:<{width}}{str(node.output_shape):>15}" + "".join(
            f"{m[i]:>13.2f}" for m in medians
        )
        row += f"{gemms[i]:>13.2f}" if gemms[i] is not None else f"{'':>13}"
        if len(found) > 2:
            row += f"{medians[0][i] / max(medians[2][i], 1e-6):>14.2f}x"
        lines.append(row)
    totals = [sum(m) for m in medians]
    row = f"  {'sum of layers':<{width + 15}}" + "".join(f"{t:>13.2f}" for t in totals)
    row += f"{sum(g for g in gemms if g is not None):>13.2f}"
    if len(found) > 2:
        row += f"{totals[0] / totals[2]:>14.2f}x"
    lines.append(row)
    lines.append(
        f"  {'whole run (median of the timed runs)':<{width + 15}}"
        + "".join(f"{impl.median * 1e3:>13.2f}" for impl in found)
    )
    return lines


def gemm_ms(node: Any, batch: int, runs: int) -> float | None:
    """Median ms of np.matmul(patches (M, K), kernel (K, F), out=(M, F)) for a Conv2D or Dense."""
    kind = node.layer.type_name
    if kind == "Conv2D":
        kh, kw = node.layer.spec.kernel_size
        groups = node.layer.spec.groups
        shape = (
            groups,
            batch * math.prod(node.output_shape[:2]),
            kh * kw * node.input_shape[-1] // groups,
        )
        filters = node.layer.spec.filters // groups
    elif kind == "Dense" and len(node.input_shape) == 1:
        shape, filters = (1, batch, node.input_shape[0]), node.layer.spec.units
    else:
        return None
    rng = np.random.default_rng(0)
    patches = rng.standard_normal(shape, dtype=np.float32)
    kernel = rng.standard_normal((shape[0], shape[2], filters), dtype=np.float32)
    out = np.empty((shape[0], shape[1], filters), dtype=np.float32)
    np.matmul(patches, kernel, out=out)
    times = []
    for _ in range(max(runs, 3)):
        start = time.perf_counter()
        np.matmul(patches, kernel, out=out)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def inline_activation(layer: Any) -> str:
    """` + relu` for a Conv2D or Dense with an activation, else ``."""
    found = layer.activation_label() if layer.type_name in ("Conv2D", "Dense") else None
    return f" + {found}" if found else ""


def gemm_calibration(size: int = 2048, runs: int = 7) -> str:
    """What the BLAS delivers right now: median GFLOP/s of a float32 size³ np.matmul.
    Issue 6 quotes about 450 GFLOP/s for this machine when it is idle."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return f"{2 * size**3 / statistics.median(times) / 1e9:.0f} GFLOP/s (float32 {size}³ np.matmul, median of {runs})"


TUNED_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
"""glibc keeps freed memory: large arrays are reused instead of being unmapped and faulted
in again page by page on the next pass (slow on this VM)."""

KERNEL_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Unset, so that OpenBLAS picks its kernel and blocking from the CPU it finds."""


def reexec_with_settings(malloc: str) -> None:
    """Re-executes this script when the environment differs from the wanted settings (glibc
    reads MALLOC_* at process start, OpenBLAS its variables when it loads)."""
    env = dict(os.environ)
    for variable in KERNEL_OVERRIDES:
        env.pop(variable, None)
    for variable, value in TUNED_MALLOC.items():
        if malloc == "tuned":
            env[variable] = value
        else:
            env.pop(variable, None)
    watched = (*KERNEL_OVERRIDES, *TUNED_MALLOC)
    if any(env.get(v) != os.environ.get(v) for v in watched):
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def settings_line() -> str:
    malloc = [f"{v}={os.environ[v]}" for v in TUNED_MALLOC if v in os.environ]
    kernel = [f"{v}={os.environ[v]}" for v in KERNEL_OVERRIDES if v in os.environ]
    return (
        f"allocator {' '.join(malloc) or 'glibc defaults (--malloc default)'}; "
        f"{' '.join(kernel) or 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset'} "
        "(the same for every engine in this process)"
    )


def import_torch(threads: int) -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeat",
        type=int,
        help="timed runs per implementation and network (default: enough for ~2.5 s per network)",
    )
    parser.add_argument(
        "--networks",
        nargs="+",
        choices=list(NETWORKS),
        default=list(NETWORKS),
        help="which reference networks to run (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: about 0.3 s of timed runs per network"
    )
    parser.add_argument("--layers", action="store_true", help="also print a per-layer profile")
    parser.add_argument(
        "--malloc",
        choices=["tuned", "default"],
        default="tuned",
        help="tuned: glibc keeps freed memory (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=64 GiB) "
        "for every engine; default: glibc's defaults",
    )
    args = parser.parse_args(argv)
    if argv is None:
        reexec_with_settings(args.malloc)  # returns only once the settings are in place

    threads = blas_threads()
    torch = import_torch(threads)
    runtime = onnxruntime_version()
    extra = {
        "settings": settings_line(),
        "onnxrt": f"{runtime}, {os.cpu_count()} intra-op threads, all graph optimisations"
        if runtime
        else "not importable (pip install '.[onnx]'; onnxruntime columns skipped)",
        "builder": source_version(HERE.parent / "builder"),
        "torch": f"{torch.__version__}, {torch.get_num_threads()} threads, inference_mode, channels_last"
        if torch is not None
        else "not importable (PyTorch columns skipped)",
    }
    print("\n".join(header_lines(extra)))
    print(
        "memory:  builder = tracemalloc peak of the first predict() of a fresh model (NumPy "
        "allocations, excluding the input; BLAS-internal buffers are not seen); baseline = "
        "tracemalloc peak of one run"
    )
    print(f"GEMM:    {gemm_calibration()} before the networks")
    budget, least = (0.3, 3) if args.quick else (2.5, 6)
    context = torch.inference_mode() if torch is not None else contextlib.nullcontext()
    rows = []
    with context:
        for name in args.networks:
            rows.append(
                bench_network(name, NETWORKS[name], torch, args.repeat, budget, least, args.layers)
            )
    print(
        "\nSummary (time = median per batch; engine / PyTorch: lower is better; "
        "baseline / numpy: higher is better)"
    )
    print("\n".join(summary_table(rows)))
    print(f"GEMM:    {gemm_calibration()} after the networks")
    return 0


def bench_network(
    name: str, batch: int, torch: Any, repeat: int | None, budget: float, least: int, layers: bool
) -> tuple[str, int, float, list[Implementation]]:
    model = load_network(name)
    flops = 2.0 * model.summary().total_macs * batch
    x = np.random.default_rng(0).standard_normal((batch, *model.input_shape), dtype=np.float32)
    found = implementations(model, batch, torch)
    agreement = check_agreement(name, found, x)
    round_time = warm_up(found, x)
    runs = repeat or max(least, min(1000, round(budget / round_time)))
    load = OtherLoad()
    time_blocks(found, x, runs)
    others = load.cpus()
    measure_peaks(name, found, x, batch)
    print(
        f"\n{name}: batch {batch}, float32, input {model.input_shape}, {flops / 1e9:.2f} GFLOP per batch, "
        f"{len(found[0].times)} timed runs each"
    )
    print("\n".join(network_table(name, batch, flops, found)))
    print(f"  {agreement}")
    print(f"  {load_note(others)}")
    if layers:
        print(
            f"  per-layer profile ({runs} runs each; ms are medians of each layer's wall time in the chain):"
        )
        stepped = [impl for impl in found if impl.steps]  # builder numpy, baseline, PyTorch
        print("\n".join(layer_profile(model, stepped, x, runs)))
    return name, batch, flops, found


if __name__ == "__main__":
    sys.exit(main())
