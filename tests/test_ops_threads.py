"""Blocked convolution on several worker threads, and the BLAS thread count around them.

Oracle: the naive loop convolution of test_ops_conv (TensorFlow's definition, float64).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from builder.ops import conv, threads
from builder.ops.conv import conv2d
from tests.test_ops_conv import TOLERANCE, naive_conv2d, random_case


class FakeBLAS:
    """Stands in for OpenBLAS: records thread counts and who ran while at one thread."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.history: list[int] = []

    def threads(self) -> int:
        return self.count

    def set_threads(self, count: int) -> None:
        self.count = count
        self.history.append(count)


@pytest.fixture
def fake_blas(monkeypatch: pytest.MonkeyPatch) -> FakeBLAS:
    blas = FakeBLAS(2)
    monkeypatch.setattr(threads, "_openblas", lambda: blas)
    return blas


@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("block_bytes", [1, 700, 4 * 2**20])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_worker_threads_give_the_naive_result(
    monkeypatch, fake_blas, workers, block_bytes, padding
):
    # Tiny blocks make row bands and many image blocks; more workers than blocks is allowed.
    monkeypatch.setattr(conv, "_BLOCK_BYTES", block_bytes)
    fake_blas.count = workers
    counts: list[int] = []
    parallel = threads.parallel

    def recording_parallel(work, count: int) -> None:
        counts.append(count)
        parallel(work, count)

    monkeypatch.setattr(threads, "parallel", recording_parallel)
    cases = [
        ((7, 9, 8, 4), (3, 2, 2, 4), (2, 1), (1, 2), 2, np.float64),
        ((9, 6, 7, 3), (3, 3, 3, 5), (1, 1), (1, 1), 1, np.float64),
        ((5, 8, 8, 2), (3, 3, 2, 4), (2, 2), (1, 1), 1, np.float32),
    ]
    for shape, kernel_shape, strides, dilation, groups, dtype in cases:
        x, kernel, bias = random_case(shape, kernel_shape, dtype, seed=len(shape) + groups)
        y = conv2d(x, kernel, bias, strides, padding, dilation, groups)
        expected = naive_conv2d(x, kernel, bias, strides, padding, dilation, groups)
        np.testing.assert_allclose(y, expected, **TOLERANCE[dtype])
    assert max(counts) >= 2  # the blocks were offered to several threads
    assert fake_blas.count == workers  # restored after every call
    assert fake_blas.history[::2] == [1] * (len(fake_blas.history) // 2)  # 1 while working


def test_threads_and_sequential_agree_bit_for_bit(monkeypatch, fake_blas):
    # Every block is the same copy and GEMM whichever thread runs it.
    monkeypatch.setattr(conv, "_BLOCK_BYTES", 2000)
    x, kernel, bias = random_case((8, 10, 10, 3), (3, 3, 3, 6), np.float64, seed=5)
    fake_blas.count = 2
    parallel = conv2d(x, kernel, bias, (1, 1), "same")
    fake_blas.count = 1
    sequential = conv2d(x, kernel, bias, (1, 1), "same")
    np.testing.assert_array_equal(parallel, sequential)


def test_an_error_in_a_worker_reaches_the_caller_and_restores_the_blas(fake_blas):
    calls = []

    def work() -> None:
        calls.append(threading.get_ident())
        if len(calls) == 2:
            raise RuntimeError("worker failed")

    with pytest.raises(RuntimeError, match="worker failed"):
        threads.parallel(work, 2)
    assert len(set(calls)) == 2
    assert fake_blas.history == [1, 2]


def test_without_a_controllable_blas_work_runs_once_in_the_caller(monkeypatch):
    monkeypatch.setattr(threads, "_openblas", lambda: None)
    calls = []
    threads.parallel(lambda: calls.append(threading.get_ident()), 4)
    assert calls == [threading.get_ident()]
    assert threads.workers() == 1


def test_nested_calls_restore_the_count_once_the_last_ends(fake_blas):
    def inner() -> None:
        assert fake_blas.count == 1
        assert threads.workers() == 2  # what the caller had, not the 1 of the working state

    threads.parallel(lambda: threads.parallel(inner, 2), 2)
    assert fake_blas.count == 2
    assert fake_blas.history == [1, 2]


def test_the_real_blas_count_is_unchanged_by_a_convolution():
    # On this machine NumPy's OpenBLAS is found; elsewhere workers() is 1 and nothing changes.
    before = threads.workers()
    x, kernel, bias = random_case((16, 12, 12, 3), (3, 3, 3, 8), np.float32, seed=1)
    conv2d(x, kernel, bias, (1, 1), "same")
    assert threads.workers() == before
    blas = threads._openblas()
    if blas is not None:
        assert blas.threads() == before
