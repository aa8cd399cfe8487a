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
from builder.finite import (
    FiniteWatch,
    bad_inputs_warning,
    bad_weights_warning,
    layers_with_bad_weights,
)
from builder.images import is_image_input
from builder.io import NpyWriter, load_array
from builder.model import Model
from builder.named_arrays import load_named_arrays, save_named_arrays
from builder.profile import Profile
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
    profile: bool = False,
    interpolation: str = "nearest",
) -> Any:
    """Runs the forward pass; returns the output when it was printed rather than written
    (a dict by output name when the model has several outputs). `output` ends in `.npy`
    (written chunk by chunk; one output only) or `.npz` (one array per output name).
    With `profile`, the time per step is printed on stderr after the run. Image inputs
    (a .png/.jpg file or a folder) are resized with `interpolation`; the output then names
    the file of each row."""
    if weights is not None:
        model.load_weights(weights, max_memory)
        bad = layers_with_bad_weights(model.weights)
        if bad:
            types = {node.name: node.layer.type_name for node in model.nodes}
            echo(bad_weights_warning(weights, bad, types), err=True)
    else:
        model.init_weights(seed, max_memory)
    names: list[str] | None = None
    if random_count is not None:
        x = _random_input(model, random_count, seed)
    elif is_image_input(str(input_path)):
        x, names = _image_input(model, str(input_path), interpolation, max_memory)
    else:
        x = _file_input(model, str(input_path), input_key, max_memory)
    count = next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]
    to_npz = output is not None and output.lower().endswith(".npz")
    profiler = Profile(model.plan) if profile else None
    model.step_timer = profiler.record if profiler is not None else None
    held = _resident_bytes(x)  # an input read whole stays for the run
    watched = _watch_inputs(model, x) if random_count is None else {}
    if watched:
        x = watched if isinstance(x, dict) else next(iter(watched.values()))
    with _progress(count) as advance:  # the bar ends before anything is printed
        if output is None or to_npz:
            y = model.predict(x, batch_size, max_memory, progress=advance, held_bytes=held)
        else:
            shape = (count, *model.output_shape)
            with NpyWriter(output, shape, model.dtype) as writer:
                model.predict(
                    x, batch_size, max_memory, out=writer, progress=advance, held_bytes=held
                )
    model.step_timer = None
    bad_rows = {name: watch.bad_samples for name, watch in watched.items()}
    if any(bad_rows.values()):
        found = {name: n for name, n in bad_rows.items() if n}
        echo(bad_inputs_warning(str(input_path), found, count, len(bad_rows) == 1), err=True)
    if output is not None:
        if to_npz:
            save_named_arrays(output, y if isinstance(y, dict) else {model.graph.outputs[0]: y})
        for name, shape in model.output_shapes.items():
            key = f" {name!r}" if to_npz else ""
            echo(f"{output}:{key} wrote {(count, *shape)} {model.dtype}")
        for row, file in enumerate(names or []):
            echo(f"  [{row}] {file}")
    else:
        echo(preview(model, y, names=names))
    if profiler is not None and model.engine != "numpy":  # timed by the engine itself
        from builder.engines import profile_text

        echo(profile_text(model, count), err=True)
    elif profiler is not None:
        echo(profiler.text(count), err=True)
    return None if output is not None else y


def _file_input(model: Model, path: str, key: str | None, max_memory: int) -> Any:
    """The input as an array or a row reader, checked by the model; errors name the file.
    A model with several inputs reads one array per input name from an `.npz`."""
    names = list(model.input_shapes)
    if len(names) > 1 and key is not None:
        raise DataError(
            f"{path}: --input-key picks one array, but the model has {len(names)} inputs; "
            "they are read by name from the .npz"
        )
    # the readers' own errors name the file already
    if len(names) > 1:
        found: Any = load_named_arrays(path, names)
    else:
        found = load_array(path, key, model.input_shape, max_memory)
    try:
        return model.check_inputs(found) if len(names) > 1 else model.check_input(found)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def _image_input(
    model: Model, path: str, interpolation: str, max_memory: int
) -> tuple[np.ndarray, list[str]]:
    """The images at `path` as an (N, H, W, C) array, refused before reading when too large."""
    from builder.images import image_files, load_images

    nbytes = len(image_files(path)) * math.prod(model.input_shape) * model.dtype.itemsize
    if nbytes > max_memory:
        raise ResourceError(
            f"{path}: the images need {format_bytes(nbytes)} of input, over the memory limit of "
            f"{format_bytes(max_memory)}"
        )
    return load_images(path, model.input_shape, model.dtype, interpolation)


def _watch_inputs(model: Model, x: Any) -> dict[str, FiniteWatch]:
    """Each input wrapped to count its non-finite samples as chunks are read."""
    arrays = x if isinstance(x, dict) else {next(iter(model.input_shapes)): x}
    return {name: FiniteWatch(array, model.dtype) for name, array in arrays.items()}


def _resident_bytes(x: Any) -> int:
    """Bytes of the input arrays held in memory (not row readers or lazy sources)."""
    arrays = x.values() if isinstance(x, dict) else [x]
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


def _random_input(model: Model, count: int, seed: int | None) -> Any:
    """`count` standard-normal samples as lazy row sources (`builder.random_input`), one
    per input name: each chunk is drawn when it is read, the same rows for a given seed
    whatever the batch size."""
    from builder.random_input import random_inputs

    chosen = model.spec.seed if seed is None else seed
    drawn = random_inputs(model.input_shapes, count, model.dtype, chosen)
    return drawn if len(drawn) > 1 else next(iter(drawn.values()))


@contextmanager
def _progress(count: int) -> Iterator[Callable[[int], None] | None]:
    """click's progress bar on stderr, counting samples, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    import click

    with click.progressbar(length=count, label="running", file=sys.stderr) as bar:
        yield bar.update


def preview(
    model: Model, y: Any, rows: int = 3, columns: int = 6, names: list[str] | None = None
) -> str:
    """Output shape and dtype, the first values of the first samples, and the arg-max class
    per sample when the model ends in softmax over its last axis; for a dict of several
    outputs, that for each, headed by its name. With `names` (image files), every row is
    shown, labelled with its file."""
    if isinstance(y, dict):
        return "\n".join(_preview(model, name, y[name], rows, columns, names) for name in y)
    return _preview(model, None, y, rows, columns, names)


def _preview(
    model: Model,
    name: str | None,
    y: np.ndarray,
    rows: int,
    columns: int,
    names: list[str] | None = None,
) -> str:
    label = "output" if name is None else f"output {name!r}"
    lines = [f"{label}: shape {y.shape}, dtype {y.dtype}"]
    flat = y.reshape(len(y), math.prod(y.shape[1:]))  # -1 fails for zero samples
    if names is not None:
        rows = len(names)
    with np.printoptions(precision=5, suppress=True, linewidth=120):
        for i in range(min(rows, len(y))):
            more = " ..." if flat.shape[1] > columns else ""
            row = f"[{i}] {names[i]}" if names is not None else f"[{i}]"
            lines.append(f"  {row} {np.array2string(flat[i, :columns], separator=', ')}{more}")
    if len(y) > rows:
        lines.append(f"  ... ({len(y) - rows} more)")
    node = model.graph.node(name) if name is not None else model.nodes[-1]
    axis = node.layer.final_activation().softmax_axis()
    if axis in (-1, len(node.output_shape)) and y.ndim == 2:
        classes = np.argmax(y[:20], axis=1)  # only the classes shown: no (N,) array
        shown = ", ".join(map(str, classes)) + (" ..." if len(y) > 20 else "")
        lines.append(f"predicted class per sample: {shown}")
    return "\n".join(lines)
