"""Tests for weights (builder/weights.py and Model.init_weights/save_weights/load_weights).

Initial weights must be a pure function of (seed, layer name, weight name), with the
initialiser the config names; weights files are `.npz` keyed `<layer>/<weight>`; loading
lists every missing, unexpected or mis-shaped key in one WeightsError and never unpickles.
Expected values (zeros, ones, Keras's glorot/he limits) are written here by hand.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from builder.config import parse
from builder.errors import WeightsError
from builder.model import Model

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = ROOT / "configs" / "seed_cnn.yaml"
MNIST = ROOT / "configs" / "mnist_convnet.yaml"

SEED_CNN_KEYS = {
    "conv2d/kernel",
    "conv2d/bias",
    "conv2d_1/kernel",
    "conv2d_1/bias",
    "conv2d_2/kernel",
    "conv2d_2/bias",
}

NAMED = """\
input_shape: [8, 8, 2]
seed: {seed}
layers:
  - Conv2D: {{name: {first}, filters: 4, kernel_size: 3}}
  - BatchNormalization: {{name: {second}}}
  - PReLU: {{name: {third}, alpha_initializer: random_uniform}}
  - Flatten
  - Dense: {{name: {fourth}, units: {units}}}
"""


def named(
    seed: int = 0,
    first: str = "a",
    second: str = "b",
    third: str = "c",
    fourth: str = "d",
    units: int = 3,
) -> Model:
    return Model.from_spec(
        parse(
            NAMED.format(
                seed=seed, first=first, second=second, third=third, fourth=fourth, units=units
            )
        )
    )


def build(text: str) -> Model:
    return Model.from_spec(parse(textwrap.dedent(text)))


def seed_cnn() -> Model:
    return Model.from_spec(parse(SEED_CNN))


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert np.array_equal(a[key], b[key]), key


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_weights() -> None:
    first, second = seed_cnn(), seed_cnn()
    first.init_weights(0)
    second.init_weights(0)
    assert_same(first.weights, second.weights)
    assert set(first.weights) == SEED_CNN_KEYS
    # the default is the config's seed (0) and re-initialising gives the same arrays again
    assert_same(seed_cnn().weights, first.weights)
    first.init_weights()
    assert_same(first.weights, second.weights)


def test_config_seed_is_used() -> None:
    from_config = named(seed=11)
    explicit = named(seed=0)
    explicit.init_weights(11)
    assert_same(from_config.weights, explicit.weights)


def test_different_seed_gives_different_weights() -> None:
    first, second = seed_cnn(), seed_cnn()
    first.init_weights(0)
    second.init_weights(1)
    for key in ("conv2d/kernel", "conv2d_1/kernel", "conv2d_2/kernel"):
        assert not np.any(first.weights[key] == second.weights[key]), key
    # zeros stay zeros whatever the seed
    assert np.array_equal(first.weights["conv2d/bias"], second.weights["conv2d/bias"])


def test_weights_of_different_layers_and_weights_are_independent_streams() -> None:
    model = build("""\
        input_shape: [4]
        layers:
          - Dense: {units: 4, name: p, bias_initializer: random_normal, kernel_initializer: random_normal}
          - Dense: {units: 4, name: q, bias_initializer: random_normal, kernel_initializer: random_normal}
        """)
    w = model.weights
    # same shapes and initialiser, different (layer, weight): different numbers
    assert not np.array_equal(w["p/kernel"], w["q/kernel"])
    assert not np.array_equal(w["p/bias"], w["q/bias"])
    assert not np.array_equal(w["p/bias"], w["p/kernel"][0])


def test_changing_one_layer_leaves_the_others_unchanged() -> None:
    original = seed_cnn()
    text = SEED_CNN.read_text(encoding="utf-8")
    last = "  - Conv2D: {filters: 64, kernel_size: [3, 3]}\n  - LeakyReLU: {alpha: 0.05}\n"
    assert text.endswith(last)
    edited = Model.from_spec(
        parse(
            text[: -len(last)] + "  - Conv2D: {filters: 16, kernel_size: [3, 3]}\n"
            "  - LeakyReLU: {alpha: 0.05}\n"
        )
    )
    before, after = original.weights, edited.weights
    for key in ("conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias"):
        assert np.array_equal(before[key], after[key]), key
    assert after["conv2d_2/kernel"].shape == (3, 3, 64, 16)


def test_changing_one_layer_in_the_middle_leaves_the_others_unchanged() -> None:
    before, after = named().weights, named(units=7).weights
    for key in before:
        if not key.startswith("d/"):
            assert np.array_equal(before[key], after[key]), key
    assert after["d/kernel"].shape == (6 * 6 * 4, 7)


def test_renaming_a_layer_changes_only_its_weights() -> None:
    before, after = named().weights, named(third="renamed", first="first").weights
    assert set(after) == {key.replace("c/", "renamed/").replace("a/", "first/") for key in before}
    for key in ("b/gamma", "b/beta", "b/moving_mean", "b/moving_variance", "d/kernel", "d/bias"):
        assert np.array_equal(before[key], after[key]), key
    assert not np.any(before["a/kernel"] == after["first/kernel"])
    assert not np.any(before["c/alpha"] == after["renamed/alpha"])
    assert np.array_equal(before["a/bias"], after["first/bias"])  # zeros either way


def test_adding_a_layer_in_front_keeps_named_layers() -> None:
    text = NAMED.format(seed=0, first="a", second="b", third="c", fourth="d", units=3)
    extra = text.replace(
        "layers:\n", "layers:\n  - Conv2D: {name: z, filters: 2, kernel_size: 1}\n"
    )
    before = Model.from_spec(parse(text)).weights
    after = Model.from_spec(parse(extra)).weights
    # z keeps the shape (8, 8, 2), so every named layer keeps its shapes and its weights
    for key in before:
        assert np.array_equal(before[key], after[key]), key


# --------------------------------------------------------------------------- initialisers


def test_initializers_follow_the_config() -> None:
    model = build("""\
        input_shape: [6, 6, 2]
        dtype: float64
        layers:
          - Conv2D: {filters: 3, kernel_size: 3, kernel_initializer: zeros, bias_initializer: ones}
          - BatchNormalization
          - PReLU
          - Flatten
          - Dense: {units: 4, kernel_initializer: ones}
          - Dense: {units: 2, use_bias: false}
        """)
    w = model.weights
    assert set(w) == {
        "conv2d/kernel",
        "conv2d/bias",
        "batch_normalization/gamma",
        "batch_normalization/beta",
        "batch_normalization/moving_mean",
        "batch_normalization/moving_variance",
        "p_re_lu/alpha",
        "dense/kernel",
        "dense/bias",
        "dense_1/kernel",
    }
    expected = {
        "conv2d/kernel": np.zeros((3, 3, 2, 3)),
        "conv2d/bias": np.ones(3),
        "batch_normalization/gamma": np.ones(3),
        "batch_normalization/beta": np.zeros(3),
        "batch_normalization/moving_mean": np.zeros(3),
        "batch_normalization/moving_variance": np.ones(3),
        "p_re_lu/alpha": np.zeros((4, 4, 3)),
        "dense/kernel": np.ones((48, 4)),
        "dense/bias": np.zeros(4),
    }
    for key, array in expected.items():
        assert w[key].dtype == np.float64, key
        assert w[key].shape == array.shape, key
        assert np.array_equal(w[key], array), key
    assert w["dense_1/kernel"].shape == (4, 2)


def test_batch_normalization_initializers_can_be_changed() -> None:
    model = build("""\
        input_shape: [5]
        layers:
          - BatchNormalization: {gamma_initializer: zeros, beta_initializer: ones,
                                 moving_mean_initializer: ones, moving_variance_initializer: zeros}
        """)
    w = model.weights
    assert np.array_equal(w["batch_normalization/gamma"], np.zeros(5))
    assert np.array_equal(w["batch_normalization/beta"], np.ones(5))
    assert np.array_equal(w["batch_normalization/moving_mean"], np.ones(5))
    assert np.array_equal(w["batch_normalization/moving_variance"], np.zeros(5))


@pytest.mark.parametrize(
    ("initializer", "limit"),
    [
        # Keras: uniform on ±sqrt(6/(fan_in + fan_out)) / ±sqrt(6/fan_in) / ±sqrt(3/fan_in)
        ("glorot_uniform", math.sqrt(6 / (200 + 50))),
        ("he_uniform", math.sqrt(6 / 200)),
        ("lecun_uniform", math.sqrt(3 / 200)),
        ("random_uniform", 0.05),
    ],
)
def test_uniform_initializers_use_their_limit(initializer: str, limit: float) -> None:
    model = build(f"""\
        input_shape: [200]
        dtype: float64
        layers:
          - Dense: {{units: 50, kernel_initializer: {initializer}}}
        """)
    kernel = model.weights["dense/kernel"]
    assert np.all(np.abs(kernel) <= limit)
    assert np.abs(kernel).max() > 0.99 * limit  # 10,000 draws reach the edge
    assert abs(kernel.mean()) < 0.02 * limit


def test_glorot_uniform_conv_kernel_uses_the_receptive_field() -> None:
    # Conv2D kernel (3, 3, 8, 16): fan_in 72, fan_out 144 → limit sqrt(6/216)
    model = build("""\
        input_shape: [5, 5, 8]
        dtype: float64
        layers:
          - Conv2D: {filters: 16, kernel_size: 3}
        """)
    kernel = model.weights["conv2d/kernel"]
    limit = math.sqrt(6 / 216)
    assert np.all(np.abs(kernel) <= limit) and np.abs(kernel).max() > 0.97 * limit


@pytest.mark.parametrize(
    ("initializer", "std"), [("he_normal", math.sqrt(2 / 200)), ("random_normal", 0.05)]
)
def test_normal_initializers_use_their_std(initializer: str, std: float) -> None:
    model = build(f"""\
        input_shape: [200]
        dtype: float64
        layers:
          - Dense: {{units: 50, kernel_initializer: {initializer}}}
        """)
    kernel = model.weights["dense/kernel"]
    assert abs(kernel.std() / std - 1) < 0.05
    if initializer == "he_normal":  # truncated at 2 std of the untruncated normal
        assert np.abs(kernel).max() <= 2 * std / 0.87962566103423978


def test_initial_weights_have_the_model_dtype() -> None:
    assert all(a.dtype == np.float32 for a in seed_cnn().weights.values())
    text = SEED_CNN.read_text(encoding="utf-8") + "dtype: float64\n"
    assert all(a.dtype == np.float64 for a in Model.from_spec(parse(text)).weights.values())


# --------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = named(seed=3)
    path = tmp_path / "w.npz"
    model.save_weights(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == set(model.weights)
        assert set(archive.files) == {
            "a/kernel",
            "a/bias",
            "b/gamma",
            "b/beta",
            "b/moving_mean",
            "b/moving_variance",
            "c/alpha",
            "d/kernel",
            "d/bias",
        }
        for key in archive.files:
            assert archive[key].dtype == np.float32
            assert np.array_equal(archive[key], model.weights[key]), key
    other = named(seed=4)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 2)).astype(np.float32)
    assert not np.array_equal(other(x), model(x))
    other.load_weights(path)
    assert_same(other.weights, model.weights)
    assert np.array_equal(other(x), model(x))


def test_save_weights_of_the_seed_cnn_keys(tmp_path: Path) -> None:
    path = tmp_path / "seed.npz"
    seed_cnn().save_weights(path)
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == SEED_CNN_KEYS
        assert archive["conv2d_1/kernel"].shape == (3, 3, 32, 64)


def test_save_weights_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(b"old")
    seed_cnn().save_weights(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == SEED_CNN_KEYS


def weights_file(folder: Path, arrays: dict[str, np.ndarray], name: str = "w.npz") -> Path:
    path = folder / name
    np.savez(path, **arrays)
    return path


def load_error(model: Model, path: Path) -> str:
    with pytest.raises(WeightsError) as caught:
        model.load_weights(path)
    return str(caught.value)


def test_missing_key(tmp_path: Path) -> None:
    model = seed_cnn()
    arrays = dict(model.weights)
    del arrays["conv2d_1/bias"]
    message = load_error(model, weights_file(tmp_path, arrays))
    assert "missing" in message and "conv2d_1/bias" in message and "(64,)" in message
    assert str(tmp_path / "w.npz") in message


def test_unexpected_key(tmp_path: Path) -> None:
    model = seed_cnn()
    arrays = {**model.weights, "dense/kernel": np.zeros((3, 3))}
    message = load_error(model, weights_file(tmp_path, arrays))
    assert "unexpected" in message and "dense/kernel" in message


def test_wrong_shape(tmp_path: Path) -> None:
    model = seed_cnn()
    arrays = {**model.weights, "conv2d/kernel": np.zeros((3, 3, 1, 16))}
    message = load_error(model, weights_file(tmp_path, arrays))
    assert "conv2d/kernel" in message and "(3, 3, 1, 16)" in message and "(3, 3, 1, 32)" in message


def test_all_problems_in_one_message(tmp_path: Path) -> None:
    model = seed_cnn()
    arrays = dict(model.weights)
    del arrays["conv2d/bias"]
    del arrays["conv2d_2/kernel"]
    arrays["conv2d_1/kernel"] = np.zeros((3, 3, 64, 32))
    arrays["extra/alpha"] = np.zeros(2)
    arrays["conv2d_3/bias"] = np.zeros(64)
    message = load_error(model, weights_file(tmp_path, arrays))
    for text in (
        "conv2d/bias",
        "conv2d_2/kernel",
        "conv2d_1/kernel",
        "(3, 3, 64, 32)",
        "extra/alpha",
        "conv2d_3/bias",
        "missing",
        "unexpected",
    ):
        assert text in message, text


def test_a_failed_load_keeps_the_previous_weights(tmp_path: Path) -> None:
    model = seed_cnn()
    before = {k: v.copy() for k, v in model.weights.items()}
    arrays = {k: np.ones_like(v) for k, v in before.items()}
    del arrays["conv2d/bias"]
    load_error(model, weights_file(tmp_path, arrays))
    assert_same(model.weights, before)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"this is not a weights file\n", "w.npz"),
        (b"", "empty.npz"),
        (b"PK\x03\x04 truncated zip", "broken.npz"),
    ],
)
def test_not_an_npz_file(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    message = load_error(seed_cnn(), path)
    assert str(path) in message


def test_an_npy_file_is_not_a_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    message = load_error(seed_cnn(), path)
    assert str(path) in message and "npz" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.npz"
    message = load_error(seed_cnn(), path)
    assert str(path) in message


def test_pickled_object_array_is_refused(tmp_path: Path) -> None:
    model = seed_cnn()
    arrays: dict[str, np.ndarray] = dict(model.weights)
    bias = np.empty(32, dtype=object)
    bias[:] = [0.0] * 32
    arrays["conv2d/bias"] = bias
    path = weights_file(tmp_path, arrays)  # np.savez pickles object arrays
    message = load_error(model, path)
    assert str(path) in message
    assert "pickle" in message.lower() or "object" in message.lower()


def test_non_numeric_weights_are_refused(tmp_path: Path) -> None:
    model = seed_cnn()
    arrays = {**model.weights, "conv2d/bias": np.full(32, "x")}
    message = load_error(model, weights_file(tmp_path, arrays))
    assert "conv2d/bias" in message and "dtype" in message


def test_float64_weights_into_a_float32_model_are_cast(tmp_path: Path) -> None:
    model = seed_cnn()
    rng = np.random.default_rng(1)
    arrays = {key: rng.normal(size=array.shape) for key, array in model.weights.items()}
    model.load_weights(weights_file(tmp_path, arrays))
    for key, array in model.weights.items():
        assert array.dtype == np.float32, key
        assert np.array_equal(array, arrays[key].astype(np.float32)), key
    x = np.random.default_rng(2).normal(size=(1, 28, 28, 1)).astype(np.float32)
    assert model(x).dtype == np.float32


def test_float32_weights_into_a_float64_model_are_cast(tmp_path: Path) -> None:
    model = Model.from_spec(parse(MNIST.read_text(encoding="utf-8") + "dtype: float64\n"))
    arrays = {
        key: np.full(array.shape, 0.1, dtype=np.float32) for key, array in model.weights.items()
    }
    model.load_weights(weights_file(tmp_path, arrays))
    assert all(a.dtype == np.float64 for a in model.weights.values())
    assert np.array_equal(
        model.weights["dense/bias"], np.full(10, np.float32(0.1), dtype=np.float64)
    )


def test_integer_weights_are_cast(tmp_path: Path) -> None:
    model = build("""\
        input_shape: [2]
        dtype: float64
        layers:
          - Dense: {units: 1, name: d}
        """)
    model.load_weights(
        weights_file(tmp_path, {"d/kernel": np.array([[2], [3]]), "d/bias": np.array([1])})
    )
    np.testing.assert_array_equal(model(np.array([[1.0, 1.0]])), [[6.0]])


def test_inline_prelu_alpha_round_trip(tmp_path: Path) -> None:
    model = build("""\
        input_shape: [4]
        layers:
          - Dense: {units: 3, name: d, activation: {PReLU: {alpha_initializer: random_uniform}}}
        """)
    path = tmp_path / "w.npz"
    model.save_weights(path)
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"d/kernel", "d/bias", "d/alpha"}
        assert archive["d/alpha"].shape == (3,)
