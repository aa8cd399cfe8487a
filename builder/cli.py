"""The `builder` command line. Each command is one function; its docstring is its help.

Errors the user caused (`BuilderError`) become one line per problem on stderr and exit
status 1; usage errors are click's (exit 2). Heavy modules are imported inside the
commands so that `builder validate` never loads the NumPy engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from builder import __version__
from builder.errors import BuilderError

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
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="builder")
def cli() -> None:
    """Turn a YAML model spec into an executable NumPy network (Keras 3 semantics)."""


@cli.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(configs: tuple[str, ...]) -> None:
    """Check each CONFIG; print `CONFIG: ok` or every problem found (exit 1 if any)."""
    from builder.config import parse
    from builder.graph import compile_spec

    failed = False
    for path in configs:
        try:
            model = compile_spec(parse(path))
        except BuilderError as error:
            click.echo(str(error), err=True)
            failed = True
        else:
            for warning in model.graph.warnings:
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

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        from builder.io import write_text_atomic

        write_text_atomic(output, text)


class ByteSize(click.ParamType):
    """A memory size: `4GiB`, `512MB`, `1g`, or a plain number of bytes (powers of 1024)."""

    name = "size"
    _UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(number) :].removesuffix("ib").removesuffix("b")[:1]
        try:
            size = float(number) * self._UNITS[unit]
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size such as 4GiB, 512MB or 1000000", param, ctx)
        if size < 1:
            self.fail(f"{value!r} must be at least one byte", param, ctx)
        return int(size)


def _load_model(config: str) -> Any:
    from builder.config import parse
    from builder.graph import compile_spec

    model = compile_spec(parse(config))
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
    help="Samples per batch for the activation-memory figures.",
)
@_reports_errors
def summarize(config: str, fmt: str, batch_size: int) -> None:
    """Print the Keras-style summary of CONFIG: shapes, parameters, MACs and memory.

    Nothing is allocated and nothing runs: only shapes are inferred.
    """
    report = _load_model(config).summary(batch_size=batch_size)
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
    click.echo((to_mermaid if fmt == "mermaid" else to_dot)(model).rstrip("\n"))


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--input",
    "input_path",
    type=click.Path(),
    help="Input array: .npy (read chunk by chunk, may exceed RAM) or .npz; with --dask, .npy or Zarr.",
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
    type=click.Path(dir_okay=False),
    help="Weights .npz (default: initialise from the seed).",
)
@click.option(
    "--output",
    type=click.Path(),
    help="Write the output array to this .npy file (with --dask, or a Zarr array).",
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
@click.option(
    "--max-memory",
    type=ByteSize(),
    default="4GiB",
    show_default=True,
    help="Refuse work needing more memory than this.",
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
    input_key: str | None,
    random_count: int | None,
    weights: str | None,
    output: str | None,
    batch_size: int | None,
    seed: int | None,
    max_memory: int,
    dask_address: str | None,
) -> None:
    """Run a forward pass of CONFIG on --input X.npy|X.npz or on --random N samples.

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
    model = _load_model(config)
    if dask_address is not None:
        from builder.distributed import run_dask

        if input_path is None or input_key is not None:
            raise click.UsageError("--dask needs --input (a .npy file or a Zarr array)")
        run_dask(model, dask_address, input_path, output, weights, seed, batch_size, max_memory)
        return
    run_model(
        model,
        input_path=input_path,
        input_key=input_key,
        random_count=random_count,
        weights=weights,
        output=output,
        batch_size=batch_size,
        seed=seed,
        max_memory=max_memory,
        echo=click.echo,
    )


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .npz file to write."
)
@click.option(
    "--seed", type=click.IntRange(min=0), help="Initialisation seed (default: the config's seed)."
)
@_reports_errors
def init(config: str, output: str, seed: int | None) -> None:
    """Write the initial weights of CONFIG to a .npz file (keys `<layer>/<weight>`)."""
    model = _load_model(config)
    model.init_weights(seed)
    model.save_weights(output)
    click.echo(f"{output}: {len(model.weight_specs())} arrays, {model.count_params():,} parameters")


def main() -> None:
    cli()
