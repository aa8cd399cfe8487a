"""`builder run`: stream an input through a model in chunks, to a file or a printed preview."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

import numpy as np

from builder.errors import DataError, ResourceError
from builder.io import load_array, write_npy_streaming
from builder.model import Model


def run_model(
    model: Model,
    *,
    input_path: str | None,
    input_key: str | None,
    random_count: int | None,
    weights: str | None,
    output: str | None,
    batch_size: int | None,
    seed: int | None,
    max_memory: int,
    echo: Callable[..., None],
) -> np.ndarray | None:
    """Runs the forward pass; returns the output when it was printed rather than written."""
    chunk = model.check_memory(batch_size or model.default_chunk(), max_memory)
    if weights is not None:
        model.load_weights(weights)
    else:
        model.init_weights(seed, max_memory)
    if random_count is not None:
        x = _random_input(model, random_count, seed, max_memory)
    else:
        x = _file_input(model, input_path, input_key, max_memory)  # type: ignore[arg-type]
    total = math.ceil(x.shape[0] / chunk)
    out_bytes = model.output_bytes(x.shape[0])
    if output is None and out_bytes > max_memory:
        raise ResourceError(
            f"printing needs the whole output ({out_bytes:,} bytes) in memory; use --output"
        )
    chunks = model.iter_chunks(x, chunk, max_memory)
    with _progress(chunks, total) as steps:  # the bar ends before anything is printed
        if output is not None:
            _write_streaming(model, output, x.shape[0], steps)
        else:
            y = np.empty((x.shape[0], *model.output_shape), dtype=model.dtype)
            for start, part in steps:
                y[start : start + len(part)] = part
    if output is not None:
        echo(f"{output}: wrote {(x.shape[0], *model.output_shape)} {model.dtype}")
        return None
    echo(preview(model, y))
    return y


def _file_input(model: Model, path: str, key: str | None, max_memory: int) -> Any:
    x = load_array(path, key, model.input_shape, max_memory)
    if tuple(x.shape) == model.input_shape:
        x = np.asarray(x[...] if isinstance(x, np.ndarray) else x.read_all())
        x = x.reshape(1, *x.shape)  # one sample without its batch axis
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: input must hold real numbers, got dtype {x.dtype}")
    if tuple(x.shape[1:]) != model.input_shape:
        from builder.layers.base import format_shape

        raise DataError(
            f"{path}: input must have shape {format_shape(model.input_shape)} "
            f"(or {model.input_shape} for one sample), got {tuple(x.shape)}"
        )
    return x


def _random_input(model: Model, count: int, seed: int | None, max_memory: int) -> np.ndarray:
    nbytes = count * math.prod(model.input_shape) * model.dtype.itemsize
    if nbytes > max_memory:
        raise ResourceError(f"--random {count} needs {nbytes:,} bytes of input, over --max-memory")
    rng = np.random.default_rng(model.spec.seed if seed is None else seed)
    return rng.standard_normal((count, *model.input_shape)).astype(model.dtype)


def _write_streaming(
    model: Model, output: str, count: int, steps: Iterator[tuple[int, np.ndarray]]
) -> None:
    parts = (part for _, part in steps)
    write_npy_streaming(output, (count, *model.output_shape), model.dtype, parts)


def _progress(chunks: Iterator[Any], total: int) -> Any:
    """click's progress bar on stderr when there is more than one chunk and stderr is a terminal."""
    if total > 1 and sys.stderr.isatty():
        import click

        return click.progressbar(chunks, length=total, label="running", file=sys.stderr)
    return nullcontext(chunks)


def preview(model: Model, y: np.ndarray, rows: int = 3, columns: int = 6) -> str:
    """Output shape and dtype, the first values of the first samples, and the arg-max class
    per sample when the model ends in softmax."""
    lines = [f"output: shape {y.shape}, dtype {y.dtype}"]
    flat = y.reshape(len(y), math.prod(y.shape[1:]))  # -1 fails for zero samples
    with np.printoptions(precision=5, suppress=True, linewidth=120):
        for i in range(min(rows, len(y))):
            more = " ..." if flat.shape[1] > columns else ""
            lines.append(f"  [{i}] {np.array2string(flat[i, :columns], separator=', ')}{more}")
    if len(y) > rows:
        lines.append(f"  ... ({len(y) - rows} more)")
    if _ends_in_softmax(model) and y.ndim == 2:
        classes = np.argmax(y, axis=1)
        shown = ", ".join(map(str, classes[:20])) + (" ..." if len(classes) > 20 else "")
        lines.append(f"predicted class per sample: {shown}")
    return "\n".join(lines)


def _ends_in_softmax(model: Model) -> bool:
    """True when the last layer is softmax over the last axis (a layer, inline, or by name)."""
    layer = model.nodes[-1].layer
    final = getattr(layer, "activation", None) or layer
    final = getattr(final, "inner", None) or final
    if final.type_name == "Softmax":
        return final.spec.axis in (-1, len(model.output_shape))
    return layer.activation_label() == "softmax"
