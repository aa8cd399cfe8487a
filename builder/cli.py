"""The `builder` command line. Each command is one function; its docstring is its help.

Errors the user caused (`BuilderError`) become one line per problem on stderr and exit
status 1; usage errors are click's (exit 2). Heavy modules are imported inside the
commands so that `builder validate` never loads the NumPy engine.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click

from builder import __version__, interrupts
from builder.errors import BuilderError
from builder.sizes import format_bytes

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    """Turn a BuilderError (or Ctrl-C) into stderr lines and exit status 1, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BuilderError as error:
            click.echo(str(error), err=True)
            sys.exit(1)
        except MemoryError as error:  # a plan within the limit that the system still refused
            detail = " ".join(str(error).split()) or "an allocation failed"
            click.echo(f"out of memory: {detail} (lower --batch-size or --max-memory)", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            interrupts.quiet_exit_on_closed_stdout()

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="builder")
def cli() -> None:
    """Turn a YAML model spec into an executable NumPy network (Keras 3 semantics)."""


@cli.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(configs: tuple[str, ...]) -> None:
    """Check each CONFIG; print `CONFIG: ok` or every problem found (exit 1 if any)."""
    from builder.graph import compile_graph

    failed = False
    for path in configs:
        try:
            graph = compile_graph(_parse(path))
        except BuilderError as error:
            click.echo(str(error), err=True)
            failed = True
        else:
            for warning in graph.warnings:
                click.echo(str(warning), err=True)
            click.echo(f"{path}: ok")
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)
@_reports_errors
def schema(output: str | None) -> None:
    """Print the JSON Schema of config files (for editors and CI)."""
    from builder.spec.schema import schema_text

    if output is not None:
        _vet_output(output, "'-o' / '--output'")
    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        from builder.io import write_text_atomic

        write_text_atomic(output, text)


class ByteSize(click.ParamType):
    """A memory size: `4GiB`, `512MB`, `1g`, or a plain number of bytes (powers of 1024).

    The whole text must match: junk after the unit (`4GiBberish`, `2tons`) and sizes that
    are not finite or do not fit 64 bits (`1e400`) are usage errors.
    """

    name = "size"
    _UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    _PATTERN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d{1,4}))?([kmgt]?)(?:ib|b)?")
    LIMIT = 2**63 - 1

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip().lower().replace(" ", "")
        match = self._PATTERN.fullmatch(text)
        if match is None:
            self.fail(f"{value!r} is not a size such as 4GiB, 512MB or 1000000", param, ctx)
        number, exponent, unit = match.groups()
        size = float(f"{number}e{exponent or 0}") * self._UNITS[unit]
        if not math.isfinite(size) or size > self.LIMIT:
            self.fail(f"{value!r} is too large (at most 2**63 - 1 bytes)", param, ctx)
        if size < 1:
            self.fail(f"{value!r} must be at least one byte", param, ctx)
        return int(size)


@contextmanager
def _memory_hint(max_memory: int) -> Iterator[int]:
    """Yields the limit to plan with: `--max-memory`, but never more than the machine has
    (`builder.memory.usable_memory`). The library's memory refusals name no option; this
    adds the hint to raise --max-memory, or says the machine is the limit."""
    from builder.errors import ResourceError
    from builder.memory import usable_memory

    machine = usable_memory()
    trusted = max_memory if machine is None else min(max_memory, machine)
    try:
        yield trusted
    except ResourceError as error:
        if trusted < max_memory:
            limit = f"the memory limit of {format_bytes(trusted)}"
            message = str(error).replace(limit, f"this machine's memory of {format_bytes(trusted)}")
            raise ResourceError(
                f"{message} (--max-memory {format_bytes(max_memory)} is more than it has)"
            ) from None
        raise ResourceError(f"{error} (raise it with --max-memory)") from None


def _vet_output(output: str, param: str, **reads: str | None) -> None:
    """Refuse a bad output path before any work: usage errors (exit 2) for a folder or an
    empty path, DataError (exit 1) for a device/FIFO or a file the command reads."""
    from builder.io import OutputPathUsage, check_output_path

    try:
        check_output_path(output, reads)
    except OutputPathUsage as error:
        raise click.BadParameter(str(error), param_hint=param) from None


def _max_memory_option(help_text: str) -> Callable[[F], F]:
    """`--max-memory SIZE` (default 4GiB), shared by the commands that allocate."""
    return click.option(
        "--max-memory", type=ByteSize(), default="4GiB", show_default=True, help=help_text
    )


def _parse(config: str) -> Any:
    """A CONFIG argument is always a path (`no such file`), never YAML text; `-` is stdin."""
    from builder.config import parse_file, parse_text
    from builder.errors import ConfigError, Problem
    from builder.loader import MAX_FILE_BYTES

    if config != "-":
        return parse_file(config)
    text = sys.stdin.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        message = f"the config is larger than the limit of {format_bytes(MAX_FILE_BYTES)}"
        raise ConfigError([Problem("<stdin>", None, None, "", message)])
    return parse_text(text, filename="<stdin>", default_name="model")


def _load_model(config: str) -> Any:
    from builder.model import Model

    model = Model.from_spec(_parse(config))
    for warning in model.graph.warnings:
        click.echo(str(warning), err=True)
    return model


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Samples per batch for the MACs and activation-memory figures.",
)
@click.option(
    "--show-trainable",
    is_flag=True,
    help="Add a Trainable column (Y, N, or - for layers without weights), as Keras.",
)
@_reports_errors
def summarize(config: str, fmt: str, batch_size: int, show_trainable: bool) -> None:
    """Print the Keras-style summary of CONFIG: shapes, parameters, MACs and memory.

    Nothing is allocated and nothing runs: only shapes are inferred.
    """
    report = _load_model(config).summary(batch_size=batch_size, show_trainable=show_trainable)
    if fmt == "markdown":
        text = report.to_markdown()
    elif fmt == "json":
        text = report.to_json()
    else:
        text = str(report)
    click.echo(text.rstrip("\n"))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid flowchart (renders on GitHub) or Graphviz DOT.",
)
@_reports_errors
def graph(config: str, fmt: str) -> None:
    """Print CONFIG's network as a diagram: one node per layer with its type and output shape."""
    from builder.diagram import to_dot, to_mermaid

    model = _load_model(config)
    click.echo((to_mermaid if fmt == "mermaid" else to_dot)(model.graph).rstrip("\n"))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--input",
    "input_path",
    type=click.Path(),  # a folder of images is allowed; other folders are refused
    help="Input array: .npy (read chunk by chunk, may exceed RAM) or .npz; or a .png/.jpg "
    "image or a folder of them (extra 'images'); with --dask, .npy or a Zarr array.",
)
@click.option(
    "--interpolation",
    type=click.Choice(["nearest", "bilinear"]),
    default="nearest",
    show_default=True,
    help="How images are resized to the input's height and width (Keras load_img's default).",
)
@click.option("--input-key", help="Which array of an .npz input to use (default: its only array).")
@click.option(
    "--random",
    "random_count",
    type=click.IntRange(min=1),
    help="Run on N random normal samples instead.",
)
@click.option(
    "--weights",
    type=click.Path(),
    help="Weights .npz (default: initialise from the seed).",
)
@click.option(
    "--output",
    type=click.Path(),
    help="Write the output to this .npy file, or to an .npz (one array per output name); "
    "with --dask, .npy or a Zarr array.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Samples per chunk (default: fit a 256 MiB work budget, at most 256).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Weight and --random seed (default: the config's seed).",
)
@_max_memory_option("Refuse work needing more memory than this.")
@click.option(
    "--engine",
    type=click.Choice(["numpy", "onnxruntime"]),
    default="numpy",
    show_default=True,
    help="numpy (the reference) or onnxruntime (extra [onnx]; the session is built once).",
)
@click.option(
    "--profile",
    is_flag=True,
    help="After the run, print each layer's time (ms), share and GFLOP/s on stderr "
    "(onnxruntime: its own per-kernel times, labelled with the layers).",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="ADDRESS",
    help="Run on a Dask cluster: tcp://host:port or local[:N] (extra [dask]).",
)
@_reports_errors
def run(
    config: str,
    input_path: str | None,
    interpolation: str,
    input_key: str | None,
    random_count: int | None,
    weights: str | None,
    output: str | None,
    batch_size: int | None,
    seed: int | None,
    max_memory: int,
    engine: str,
    profile: bool,
    dask_address: str | None,
) -> None:
    """Run a forward pass of CONFIG on --input X.npy|X.npz|IMAGE|FOLDER or --random N.

    One sample without the batch axis is accepted. With --output the result is written
    chunk by chunk to a temporary file that is renamed only when complete; without it,
    the output's shape, dtype and a preview are printed (and the arg-max class per
    sample when the last activation is softmax).
    """
    from builder.runner import run_model

    if (input_path is None) == (random_count is None):
        raise click.UsageError("give exactly one of --input and --random")
    if input_key is not None and input_path is None:
        raise click.UsageError("--input-key needs --input")
    suffix = output.lower().rpartition(".")[2] if output is not None and "." in output else ""
    if dask_address is not None:
        if input_path is None or input_key is not None or profile:
            raise click.UsageError(
                "--dask needs --input (a .npy file or a Zarr array), no --profile"
            )
    elif output is not None and suffix not in ("npy", "npz"):
        raise click.UsageError(f"--output must end in .npy or .npz, got {output!r}")
    if output is not None and (dask_address is None or suffix == "npy"):
        _vet_output(output, "'--output'", config=config, weights=weights, input=input_path)
    from builder.engines import attach

    model = _load_model(config)
    attach(model, engine, profile=profile)
    if dask_address is not None:
        from builder.distributed import run_dask

        with _memory_hint(max_memory) as limit:
            run_dask(
                model,
                dask_address,
                str(input_path),
                output,
                weights,
                seed,
                batch_size,
                limit if dask_address.startswith("local") else max_memory,  # remote workers
                click.echo,
            )
        return
    outputs = model.graph.outputs
    if suffix == "npy" and len(outputs) > 1:
        raise click.UsageError(
            f"the model has {len(outputs)} outputs ({', '.join(outputs)}): use --output Y.npz "
            "(one array per output name)"
        )
    with _memory_hint(max_memory) as limit:
        run_model(
            model,
            input_path=input_path,
            input_key=input_key,
            random_count=random_count,
            weights=weights,
            output=output,
            batch_size=batch_size,
            seed=seed,
            max_memory=limit,
            echo=click.echo,
            profile=profile,
            interpolation=interpolation,
        )


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .npz file to write."
)
@click.option(
    "--seed", type=click.IntRange(min=0), help="Initialisation seed (default: the config's seed)."
)
@_max_memory_option("Refuse weights needing more memory than this (activations do not count).")
@_reports_errors
def init(config: str, output: str, seed: int | None, max_memory: int) -> None:
    """Write the initial weights of CONFIG to a .npz file (keys `<layer>/<weight>`).

    Only the weights need memory: a model is never refused for its activation sizes.
    """
    _vet_output(output, "'-o' / '--output'", config=config)
    model = _load_model(config)
    with _memory_hint(max_memory) as limit:
        model.init_weights(seed, limit)
    model.save_weights(output)
    click.echo(f"{output}: {len(model.weight_specs())} arrays, {model.count_params():,} parameters")


@cli.command("import")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The config (.yaml) to write.",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="Weights .npz to write (default: OUTPUT with .npz).",
)
@_max_memory_option("Refuse files whose contents exceed this.")
@_reports_errors
def import_(model: str, output: str, weights: str | None, max_memory: int) -> None:
    """Turn a Keras MODEL (.keras, full-model .h5, or model JSON) into a config and weights.

    The file is read as data (never with Keras); Lambda layers, custom objects and classes
    builder lacks are refused, all listed, and nothing is written.
    """
    from builder.interop.keras_import import import_keras

    with _memory_hint(max_memory) as limit:
        result = import_keras(model, output, weights, limit)
    click.echo(
        f"{output}: written"
        + (f"; weights in {result.weights_path}" if result.weights_path else "")
    )


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="Weights .npz (default: initialise from the seed).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="OUT.keras (Keras 3) or OUT.onnx.",
)
@_reports_errors
def export(config: str, weights: str | None, output: str) -> None:
    """Write CONFIG (with --weights) as a Keras 3 archive (.keras) or an ONNX model (.onnx)."""
    from builder.interop.keras_export import export_model

    model = _load_model(config)
    export_model(model, weights, output)
    kind = "ONNX opset 18" if output.lower().endswith(".onnx") else "Keras 3 archive"
    click.echo(f"{output}: {kind}, {len(model.nodes)} layers, {model.count_params():,} parameters")


@cli.command()
@click.argument("type_name", metavar="[TYPE]", required=False)
@_reports_errors
def layers(type_name: str | None) -> None:
    """List every layer type and activation, or show one TYPE's fields, defaults and formula."""
    from builder.catalogue import catalogue, describe_layer, find

    if type_name is None:
        click.echo(catalogue(), nl=False)
        return
    entry = find(type_name)
    if entry is None:
        from builder.ops.names import ACTIVATION_NAMES
        from builder.spec.layers import TYPE_NAMES
        from builder.spec.messages import suggest

        if type_name in ACTIVATION_NAMES:
            raise click.BadParameter(
                f"{type_name!r} is an activation, not a layer type: write "
                f"activation: {type_name} (or the layer entry - {type_name})",
                param_hint="TYPE",
            )
        raise click.BadParameter(
            f"unknown layer type {type_name!r}"
            + suggest(type_name, TYPE_NAMES)
            + " (`builder layers` lists them)",
            param_hint="TYPE",
        )
    click.echo(describe_layer(entry), nl=False)


def main() -> None:
    """The `builder` executable: stop signals are handled first, so that even Ctrl-C during
    start-up ends with one line and exit status 128 + signal, never a traceback."""
    interrupts.install()
    try:
        cli(prog_name="builder")
    except interrupts.Interrupted as stop:
        interrupts.ignore_stop_signals()
        interrupts.remove_temporaries()
        click.echo(str(stop), err=True)
        sys.exit(stop.exit_status)
    except BrokenPipeError:
        interrupts.quiet_exit_on_closed_stdout()
