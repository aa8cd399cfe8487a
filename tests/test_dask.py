"""Tests for `builder run --dask` and `predict_dask` on a local Dask cluster.

One `LocalCluster` (2 worker processes, 1 thread each, loopback only) serves the module.
The oracle is the local run, `Model.predict` with the same batch size, a different code
path (no Dask); workers may use fewer BLAS threads, so values agree within 1e-6 relative.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from click.testing import CliRunner, Result
from distributed import Client, LocalCluster

from builder.cli import cli
from builder.config import parse
from builder.distributed import MISSING_EXTRA, run_dask
from builder.model import Model

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = str(ROOT / "configs" / "seed_cnn.yaml")
BATCH = 64


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # HTTP is served anyway; 8787 may be another cluster's
    ) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster) as connected:
        yield connected


def model_of(config: str = SEED_CNN) -> Model:
    model = Model.from_spec(parse(config))
    model.init_weights()
    return model


def digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 28, 28, 1)).astype("float32")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_close(actual: Any, expected: np.ndarray) -> None:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_npy_in_npy_out_equals_local_run(cluster: LocalCluster, tmp_path: Path) -> None:
    x = digits(300)  # 300 = 4 * 64 + 44: the last block is short, as locally
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    result = invoke(
        "run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--output", str(out),
        "--batch-size", str(BATCH), "--dask", cluster.scheduler_address,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}: wrote (300, 3, 3, 64) float32\n"
    assert_close(np.load(out), model_of().predict(x, batch_size=BATCH))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


def test_zarr_in_zarr_out_equals_local_run(cluster: LocalCluster, tmp_path: Path) -> None:
    x = digits(200, seed=1)
    source = zarr.open_array(
        tmp_path / "x.zarr", mode="w", shape=x.shape, chunks=(30, 28, 28, 1), dtype=x.dtype
    )
    source[:] = x  # chunks of 30 rows: the run rechunks to --batch-size
    out = tmp_path / "y.zarr"
    args = ["run", SEED_CNN, "--input", str(tmp_path / "x.zarr"), "--output", str(out)]
    result = invoke(*args, "--batch-size", str(BATCH), "--dask", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    written = zarr.open_array(out, mode="r")
    assert written.chunks == (BATCH, 3, 3, 64)  # one block, one chunk: no two writers meet
    assert_close(written[:], model_of().predict(x, batch_size=BATCH))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zarr", "y.zarr"]


def test_zarr_url_output_replaces_an_existing_array(cluster: LocalCluster, tmp_path: Path) -> None:
    x = digits(100, seed=2)
    np.save(tmp_path / "x.npy", x)
    zarr.open_array(tmp_path / "y.zarr", mode="w", shape=(1,), dtype="int8")  # an older result
    url = (tmp_path / "y.zarr").as_uri()  # file://: the fsspec path, as for object stores
    args = ["run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--output", url]
    result = invoke(*args, "--batch-size", "32", "--dask", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    assert_close(zarr.open_array(url, mode="r")[:], model_of().predict(x, batch_size=32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.zarr"]


def test_a_folder_that_is_not_zarr_is_never_replaced(cluster: LocalCluster, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", digits(10))
    (tmp_path / "mine.zarr").mkdir()
    (tmp_path / "mine.zarr" / "notes.txt").write_text("keep")
    args = [
        "run",
        SEED_CNN,
        "--input",
        str(tmp_path / "x.npy"),
        "--output",
        str(tmp_path / "mine.zarr"),
    ]
    result = invoke(*args, "--dask", cluster.scheduler_address)
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"{tmp_path / 'mine.zarr'}: exists and is not a Zarr array; refusing to replace it\n"
    )
    assert (tmp_path / "mine.zarr" / "notes.txt").read_text() == "keep"


def test_printed_output_without_output_file(cluster: LocalCluster, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", digits(5))
    result = invoke(
        "run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--dask", cluster.scheduler_address
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("output: shape (5, 3, 3, 64), dtype float32\n")


def test_wrong_input_shape_is_one_line(cluster: LocalCluster, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 28, 28, 3), dtype="float32"))
    result = invoke(
        "run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--dask", cluster.scheduler_address
    )
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"{tmp_path / 'x.npy'}: input must have shape (None, 28, 28, 1), got (4, 28, 28, 3)\n"
    )


def test_predict_dask_ships_the_model_as_one_key() -> None:
    import dask.array as da

    model, x = model_of(), digits(130, seed=3)
    y = model.predict_dask(da.from_array(x, chunks=(50, 28, 28, 1)), batch_size=40)
    graph = dict(y.__dask_graph__())
    holding = [
        key for key, node in graph.items() if isinstance(getattr(node, "value", None), Model)
    ]
    assert len(holding) == 1  # the model is data in the graph once, not in each task
    blocks = [key for key in graph if isinstance(key, tuple) and key[0] == y.name]
    assert len(blocks) == 4  # 130 rows in blocks of 40: 40, 40, 40, 10
    assert all(holding[0] in graph[key].dependencies for key in blocks)
    assert y.chunks[0] == (40, 40, 40, 10)
    # without a cluster too (Dask's synchronous scheduler): a Python API, not only a CLI path
    assert_close(y.compute(scheduler="sync"), model.predict(x, batch_size=40))


def written_chunks(folder: Path) -> list[Path]:
    """Chunk files (v3 `c/0/0/0/0`, v2 `0.0.0.0`) under a temporary Zarr output."""
    found = folder.glob("y.zarr.partial-*/**/*")
    return [p for p in found if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs")]


def test_killed_worker_still_gives_the_complete_output(client: Client, tmp_path: Path) -> None:
    x = digits(4000, seed=4)
    np.save(tmp_path / "x.npy", x)
    out = str(tmp_path / "y.zarr")
    failures: list[BaseException] = []

    def work() -> None:
        try:
            run_dask(
                model_of(),
                client.scheduler.address,
                str(tmp_path / "x.npy"),
                out,
                batch_size=50,
                echo=print,
            )
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    running = threading.Thread(target=work)
    running.start()
    victim = next(iter(client.run(os.getpid).values()))
    while not written_chunks(tmp_path):  # a block is written: the run is under way
        assert running.is_alive(), failures
        time.sleep(0.005)
    os.kill(victim, signal.SIGKILL)
    killed_mid_run = running.is_alive()
    running.join(timeout=60)
    assert killed_mid_run and not running.is_alive() and not failures
    assert_close(zarr.open_array(out, mode="r")[:], model_of().predict(x, batch_size=50))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.zarr"]
    assert victim not in client.run(os.getpid).values()
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it for the tests after


def test_ctrl_c_cancels_and_leaves_no_output(cluster: LocalCluster, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", digits(4000, seed=5))
    command = [
        sys.executable, "-m", "builder", "run", SEED_CNN, "--input", str(tmp_path / "x.npy"),
        "--output", str(tmp_path / "y.npy"), "--batch-size", "40", "--dask", cluster.scheduler_address,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    header = 128
    while not any(p.stat().st_size > header for p in tmp_path.glob(".*.part")):
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and stderr == "interrupted by SIGINT\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_unreachable_scheduler_is_one_line_and_fast(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    np.save(tmp_path / "x.npy", digits(2))
    address = f"tcp://127.0.0.1:{port}"
    result = invoke("run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--dask", address)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"--dask {address}: cannot reach the scheduler (")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_bad_local_worker_count(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", digits(2))
    result = invoke("run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--dask", "local:0")
    assert result.exit_code == 1
    assert result.stderr == "--dask local:0: expected local or local:N with N >= 1\n"


def test_dask_needs_an_input_file() -> None:
    result = invoke("run", SEED_CNN, "--random", "3", "--dask", "local:1")
    assert result.exit_code == 2
    assert "--dask needs --input" in result.stderr


def test_missing_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("dask", "dask.array", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # `import` of these now raises ImportError
    np.save(tmp_path / "x.npy", digits(2))
    result = invoke("run", SEED_CNN, "--input", str(tmp_path / "x.npy"), "--dask", "local:1")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "builder run --dask needs the 'dask' extra: pip install \"yaml-model-builder[dask]\"\n"
    )
    assert MISSING_EXTRA in result.stderr


def test_a_failing_task_is_one_line_and_leaves_no_output(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    source = zarr.open_array(
        tmp_path / "x.zarr", mode="w", shape=(20, 28, 28, 1), chunks=(10, 28, 28, 1), dtype="f4"
    )
    source[:] = digits(20)
    root = tmp_path / "x.zarr"
    chunk = next(p for p in (root / "c" / "1" / "0" / "0" / "0", root / "1.0.0.0") if p.exists())
    chunk.write_bytes(b"not a compressed chunk")  # the second block cannot be decoded
    args = [
        "run",
        SEED_CNN,
        "--input",
        str(tmp_path / "x.zarr"),
        "--output",
        str(tmp_path / "y.zarr"),
    ]
    result = invoke(*args, "--batch-size", "10", "--dask", cluster.scheduler_address)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"--dask {cluster.scheduler_address}: the run failed: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zarr"]


def test_predict_dask_runs_on_the_models_engine(cluster: LocalCluster) -> None:
    # the engine travels with the model: the workers build their own onnxruntime session
    import dask.array as da

    from builder.engines import attach

    reference, fast = model_of(), model_of()
    attach(fast, "onnxruntime")
    x = digits(90, seed=8)
    fast.predict(x[:2])  # a built session must not be pickled to the workers
    with Client(cluster) as client:
        y = client.compute(fast.predict_dask(da.from_array(x, chunks=(30, 28, 28, 1)))).result()
    want = reference.predict(x, batch_size=30)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
