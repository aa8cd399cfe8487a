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
    both = threading.Barrier(2, timeout=10)

    def work() -> None:
        calls.append(threading.get_ident())
        both.wait()  # both threads are running
        if len(set(calls)) == 2 and threading.get_ident() == calls[1]:
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
        assert threads.workers() == 1  # a thread of a parallel call uses no more threads

    threads.parallel(lambda: threads.parallel(inner, 2), 2)  # the inner call runs inline
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


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_split_batch_joins_the_parts_in_order(fake_blas, n):
    # The oracle is the function applied to the whole batch at once.
    fake_blas.count = 3
    x = np.arange(n * 4, dtype=np.float64).reshape(n, 2, 2)
    seen: list[int] = []

    def forward(part):
        seen.append(len(part))
        assert threads.workers() == 1 or len(part) == n  # no threads within threads
        return {"a": part.sum(axis=(1, 2)), "b": part * 2} if n != 2 else part[:, 0] + 1

    y = threads.split_batch(forward, x)
    if n == 2:  # fewer samples than workers: one call
        np.testing.assert_array_equal(y, x[:, 0] + 1)
        assert seen == [2]
        return
    np.testing.assert_array_equal(y["a"], x.sum(axis=(1, 2)))
    np.testing.assert_array_equal(y["b"], x * 2)
    assert sorted(seen) == (sorted([n // 3 + (i < n % 3) for i in range(3)]) if n >= 3 else [n])


def test_split_batch_of_a_dict_input(fake_blas):
    fake_blas.count = 2
    xs = {"p": np.arange(6.0).reshape(6, 1), "q": np.arange(6.0, 12.0).reshape(6, 1)}
    y = threads.split_batch(lambda d: d["p"] + d["q"], xs)
    np.testing.assert_array_equal(y, xs["p"] + xs["q"])


def test_model_predict_on_split_batches_equals_one_thread(fake_blas):
    # Same kernels on every sample whichever thread runs it: bit for bit.
    import builder

    model = builder.load(
        "input_shape: [10, 10, 2]\nlayers:\n"
        "  - Conv2D: {filters: 4, kernel_size: 3, activation: relu}\n"
        "  - MaxPooling2D: {pool_size: 2}\n  - Flatten\n  - Dense: {units: 3, activation: softmax}\n"
    )
    x = np.random.default_rng(0).standard_normal((9, 10, 10, 2)).astype(np.float32)
    fake_blas.count = 1
    one = model.predict(x)
    fake_blas.count = 2
    np.testing.assert_array_equal(model.predict(x), one)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_makes_its_own_pool(fake_blas):
    import multiprocessing

    fake_blas.count = 2
    threads.parallel(lambda: None, 2)  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        assert pool.apply_async(_sum_in_threads).get(timeout=30) == 2


def _sum_in_threads() -> int:
    threads._openblas = lambda: FakeBLAS(2)  # the child's own module state
    done: list[int] = []
    threads.parallel(lambda: done.append(1), 2)
    return len(done)
