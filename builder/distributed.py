"""`builder run --dask`: the forward pass as a Dask array computation on a cluster.

    y = model(x), x: (N, *input_shape) chunked (B, *input_shape) -> y: (N, *output_shape)
    chunked (B, *output_shape); block i is one `model.forward` of rows [iB, (i+1)B).

Each block is exactly the chunk the local run computes with `--batch-size B`, so the result
equals `model.predict(x, batch_size=B)`. The model (layers and weights) is a single key of
the graph: a worker receives it once and every block it runs reuses it, and a worker that
dies takes nothing with it that the graph cannot recompute, so Dask reschedules its blocks.
Dask, distributed and zarr are the `[dask]` extra and are imported only here, lazily.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from builder.errors import BuilderError, DataError, missing_extra
from builder.io import load_array, write_npy_streaming
from builder.layers.base import format_shape
from builder.model import DEFAULT_MAX_MEMORY, Model

MISSING_EXTRA = str(missing_extra("builder run --dask", "dask"))

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a remote scheduler before giving up."""

_METADATA = ("zarr.json", ".zarray", ".zgroup", ".zattrs")
"""Files that make a folder a Zarr array (v3, v2); their presence is what 'exists' means."""


class ClusterError(BuilderError):
    """The Dask scheduler cannot be reached or the cluster cannot start."""


def require_dask() -> Any:
    """`dask.array`, or a BuilderError saying which extra to install."""
    try:
        import dask.array as da
        import distributed  # noqa: F401
    except ImportError:
        raise missing_extra("builder run --dask", "dask") from None
    return da


def _require_zarr() -> None:
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise missing_extra("builder run --dask", "dask") from None


# --- the computation -----------------------------------------------------------------


def _check_input(model: Model, shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    if np.dtype(dtype).kind not in "biuf":
        raise DataError(f"{name}: input must hold real numbers, got dtype {dtype}")
    if tuple(shape[1:]) != model.input_shape or len(shape) < 1:
        raise DataError(
            f"{name}: input must have shape {format_shape(model.input_shape)}, got {tuple(shape)}"
        )


# --- inputs --------------------------------------------------------------------------


def _is_url(path: str) -> bool:
    return "://" in path


def is_zarr(path: str) -> bool:
    """A Zarr array is a folder (or URL) holding Zarr metadata, or any name ending in .zarr."""
    if path.rstrip("/").endswith(".zarr") or _is_url(path):
        return True
    return any(os.path.exists(os.path.join(path, name)) for name in _METADATA)


def open_input(path: str, chunk: int) -> Any:
    """The input as a Dask array chunked `chunk` rows at a time, read lazily on the workers.

    `.npy`: each block reads its rows from the file (the same path on every machine).
    Zarr: a folder or any URL that fsspec opens (`s3://`, `gs://`, `file://`).
    """
    da = require_dask()
    if is_zarr(path):
        _require_zarr()
        try:
            x = da.from_zarr(path)
        except Exception as error:  # zarr/fsspec raise many types; all mean "cannot read"
            raise DataError(f"{path}: cannot open as a Zarr array: {error}") from None
        return x.rechunk({0: chunk, **{axis: -1 for axis in range(1, x.ndim)}})
    if not path.endswith(".npy"):
        raise DataError(f"{path}: --dask reads a .npy file or a Zarr array, got neither")
    reader = load_array(os.path.abspath(path))
    if not hasattr(reader, "row_items"):  # Fortran order or 0-d: memory-mapped, not row-readable
        raise DataError(f"{path}: --dask needs a C-ordered .npy file with a batch axis")
    rows = _NpyRows(reader)
    return da.from_array(
        rows,
        chunks=(chunk, *reader.shape[1:]),
        name=f"builder-input-{uuid.uuid4().hex}",
        lock=False,
        asarray=False,
        meta=np.empty((0,) * reader.ndim, dtype=reader.dtype),
    )


class _NpyRows:
    """`NpyReader` with the `x[tuple of slices]` indexing Dask asks of an array-like."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.shape, self.dtype, self.ndim = reader.shape, reader.dtype, reader.ndim

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        rows = self.reader[index[0]]
        return rows[(slice(None),) + tuple(index[1:])]


# --- the cluster ---------------------------------------------------------------------


class _QuietCancel(logging.Filter):
    """Drops the traceback Dask's `sync` logs when Ctrl-C lands before its future exists
    (its cancel callback then reads an unassigned name); the interrupt itself goes on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "sync.<locals>.cancel" not in record.getMessage()


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """`_connect` with Dask's Ctrl-C race kept off the user's terminal."""
    quiet, logger = _QuietCancel(), logging.getLogger("tornado.application")
    logger.addFilter(quiet)
    try:
        with _connect(address) as client:
            yield client
    finally:
        logger.removeFilter(quiet)


@contextlib.contextmanager
def _connect(address: str) -> Iterator[Any]:
    """A `distributed.Client` for `tcp://host:port` (an existing scheduler) or `local[:N]`
    (a LocalCluster of N single-threaded worker processes; N defaults to the cores)."""
    require_dask()
    from distributed import Client, LocalCluster

    if address == "local" or address.startswith("local:"):
        import dask

        workers = _local_workers(address)
        # Dask's nannies set MALLOC_TRIM_THRESHOLD_, which turns off glibc's adaptive mmap
        # threshold: every large activation is then a fresh mmap, and a worker spent ~1.6x
        # the CPU of a local run on the seed CNN (bench_dask.py). None unsets it.
        untrimmed = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
        with (
            dask.config.set(untrimmed),
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # a free port: Dask serves HTTP even without a dashboard, and 8787 may be taken
                dashboard_address=":0",
                # one BLAS thread per worker process, so workers do not oversubscribe cores
                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    _check_reachable(address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"--dask {address}: cannot reach the scheduler: {error}") from None
    with client:
        yield client


def _local_workers(address: str) -> int:
    _, _, count = address.partition(":")
    if not count:
        return os.cpu_count() or 1
    if not count.isdigit() or int(count) < 1:
        raise ClusterError(f"--dask {address}: expected local or local:N with N >= 1")
    return int(count)


def _check_reachable(address: str) -> None:
    """Fail in one line, at once, when nothing listens at a tcp:// address (Dask itself
    would retry until its connect timeout); other schemes (tls://, ...) go straight to Dask."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp":
        return
    try:
        port = parts.port or 8786
        with socket.create_connection((parts.hostname or "", port), timeout=CONNECT_TIMEOUT):
            pass
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ClusterError(
            f"--dask {address}: cannot reach the scheduler ({reason}); is `dask scheduler` running there?"
        ) from None


# --- outputs -------------------------------------------------------------------------


def compute_to_npy(client: Any, y: Any, path: str, progress: bool) -> None:
    """Write y to a `.npy` from the client, block by block in order, atomically: blocks
    are computed in parallel, fetched in order and released once written."""
    futures = client.compute(list(y.to_delayed().ravel()))
    try:
        shown = _show_progress(futures) if progress else None

        def parts() -> Iterator[np.ndarray]:
            for future in futures:
                part = future.result()
                future.release()
                yield part

        write_npy_streaming(path, tuple(y.shape), y.dtype, parts())
        if shown is not None:
            shown.join(timeout=10.0)
    except BaseException:
        client.cancel(futures)
        raise


def compute_to_zarr(client: Any, y: Any, target: str, progress: bool) -> None:
    """Workers write y's blocks (one Zarr chunk each) under a temporary name beside
    `target`, which is renamed onto `target` only when every block is written."""
    _require_zarr()
    da = require_dask()
    _refuse_non_zarr(target)
    temporary = f"{target.rstrip('/')}.partial-{uuid.uuid4().hex[:12]}"
    future = None
    try:
        # fsspec's local file system makes no folders unless asked; object stores need none
        local = {"auto_mkdir": True} if target.startswith("file://") else None
        stored = da.to_zarr(y, temporary, storage_options=local, compute=False)
        future = client.compute(stored)
        if progress:
            _show_progress([future]).join()
        future.result()
        _replace(temporary, target)
    except BaseException:
        if future is not None:
            client.cancel([future])
        _remove(temporary)
        raise


def _show_progress(futures: list[Any]) -> threading.Thread:
    """Dask's text progress bar, on stderr, drawn from a thread while the client works."""
    from distributed import progress

    def draw() -> None:
        with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(Exception):
            progress(futures, multi=False)

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    return thread


def _refuse_non_zarr(target: str) -> None:
    """Never replace something that is not a Zarr array (a user's folder of files)."""
    if _is_url(target):
        fs, path = _filesystem(target)
        present = fs.exists(path)
        is_array = any(fs.exists(f"{path.rstrip('/')}/{name}") for name in _METADATA)
    else:
        present = os.path.lexists(target)
        is_array = any(os.path.exists(os.path.join(target, name)) for name in _METADATA)
    if present and not is_array:
        raise DataError(f"{target}: exists and is not a Zarr array; refusing to replace it")


def _filesystem(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs  # type: ignore[import-untyped]

    return url_to_fs(url)


def _replace(temporary: str, target: str) -> None:
    """Put the finished array under `target`: a rename on a local disk; on an object store,
    fsspec's move (a copy, not atomic, but only once every chunk exists)."""
    if _is_url(target):
        fs, path = _filesystem(target)
        _, source = _filesystem(temporary)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        fs.mv(source, path, recursive=True)
        return
    old = None
    if os.path.lexists(target):
        old = f"{target.rstrip('/')}.old-{uuid.uuid4().hex[:12]}"
        os.rename(target, old)
    os.rename(temporary, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove(temporary: str) -> None:
    with contextlib.suppress(Exception):
        if _is_url(temporary):
            fs, path = _filesystem(temporary)
            if fs.exists(path):
                fs.rm(path, recursive=True)
        else:
            shutil.rmtree(temporary, ignore_errors=True)


# --- `builder run --dask` ------------------------------------------------------------


def run_dask(
    model: Model,
    address: str,
    input_path: str,
    output: str | None,
    weights: str | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    echo: Callable[[str], Any] = print,
) -> np.ndarray | None:
    """`builder run --dask ADDRESS`: reads `input_path` (.npy or Zarr), writes `output`
    (.npy by the client, Zarr by the workers) or returns the output for printing.
    `max_memory` bounds each worker's weights plus one block's work."""
    require_dask()
    if output is not None and not (output.endswith(".npy") or is_zarr(output)):
        raise DataError(
            f"{output}: --dask writes a .npy file or a Zarr array (a name ending in .zarr, or a URL)"
        )
    chunk = model.check_memory(batch_size or model.default_chunk(), max_memory)
    if weights is not None:
        model.load_weights(weights)
    else:
        model.init_weights(seed, max_memory)
    x = open_input(input_path, chunk)
    _check_input(model, x.shape, x.dtype, input_path)
    y = model.predict_dask(x, chunk, max_memory)
    if output is None and model.output_bytes(x.shape[0]) > max_memory:
        raise DataError("printing needs the whole output in memory; use --output")
    progress = sys.stderr.isatty()
    with connect(address) as client:
        try:
            if output is None:
                from builder.runner import preview

                result = np.asarray(client.compute(y).result())
                echo(preview(model, result))
                return result
            if is_zarr(output):
                compute_to_zarr(client, y, output, progress)
            else:
                compute_to_npy(client, y, output, progress)
        except BuilderError:
            raise
        except Exception as error:  # a task or the cluster failed: Dask's retries are spent
            raise ClusterError(f"--dask {address}: the run failed: {_first_line(error)}") from None
    echo(f"{output}: wrote {tuple(y.shape)} {model.dtype}")
    return None


def _first_line(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
