"""`builder run --dask` throughput: local run vs a local Dask cluster of 1 and 2 workers (issue 16).

    python benchmarks/bench_dask.py [--samples 100000] [--batch-size 256] [--config PATH]

On one `.npy` input of N seed-CNN samples (uniform [0, 1), float32), each mode writes a
`.npy` output the way `builder run` does, and reports wall time and samples/s:

- local, BLAS default threads: `run_model`, in this process (what `builder run` does);
- local, 1 BLAS thread: the same in a child process with OPENBLAS_NUM_THREADS=1;
- dask local:1 and local:2: `LocalCluster` of 1 or 2 worker processes, one thread and
  one BLAS thread each; the cluster start is timed apart from the run.

Overhead per chunk = (dask local:1 run - local 1-thread run) / chunks: what Dask adds to
each block (scheduling, reading the rows in the worker, shipping the result back) when the
arithmetic is the same, in wall time and in CPU time of all the run's processes (the one
that other load on a shared machine disturbs least). Every output is compared with the local one (rtol 1e-5). The load
average before and after shows how busy the shared machine was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere without installing builder

from machine import header_lines  # noqa: E402

from builder.config import parse  # noqa: E402
from builder.model import Model  # noqa: E402

SEED_CNN = HERE.parent / "configs" / "seed_cnn.yaml"


def model_of(config: Path) -> Model:
    model = Model.from_spec(parse(str(config)))
    model.init_weights()
    return model


def run_local(config: Path, source: Path, target: Path, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds of `builder run`'s local path (read, forward, streaming write)."""
    from builder.runner import run_model

    model = model_of(config)
    start, cpu = time.perf_counter(), time.process_time()
    run_model(
        model, input_path=str(source), input_key=None, random_count=None, weights=None,
        output=str(target), batch_size=batch, seed=None, max_memory=4 * 1024**3,
        echo=lambda _: None,
    )  # fmt: skip
    return time.perf_counter() - start, time.process_time() - cpu


def run_local_one_thread(
    config: Path, source: Path, target: Path, batch: int
) -> tuple[float, float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, __file__, "--child", str(config), str(source), str(target)]
    done = subprocess.run(
        [*command, str(batch)], env=env, check=True, capture_output=True, text=True
    )
    wall, cpu = json.loads(done.stdout)["seconds"]
    return float(wall), float(cpu)


def run_dask(
    config: Path, source: Path, target: Path, batch: int, workers: int
) -> tuple[float, float, float]:
    """(cluster start, run wall, run CPU) seconds for `--dask local:N`, run as `run_dask` does;
    CPU: the worker processes plus this one (the client and, in-process, the scheduler)."""
    from builder.distributed import compute_to_npy, connect, open_input, predict_dask

    model = model_of(config)
    start = time.perf_counter()
    with connect(f"local:{workers}") as client:
        started = time.perf_counter()
        threads = set(client.run(lambda: os.environ.get("OPENBLAS_NUM_THREADS")).values())
        assert threads == {"1"}, threads  # one BLAS thread per worker, as the settings say
        cpu_before, mine = client.run(time.process_time), time.process_time()
        begin = time.perf_counter()
        y = predict_dask(model, open_input(str(source), batch), batch)
        compute_to_npy(client, y, str(target), progress=False)
        end = time.perf_counter()
        mine = time.process_time() - mine
        cpu_after = client.run(time.process_time)
    workers_cpu = sum(cpu_after[w] - cpu_before[w] for w in cpu_before if w in cpu_after)
    return started - start, end - begin, workers_cpu + mine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--config", type=Path, default=SEED_CNN)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config, source, target, batch = args.child
        print(
            json.dumps({"seconds": run_local(Path(config), Path(source), Path(target), int(batch))})
        )
        return

    n, batch = args.samples, args.batch_size
    chunks = math.ceil(n / batch)
    settings = {
        "config": f"{args.config.name}, {n:,} samples, --batch-size {batch} ({chunks} chunks)",
        "dask": "LocalCluster(processes, 1 thread, OPENBLAS/OMP/MKL_NUM_THREADS=1, no MALLOC_TRIM)",
        "load": f"1-min load average {os.getloadavg()[0]:.2f} before the runs",
    }
    print("\n".join(header_lines(settings)))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "x.npy"
        shape = (n, *model_of(args.config).input_shape)
        np.save(source, np.random.default_rng(0).uniform(0, 1, size=shape).astype("float32"))
        out = {name: Path(folder) / f"{name}.npy" for name in ("local", "local1", "dask1", "dask2")}

        rows: list[tuple[str, float, float, str]] = []
        wall, cpu = run_local(args.config, source, out["local"], batch)
        rows.append(("local (BLAS default threads)", wall, cpu, ""))
        wall1, cpu1 = run_local_one_thread(args.config, source, out["local1"], batch)
        rows.append(("local (1 BLAS thread)", wall1, cpu1, ""))
        for workers in (1, 2):
            start, wall, cpu = run_dask(args.config, source, out[f"dask{workers}"], batch, workers)
            rows.append((f"--dask local:{workers}", wall, cpu, f"cluster start {start:.1f} s"))

        expected = np.load(out["local"])
        for name in ("local1", "dask1", "dask2"):
            np.testing.assert_allclose(np.load(out[name]), expected, rtol=1e-5, atol=1e-6)

    print(f"\n{'mode':<30} {'wall s':>8} {'samples/s':>10} {'CPU s':>8}  note")
    for name, wall, cpu, note in rows:
        print(f"{name:<30} {wall:8.2f} {n / wall:10,.0f} {cpu:8.2f}  {note}")
    _, dask_wall, dask_cpu, _ = rows[2]
    print(f"\noverhead per chunk, (dask local:1 - local 1 thread) / {chunks} chunks: "
          f"wall {(dask_wall - wall1) / chunks * 1e3:.2f} ms, "
          f"CPU {(dask_cpu - cpu1) / chunks * 1e3:.2f} ms")  # fmt: skip
    print("outputs: all equal to the local run within rtol 1e-5")
    print(f"load:    1-min load average {os.getloadavg()[0]:.2f} after the runs")


if __name__ == "__main__":
    main()
