"""`builder run`'s file side: read the input, write or preview the output, show progress.

Everything about the model itself (input checks, memory planning, chunking) is
`Model.predict`'s; this module only connects it to files and the terminal.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from builder.errors import DataError, ResourceError
from builder.io import NpyWriter, load_array
from builder.model import Model
from builder.sizes import format_bytes


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
    if weights is not None:
        model.load_weights(weights)
    else:
        model.init_weights(seed, max_memory)
    if random_count is not None:
        x = _random_input(model, random_count, seed, max_memory)
    else:
        x = _file_input(model, str(input_path), input_key)
    count = x.shape[0]
    with _progress(count) as advance:  # the bar ends before anything is printed
        if output is None:
            y = model.predict(x, batch_size, max_memory, progress=advance)
        else:
            shape = (count, *model.output_shape)
            with NpyWriter(output, shape, model.dtype) as writer:
                model.predict(x, batch_size, max_memory, out=writer, progress=advance)
    if output is not None:
        echo(f"{output}: wrote {(count, *model.output_shape)} {model.dtype}")
        return None
    echo(preview(model, y))
    return y


def _file_input(model: Model, path: str, key: str | None) -> Any:
    """The input as an array or a row reader, checked by the model; errors name the file."""
    try:
        return model.check_input(load_array(path, key))
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def _random_input(model: Model, count: int, seed: int | None, max_memory: int) -> np.ndarray:
    nbytes = count * math.prod(model.input_shape) * model.dtype.itemsize
    if nbytes > max_memory:
        raise ResourceError(
            f"--random {count} needs {format_bytes(nbytes)} of input, over the memory limit of "
            f"{format_bytes(max_memory)}"
        )
    rng = np.random.default_rng(model.spec.seed if seed is None else seed)
    return rng.standard_normal((count, *model.input_shape)).astype(model.dtype)


@contextmanager
def _progress(count: int) -> Iterator[Callable[[int], None] | None]:
    """click's progress bar on stderr, counting samples, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    import click

    with click.progressbar(length=count, label="running", file=sys.stderr) as bar:
        yield bar.update


def preview(model: Model, y: np.ndarray, rows: int = 3, columns: int = 6) -> str:
    """Output shape and dtype, the first values of the first samples, and the arg-max class
    per sample when the model ends in softmax over its last axis."""
    lines = [f"output: shape {y.shape}, dtype {y.dtype}"]
    flat = y.reshape(len(y), -1)
    with np.printoptions(precision=5, suppress=True, linewidth=120):
        for i in range(min(rows, len(y))):
            more = " ..." if flat.shape[1] > columns else ""
            lines.append(f"  [{i}] {np.array2string(flat[i, :columns], separator=', ')}{more}")
    if len(y) > rows:
        lines.append(f"  ... ({len(y) - rows} more)")
    axis = model.nodes[-1].layer.final_activation().softmax_axis()
    if axis in (-1, len(model.output_shape)) and y.ndim == 2:
        classes = np.argmax(y, axis=1)
        shown = ", ".join(map(str, classes[:20])) + (" ..." if len(classes) > 20 else "")
        lines.append(f"predicted class per sample: {shown}")
    return "\n".join(lines)
