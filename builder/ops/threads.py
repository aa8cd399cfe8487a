"""Running a kernel's blocks on several threads, each with single-threaded BLAS.

A blocked kernel (im2col convolution) makes many GEMMs of a few MiB. Left to a
multi-threaded BLAS, each GEMM is split across the cores and ends in a barrier: the copy
between GEMMs runs on one core while the others wait, and on a busy machine one
descheduled BLAS thread stalls every GEMM. Giving each core whole blocks instead (its own
patch copy and its own single-threaded GEMM, as oneDNN does) keeps both cores busy for
the whole layer and leaves one join per layer.

`parallel(work, workers)` runs `work` on `workers` threads at once (NumPy's copies and
GEMMs release the GIL) while the BLAS is held at one thread. The BLAS is OpenBLAS, found
among the process's loaded libraries (Linux: /proc/self/maps) and driven through its own
`openblas_set_num_threads`; `workers()` is the BLAS's thread count, so a caller who limited
the BLAS (OPENBLAS_NUM_THREADS=1, threadpoolctl) also limits this. Without OpenBLAS (MKL,
Accelerate, another OS) `workers()` is 1 and kernels run as before, one block at a time
with the BLAS's own threads. The thread count is process-wide: other threads of the
process calling the BLAS while a parallel() runs get one thread too.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

# OpenBLAS's thread-count functions under the names its builds export: plain OpenBLAS,
# its 64-bit-integer build, and the `scipy-openblas` build bundled in NumPy's wheels.
_SETTERS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
)

_lock = threading.Lock()
_active = 0  # parallel() calls running now; the first saves the BLAS thread count
_saved = 1
_local = threading.local()  # `inside`: this thread is one of a parallel() call's threads


class _OpenBLAS:
    """The set/get thread-count functions of the loaded OpenBLAS."""

    def __init__(self, library: ctypes.CDLL, setter: str) -> None:
        self._set = getattr(library, setter)
        self._set.argtypes, self._set.restype = [ctypes.c_int], None
        self._get = getattr(library, setter.replace("set_num", "get_num"))
        self._get.argtypes, self._get.restype = [], ctypes.c_int

    def threads(self) -> int:
        return int(self._get())

    def set_threads(self, count: int) -> None:
        self._set(count)


@cache
def _openblas() -> _OpenBLAS | None:
    """The OpenBLAS NumPy uses, if this process has loaded one (NumPy is imported first)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(p for p in paths if ".so" in p):
        try:
            library = ctypes.CDLL(path)  # already loaded: the same handle, nothing re-runs
        except OSError:
            continue
        for setter in _SETTERS:
            if hasattr(library, setter) and hasattr(library, setter.replace("set_", "get_")):
                return _OpenBLAS(library, setter)
    return None


def workers() -> int:
    """How many threads a blocked kernel may use: the BLAS's thread count, or 1 when the
    BLAS cannot be held at one thread while they run."""
    blas = _openblas()
    if blas is None or getattr(_local, "inside", False):
        return 1  # no BLAS to hold at one thread, or already one of several threads
    with _lock:
        return max(1, _saved if _active else blas.threads())


def parallel(work: Callable[[], None], count: int) -> None:
    """Run `work()` on `count` threads at once (the caller's thread is one of them) with
    the BLAS at one thread meanwhile; re-raise the first exception any of them raised.

    `work` shares its tasks between the threads itself (e.g. by taking them from one
    iterator). Inside it, `workers()` is 1, so nested kernels run on their thread alone.
    Concurrent calls are allowed: the BLAS thread count is restored when the last ends.
    """
    blas = _openblas()
    if count <= 1 or blas is None or getattr(_local, "inside", False):
        work()  # within a worker the helpers may all be busy: never wait for them
        return
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = blas.threads()
            blas.set_threads(1)
        _active += 1
    errors: list[BaseException] = []

    def guarded() -> None:
        _local.inside = True  # what this thread runs uses no further threads
        try:
            work()
        except BaseException as error:  # noqa: BLE001 (re-raised in the caller's thread)
            errors.append(error)
        finally:
            _local.inside = False

    try:
        pool = _pool(count - 1)
        helpers = [pool.submit(guarded) for _ in range(count - 1)]
        guarded()
        for helper in helpers:
            helper.result()
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                blas.set_threads(_saved)
    if errors:
        raise errors[0]


_pools: dict[int, Any] = {}
# A forked child has none of the parent's pool threads: it must make its own pool, or its
# first submitted task would wait forever.
os.register_at_fork(after_in_child=_pools.clear)


def _pool(size: int) -> Any:
    """A lasting pool of `size` helper threads: threads made once keep their malloc arenas,
    where threads made per call left memory growing with the number of calls."""
    from concurrent.futures import ThreadPoolExecutor  # only when kernels run threaded

    with _lock:
        if size not in _pools:
            _pools[size] = ThreadPoolExecutor(size, thread_name_prefix="builder-worker")
        return _pools[size]


def split_batch(forward: Callable[[Any], Any], x: Any) -> Any:
    """forward(x) computed as forward of consecutive parts of the batch on `workers()`
    threads at once, the outputs joined along the batch axis.

    x is an array (N, ...) or a dict of such sharing N; the output likewise. Every sample
    goes through the same kernels as in one call (blocked kernels never mix samples), so
    the result equals forward(x). The whole pass runs in parallel, pooling and
    activations included, with no join between layers; when N is smaller than the
    number of workers, forward(x) runs once and its kernels share their blocks instead.
    """
    first = next(iter(x.values())) if isinstance(x, dict) else x
    n, count = len(first), workers()
    if count <= 1 or n < count:
        return forward(x)
    bounds = [n * i // count for i in range(count + 1)]
    parts: list[Any] = [None] * count
    tasks = iter(range(count))

    def work() -> None:
        for i in tasks:
            a, b = bounds[i], bounds[i + 1]
            part = {k: v[a:b] for k, v in x.items()} if isinstance(x, dict) else x[a:b]
            parts[i] = forward(part)

    parallel(work, count)
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)
