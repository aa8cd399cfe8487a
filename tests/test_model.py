"""Tests for builder.model: the example models end to end, predict/chunking, input checks, memory.

The seed CNN and the Keras MNIST convnet are compared with a reimplementation written
here with direct loops (one output cell at a time), using the model's own weights; shapes
and parameter counts are written by hand from the Keras formulas.
"""

from __future__ import annotations

import math
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from builder.config import parse
from builder.errors import DataError, ResourceError
from builder.model import DEFAULT_MAX_MEMORY, Model

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = ROOT / "configs" / "seed_cnn.yaml"
MNIST = ROOT / "configs" / "mnist_convnet.yaml"


def build(text: str) -> Model:
    return Model.from_spec(parse(textwrap.dedent(text)))


def float64_copy(path: Path) -> Model:
    """The config at `path` with `dtype: float64` (so comparisons can be tight)."""
    text = path.read_text(encoding="utf-8")
    assert "dtype:" not in text
    return Model.from_spec(parse(text.rstrip("\n") + "\ndtype: float64\n"))


def images(n: int, seed: int = 0, dtype: type = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 28, 28, 1)).astype(dtype)


# --------------------------------------------------------------------------- naive reference


def naive_conv_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Stride 1, no padding: out[n, i, j, f] = Σ_{a,b,c} x[n, i+a, j+b, c]·kernel[a, b, c, f] + bias[f]."""
    n, height, width, _ = x.shape
    kh, kw, _, filters = kernel.shape
    out = np.empty((n, height - kh + 1, width - kw + 1, filters))
    for i in range(height - kh + 1):
        for j in range(width - kw + 1):
            patch = x[:, i : i + kh, j : j + kw, :]
            out[:, i, j, :] = (patch[..., np.newaxis] * kernel[np.newaxis]).sum(
                axis=(1, 2, 3)
            ) + bias
    return out


def naive_max_pool_2x2(x: np.ndarray) -> np.ndarray:
    n, height, width, channels = x.shape
    out = np.empty((n, height // 2, width // 2, channels))
    for i in range(height // 2):
        for j in range(width // 2):
            out[:, i, j, :] = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, :].max(axis=(1, 2))
    return out


def leaky(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x >= 0, x, alpha * x)


def seed_cnn_reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    y = naive_max_pool_2x2(leaky(naive_conv_valid(x, w["conv2d/kernel"], w["conv2d/bias"]), 0.05))
    y = naive_max_pool_2x2(
        leaky(naive_conv_valid(y, w["conv2d_1/kernel"], w["conv2d_1/bias"]), 0.05)
    )
    return leaky(naive_conv_valid(y, w["conv2d_2/kernel"], w["conv2d_2/bias"]), 0.05)


def mnist_reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    y = naive_max_pool_2x2(np.maximum(naive_conv_valid(x, w["conv2d/kernel"], w["conv2d/bias"]), 0))
    y = naive_max_pool_2x2(
        np.maximum(naive_conv_valid(y, w["conv2d_1/kernel"], w["conv2d_1/bias"]), 0)
    )
    flat = np.array(
        [
            [y[n, h, v, c] for h in range(5) for v in range(5) for c in range(64)]
            for n in range(len(y))
        ]
    )
    logits = flat @ w["dense/kernel"] + w["dense/bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- the seed CNN


def test_seed_cnn_shapes_and_params() -> None:
    model = Model.from_spec(parse(SEED_CNN))
    assert [node.output_shape for node in model.nodes] == [
        (26, 26, 32),
        (26, 26, 32),
        (13, 13, 32),
        (11, 11, 64),
        (11, 11, 64),
        (5, 5, 64),
        (3, 3, 64),
        (3, 3, 64),
    ]
    assert [node.name for node in model.nodes] == [
        "conv2d",
        "leaky_re_lu",
        "max_pooling2d",
        "conv2d_1",
        "leaky_re_lu_1",
        "max_pooling2d_1",
        "conv2d_2",
        "leaky_re_lu_2",
    ]
    assert model.count_params() == 320 + 18_496 + 36_928 == 55_744
    assert model.count_params(trainable=False) == 0
    assert {k: v.shape for k, v in model.weights.items()} == {
        "conv2d/kernel": (3, 3, 1, 32),
        "conv2d/bias": (32,),
        "conv2d_1/kernel": (3, 3, 32, 64),
        "conv2d_1/bias": (64,),
        "conv2d_2/kernel": (3, 3, 64, 64),
        "conv2d_2/bias": (64,),
    }
    y = model(images(2, dtype=np.float32))
    assert y.shape == (2, 3, 3, 64) and y.dtype == np.float32


def test_seed_cnn_matches_naive_reference_float64() -> None:
    model = float64_copy(SEED_CNN)
    x = images(3)
    y = model(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, seed_cnn_reference(x, model.weights), rtol=1e-10, atol=1e-12)


def test_seed_cnn_float32_close_to_float64_reference() -> None:
    model = Model.from_spec(parse(SEED_CNN))
    x = images(2, seed=1)
    weights = {k: v.astype(np.float64) for k, v in model.weights.items()}
    np.testing.assert_allclose(
        model(x.astype(np.float32)), seed_cnn_reference(x, weights), rtol=1e-4, atol=1e-5
    )


# --------------------------------------------------------------------------- the MNIST convnet


def test_mnist_convnet_params_and_softmax() -> None:
    model = Model.from_spec(parse(MNIST))
    assert model.count_params() == (9 * 32 + 32) + (9 * 32 * 64 + 64) + (1600 * 10 + 10) == 34_826
    assert [node.output_shape for node in model.nodes] == [
        (26, 26, 32),
        (13, 13, 32),
        (11, 11, 64),
        (5, 5, 64),
        (1600,),
        (1600,),
        (10,),
    ]
    y = model(images(5, dtype=np.float32))
    assert y.shape == (5, 10) and y.dtype == np.float32
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=1), np.ones(5), rtol=1e-5)


def test_mnist_convnet_matches_naive_reference_float64() -> None:
    model = float64_copy(MNIST)
    x = images(2, seed=2)
    np.testing.assert_allclose(model(x), mnist_reference(x, model.weights), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- predict and chunking


# BLAS may pick a different GEMM kernel for a different number of rows (OpenBLAS uses gemv
# for one row and small-matrix kernels for a few), so chunked results may differ from the
# full batch in the last bits; they must agree to a few units in the last place.
CHUNK_TOLERANCE = {
    np.float32: {"rtol": 1e-5, "atol": 1e-6},
    np.float64: {"rtol": 1e-12, "atol": 1e-13},
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", [SEED_CNN, MNIST])
def test_chunking_does_not_change_numbers(config: Path, dtype: type) -> None:
    model = Model.from_spec(parse(config)) if dtype is np.float32 else float64_copy(config)
    x = images(10, seed=3, dtype=dtype)
    full = model.predict(x)
    assert full.dtype == dtype
    assert np.array_equal(model(x), full)
    assert np.array_equal(model.predict(x, batch_size=10), full)
    assert np.array_equal(model.predict(x, batch_size=64), full)
    for batch_size in (1, 3, 7):
        np.testing.assert_allclose(
            model.predict(x, batch_size=batch_size),
            full,
            **CHUNK_TOLERANCE[dtype],
            err_msg=f"batch_size={batch_size}",
        )
    # the same chunk size always gives the same bits
    assert np.array_equal(model.predict(x, batch_size=3), model.predict(x, batch_size=3))


def test_chunking_is_bitwise_identical_without_gemm() -> None:
    # No matrix product: every output element is computed the same way whatever the chunk.
    model = build("""\
        input_shape: [9, 9, 3]
        layers:
          - BatchNormalization
          - MaxPooling2D: {pool_size: 3, strides: 2, padding: same}
          - ELU
          - AveragePooling2D: {pool_size: 2, padding: same}
          - Softmax
        """)
    x = np.random.default_rng(8).normal(size=(10, 9, 9, 3)).astype(np.float32)
    full = model.predict(x)
    for batch_size in (1, 3, 7):
        assert np.array_equal(model.predict(x, batch_size=batch_size), full), batch_size


def test_predict_splits_when_memory_is_short() -> None:
    model = Model.from_spec(parse(MNIST))
    x = images(9, seed=4, dtype=np.float32)
    expected = model.predict(x)
    per_sample = model.work_bytes_per_sample()
    # fixed: the conv's patch blocks, the same whatever the chunk size
    limit = model.weight_bytes() + model.fixed_work_bytes() + 2 * per_sample + per_sample // 2
    assert model.check_memory(9, limit) == 2
    chunks = [(start, len(part)) for start, part in model.predict_chunks(x, 9, limit)]
    assert chunks == [(0, 2), (2, 2), (4, 2), (6, 2), (8, 1)]
    np.testing.assert_allclose(
        model.predict(x, batch_size=9, max_memory=limit), expected, **CHUNK_TOLERANCE[np.float32]
    )


def test_empty_batch() -> None:
    model = Model.from_spec(parse(MNIST))
    y = model.predict(np.zeros((0, 28, 28, 1), dtype=np.float32))
    assert y.shape == (0, 10)


# --------------------------------------------------------------------------- the input is never modified

IN_PLACE_CHAINS = [
    ("[6, 4]", ["Flatten", "relu"]),
    ("[6, 4]", ["Flatten", "Activation: {activation: tanh}", "relu"]),
    ("[6, 4]", ["Reshape: {target_shape: [4, 6]}", "Activation: {activation: sigmoid}"]),
    ("[6, 4]", ["Reshape: {target_shape: [24]}", "Flatten", "LeakyReLU: {alpha: 0.1}"]),
    ("[6, 4]", ["Dropout: {rate: 0.5}", "ReLU: {max_value: 0.5}"]),
    ("[6, 4]", ["Dropout: {rate: 0.5}", "Dropout: {rate: 0.1}", "Softmax"]),
    ("[6, 4]", ["relu", "Activation: {activation: exponential}"]),
    ("[6, 4]", ["Flatten", "PReLU: {alpha_initializer: ones}", "ELU"]),
    ("[6, 4]", ["Flatten", "ThresholdedReLU: {theta: 0.1}"]),
    ("[6, 4]", ["BatchNormalization", "BatchNormalization"]),
    ("[6, 4]", ["Reshape: {target_shape: [6, 4]}", "BatchNormalization: {axis: 1}"]),
    ("[6, 4, 1]", ["ZeroPadding2D: {padding: 0}", "relu"]),
    ("[6, 4, 1]", ["MaxPooling2D: {pool_size: 1}", "relu"]),
    ("[6, 4, 1]", ["GlobalAveragePooling2D: {keepdims: true}", "relu"]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "chain"), IN_PLACE_CHAINS)
def test_input_is_never_modified(dtype: str, shape: str, chain: list[str]) -> None:
    layers = "\n".join(f"  - {entry}" for entry in chain)
    model = Model.from_spec(parse(f"input_shape: {shape}\ndtype: {dtype}\nlayers:\n{layers}\n"))
    x = np.random.default_rng(5).normal(size=(3, *model.input_shape)).astype(dtype) * 3
    copy = x.copy()
    model(x)
    model.predict(x, batch_size=2)
    model.forward(x)
    np.testing.assert_array_equal(x, copy)
    # a non-contiguous view of the caller's data is safe too
    view = np.asfortranarray(x)
    model(view)
    np.testing.assert_array_equal(view, copy)


def test_input_is_never_modified_by_the_example_models() -> None:
    for config in (SEED_CNN, MNIST):
        model = Model.from_spec(parse(config))
        x = images(3, dtype=np.float32)
        copy = x.copy()
        model.predict(x, batch_size=2)
        np.testing.assert_array_equal(x, copy)


# --------------------------------------------------------------------------- input dtypes and shapes


def test_float32_input_to_a_float64_model_is_cast() -> None:
    model = float64_copy(MNIST)
    x = images(2, dtype=np.float32)
    y = model(x)
    assert y.dtype == np.float64
    assert np.array_equal(y, model(x.astype(np.float64)))


def test_float64_input_to_a_float32_model_is_cast() -> None:
    model = Model.from_spec(parse(MNIST))
    x = images(2)
    y = model(x)
    assert y.dtype == np.float32
    assert np.array_equal(y, model(x.astype(np.float32)))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_])
def test_integer_input_is_accepted(dtype: type) -> None:
    model = Model.from_spec(parse(MNIST))
    x = np.random.default_rng(6).integers(0, 2, size=(2, 28, 28, 1)).astype(dtype)
    y = model(x)
    assert y.dtype == np.float32
    assert np.array_equal(y, model(x.astype(np.float32)))


def test_nested_lists_are_accepted() -> None:
    model = build("""\
        input_shape: [3]
        dtype: float64
        layers:
          - relu
        """)
    np.testing.assert_array_equal(model([[-1, 0, 2]]), [[0.0, 0.0, 2.0]])


@pytest.mark.parametrize(
    "shape", [(4, 28, 28), (4, 28, 28, 3), (1, 28, 28), (4, 1, 28, 28), (784,)]
)
def test_wrong_shape_is_a_data_error(shape: tuple[int, ...]) -> None:
    model = Model.from_spec(parse(MNIST))
    with pytest.raises(DataError) as caught:
        model.predict(np.zeros(shape, dtype=np.float32))
    message = str(caught.value)
    assert "(None, 28, 28, 1)" in message and str(shape) in message


def test_one_sample_without_the_batch_axis_gains_it() -> None:
    # as `builder run` does: (28, 28, 1) is one sample, and the output keeps a batch axis of 1
    model = Model.from_spec(parse(MNIST))
    x = np.random.default_rng(3).normal(size=(2, 28, 28, 1)).astype(np.float32)
    both = model.predict(x)
    one = model.predict(x[1])
    assert one.shape == (1, 10)
    np.testing.assert_array_equal(one[0], model.predict(x[1:2])[0])
    np.testing.assert_allclose(one[0], both[1], rtol=1e-6)


def test_scalar_input_is_a_data_error() -> None:
    model = Model.from_spec(parse(MNIST))
    with pytest.raises(DataError, match="shape"):
        model(np.float32(1.0))


@pytest.mark.parametrize(
    ("x", "dtype_text"),
    [
        (np.zeros((2, 28, 28, 1), dtype=object), "object"),
        (np.full((2, 28, 28, 1), "a"), "<U1"),
        (np.zeros((2, 28, 28, 1), dtype=np.complex64), "complex64"),
        (np.zeros((2, 28, 28, 1), dtype="datetime64[s]"), "datetime64"),
    ],
)
def test_non_numeric_dtype_is_a_data_error(x: np.ndarray, dtype_text: str) -> None:
    model = Model.from_spec(parse(MNIST))
    with pytest.raises(DataError) as caught:
        model(x)
    message = str(caught.value)
    assert "dtype" in message and dtype_text in message


def test_ragged_list_is_a_data_error() -> None:
    model = build("""\
        input_shape: [3]
        layers:
          - relu
        """)
    with pytest.raises(DataError):
        model([[1, 2, 3], [1, 2]])


# --------------------------------------------------------------------------- memory limits

HUGE_DENSE = """\
    input_shape: [100000]
    layers:
      - Dense: {units: 100000}
    """  # 10^10 + 10^5 float32 weights: 40 GB

HUGE_ACTIVATIONS = """\
    input_shape: [1024, 1024, 1]
    layers:
      - Conv2D: {filters: 2048, kernel_size: 1, use_bias: false}
    """  # 2,048 weights, but one sample's output is 1024·1024·2048·4 bytes = 8 GiB


def peak_bytes(action: object) -> tuple[BaseException | None, int]:
    """(the exception `action()` raised, peak bytes traced while it ran)."""
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
    except BaseException as error:  # noqa: BLE001 - returned to the test
        raised: BaseException | None = error
    else:
        raised = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


def test_weights_over_the_limit_are_refused() -> None:
    model = build(HUGE_DENSE)
    assert model.count_params() == 100_000 * 100_000 + 100_000
    with pytest.raises(ResourceError) as caught:
        model.check_memory(1, DEFAULT_MAX_MEMORY)
    assert "weights" in str(caught.value) and "memory" in str(caught.value)


@pytest.mark.parametrize("action", ["predict", "call", "init_weights", "weights", "predict_chunks"])
def test_huge_weights_refused_before_allocating(action: str) -> None:
    model = build(HUGE_DENSE)
    x = np.zeros((1, 100_000), dtype=np.float32)
    run = {
        "predict": lambda: model.predict(x),
        "call": lambda: model(x),
        "init_weights": lambda: model.init_weights(),
        "weights": lambda: model.weights,
        "predict_chunks": lambda: next(model.predict_chunks(x)),
    }[action]
    raised, peak = peak_bytes(run)
    assert isinstance(raised, ResourceError), raised
    assert peak < 8 * 1024**2


@pytest.mark.parametrize("action", ["predict", "call", "predict_chunks"])
def test_huge_activations_refused_before_allocating(action: str) -> None:
    model = build(HUGE_ACTIVATIONS)
    assert model.count_params() == 2048
    x = np.zeros((1, 1024, 1024, 1), dtype=np.float32)
    run = {
        "predict": lambda: model.predict(x),
        "call": lambda: model(x),
        "predict_chunks": lambda: next(model.predict_chunks(x)),
    }[action]
    raised, peak = peak_bytes(run)
    assert isinstance(raised, ResourceError), raised
    assert "memory" in str(raised)
    assert peak < 64 * 1024**2


def test_check_memory_shrinks_the_chunk() -> None:
    model = build("""\
        input_shape: [1000]
        layers:
          - Dense: {units: 1000}
        """)
    weights = (1000 * 1000 + 1000) * 4
    assert model.weight_bytes() == weights
    per_sample = model.work_bytes_per_sample()
    assert per_sample >= (1000 + 1000) * 4  # at least the input and the output of the layer
    weights += model.fixed_work_bytes()  # scratch of fixed size, whatever the chunk
    assert model.check_memory(100, weights + 10 * per_sample) == 10
    assert model.check_memory(100, weights + 10 * per_sample + per_sample - 1) == 10
    assert model.check_memory(5, weights + 10 * per_sample) == 5
    assert model.check_memory(100, weights + per_sample) == 1
    with pytest.raises(ResourceError, match="memory"):
        model.check_memory(100, weights + per_sample - 1)
    with pytest.raises(ResourceError, match="weights"):
        model.check_memory(1, model.weight_bytes() - 1)


@pytest.mark.parametrize("config", [SEED_CNN, MNIST])
def test_chunked_run_stays_within_the_limit(config: Path) -> None:
    model = Model.from_spec(parse(config))
    _ = model.weights  # allocated before the measurement
    limit = model.weight_bytes() + model.fixed_work_bytes() + 32 * model.work_bytes_per_sample()
    x = images(96, seed=9, dtype=np.float32)
    sizes: list[int] = []

    def run() -> None:
        for _, part in model.predict_chunks(x, 96, limit):
            sizes.append(len(part))

    raised, peak = peak_bytes(run)
    assert raised is None
    assert sizes == [32, 32, 32]
    assert model.weight_bytes() + peak <= limit


def test_work_bytes_grow_with_the_widest_layer() -> None:
    narrow = build("input_shape: [8, 8, 1]\nlayers:\n  - Conv2D: {filters: 2, kernel_size: 3}\n")
    wide = build("input_shape: [8, 8, 1]\nlayers:\n  - Conv2D: {filters: 64, kernel_size: 3}\n")
    assert wide.work_bytes_per_sample() >= 6 * 6 * 64 * 4
    assert wide.work_bytes_per_sample() > narrow.work_bytes_per_sample()
    wide64 = build(
        "input_shape: [8, 8, 1]\ndtype: float64\nlayers:\n  - Conv2D: {filters: 64, kernel_size: 3}\n"
    )
    assert wide64.work_bytes_per_sample() == 2 * wide.work_bytes_per_sample()


def test_repr_and_summary() -> None:
    model = Model.from_spec(parse(SEED_CNN))
    assert (
        repr(model)
        == "Model(name='seed_cnn', input_shape=(None, 28, 28, 1), layers=8, params=55,744)"
    )
    assert "55,744" in str(model.summary())
    assert math.prod(model.output_shape) == 3 * 3 * 64
