"""What the benchmarks ran on: date, CPU, Python, NumPy, the BLAS and its thread count.

Shared by the bench_*.py scripts; importing it loads NumPy but nothing from `builder`.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# Environment variables that change which BLAS kernel or how many threads run.
_BLAS_VARIABLES = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def cpu_model() -> str:
    """`model name` from /proc/cpuinfo plus the vector extensions that matter for GEMM."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return platform.processor() or platform.machine()
    name, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == platform.machine():
            name = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    extensions = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return f"{name} ({', '.join(extensions) or 'no AVX'})"


def blas_pools() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, or [] without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return list(threadpool_info())


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (threadpoolctl), else the environment's setting, else the CPU count."""
    for pool in blas_pools():
        if pool.get("user_api") == "blas":
            return int(pool["num_threads"])
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def blas_description() -> str:
    """One line per BLAS/OpenMP pool (threadpoolctl), else NumPy's build configuration."""
    pools = blas_pools()
    if pools:
        return "; ".join(
            f"{p.get('internal_api')} {p.get('version') or ''} "
            f"({p.get('architecture') or p.get('threading_layer') or p.get('user_api')}, "
            f"{p.get('num_threads')} threads, {os.path.basename(p.get('filepath', ''))})"
            for p in pools
        )
    try:
        config = np.show_config(mode="dicts")  # NumPy >= 1.26
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (from numpy.show_config; threadpoolctl not installed)"
    except Exception:  # older NumPy: no dict mode
        return "unknown (threadpoolctl not installed; see numpy.show_config())"


def source_version(package: Path) -> str:
    """`git 78b7a5b + 5 changed files, sources a1b2c3d4e5`: which code of `package` ran.

    The hash covers the package's .py files as they are on disk, so two runs made while
    someone edits the package can be told apart.
    """
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=package, capture_output=True, text=True, check=True
            ).stdout

        changed = len(git("status", "--porcelain", "--", ".").splitlines())
        head = f"git {git('rev-parse', '--short', 'HEAD').strip()} + {changed} changed files, "
    except (OSError, subprocess.CalledProcessError):
        head = ""
    return f"{head}sources {digest.hexdigest()[:10]}"


def header_lines(extra: dict[str, str] | None = None) -> list[str]:
    """The lines every benchmark prints before its results."""
    settings = (
        ", ".join(f"{v}={os.environ[v]}" for v in _BLAS_VARIABLES if v in os.environ) or "none set"
    )
    lines = [
        f"date:    {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
        f"python:  {sys.version.split()[0]} ({sys.executable})",
        f"numpy:   {np.__version__}",
        f"BLAS:    {blas_description()}",
        f"threads: {blas_threads()} BLAS threads; BLAS environment variables: {settings}",
    ]
    for key, value in (extra or {}).items():
        lines.append(f"{key + ':':<8} {value}")
    return lines


class OtherLoad:
    """How many CPUs other processes kept busy between construction and `cpus()`.

    On a shared machine this is the noise in the timings: (all busy CPU time in
    /proc/stat − the CPU time of this process and its finished children) / wall time.
    None where /proc/stat is missing.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal: everything but idle and iowait.
        busy = sum(fields[:3]) + sum(fields[5:8])
        own = os.times()
        mine = (
            own.user + own.system + own.children_user + own.children_system
        )  # children: waited-for ones
        return busy / os.sysconf("SC_CLK_TCK"), mine, time.monotonic()

    def cpus(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None or end[2] <= self._start[2]:
            return None
        busy, own, wall = (b - a for a, b in zip(self._start, end, strict=False))
        return max(0.0, (busy - own) / wall)


def load_note(cpus: float | None) -> str:
    """`other processes kept 0.93 of 2 CPUs busy` (and a warning when that is a lot)."""
    if cpus is None:
        return "load of other processes unknown"
    total = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    warning = " -- timings are disturbed, rerun on an idle machine" if cpus > 0.1 * total else ""
    return f"other processes kept {cpus:.2f} of {total} CPUs busy while timing{warning}"
