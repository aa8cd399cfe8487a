"""Initialisers: determinism of the per-weight streams and Keras 3's formulas."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from builder.ops.initializers import (
    INITIALIZER_NAMES,
    TRUNCATED_NORMAL_STDDEV,
    compute_fans,
    initialize,
    truncated_standard_normal,
    weight_rng,
)

# name: (scale, mode) of Keras's VarianceScaling subclasses
VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg"),
    "glorot_normal": (1.0, "fan_avg"),
    "he_uniform": (2.0, "fan_in"),
    "he_normal": (2.0, "fan_in"),
    "lecun_uniform": (1.0, "fan_in"),
    "lecun_normal": (1.0, "fan_in"),
}
UNIFORM = [name for name in VARIANCE_SCALING if name.endswith("uniform")]
NORMAL = [name for name in VARIANCE_SCALING if name.endswith("normal")]


def target_variance(name: str, shape: tuple[int, ...]) -> float:
    """scale / n, with n written out by hand for the shapes used here."""
    fans = {(3, 3, 8, 16): (72, 144), (100, 1000): (100, 1000), (20, 30): (20, 30)}[shape]
    scale, mode = VARIANCE_SCALING[name]
    n = fans[0] if mode == "fan_in" else (fans[0] + fans[1]) / 2
    return scale / n


# --- weight_rng ---------------------------------------------------------------------------


def test_same_triple_gives_identical_weights():
    a = initialize("glorot_uniform", (3, 3, 8, 16), weight_rng(0, "conv2d", "kernel"))
    b = initialize("glorot_uniform", (3, 3, 8, 16), weight_rng(0, "conv2d", "kernel"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "other",
    [
        (1, "conv2d", "kernel"),
        (0, "conv2d_1", "kernel"),
        (0, "conv2d", "bias"),
        (0, "conv2", "dkernel"),
    ],
)
def test_changing_any_part_of_the_triple_changes_the_weights(other):
    base = initialize("glorot_uniform", (20, 30), weight_rng(0, "conv2d", "kernel"))
    changed = initialize("glorot_uniform", (20, 30), weight_rng(*other))
    assert not np.array_equal(base, changed)


def test_stream_is_pinned():
    # The scheme is part of the file format of `builder init`: changing it changes every
    # model's initial weights. PCG64's raw output is stable across NumPy versions.
    raw = weight_rng(0, "dense", "kernel").bit_generator.random_raw(2)
    assert raw.tolist() == [8668111559474474618, 1837490322774918013]


def test_stream_does_not_depend_on_python_hash_randomisation():
    code = (
        "from builder.ops.initializers import weight_rng;"
        "print(weight_rng(7, 'dense_1', 'kernel').bit_generator.random_raw())"
    )
    root = str(Path(__file__).resolve().parents[1])
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONPATH": root, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert outputs == {f"{weight_rng(7, 'dense_1', 'kernel').bit_generator.random_raw()}\n"}


@pytest.mark.parametrize("args", [(True, "a", "b"), (1.5, "a", "b"), (0, 3, "b"), (0, "a", None)])
def test_weight_rng_refuses_wrong_types(args):
    with pytest.raises(TypeError):
        weight_rng(*args)


# --- compute_fans -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((20, 30), (20, 30)),
        ((2, 3, 4), (6, 8)),  # receptive field 2
        ((3, 3, 8, 16), (72, 144)),  # Conv2D kernel: receptive field 3·3
        ((5, 3, 3, 8, 16), (360, 720)),
    ],
)
def test_compute_fans_follows_keras(shape, fans):
    assert compute_fans(shape) == fans


# --- formulas -------------------------------------------------------------------------------


def test_truncation_constant_is_the_std_of_a_normal_truncated_at_two():
    density = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert TRUNCATED_NORMAL_STDDEV == pytest.approx(math.sqrt(1 - 4 * density / mass), rel=1e-15)


@pytest.mark.parametrize("name", UNIFORM)
@pytest.mark.parametrize("shape", [(3, 3, 8, 16), (20, 30)])
def test_uniform_limit(name, shape):
    limit = math.sqrt(3 * target_variance(name, shape))
    w = initialize(name, shape, weight_rng(0, "layer", name), dtype=np.float64)
    assert w.shape == shape
    assert np.all(np.abs(w) <= limit)
    assert np.abs(w).max() > 0.9 * limit


@pytest.mark.parametrize("name", NORMAL)
@pytest.mark.parametrize("shape", [(3, 3, 8, 16), (20, 30)])
def test_truncated_normal_stays_within_two_std(name, shape):
    stddev = math.sqrt(target_variance(name, shape)) / 0.87962566103423978
    w = initialize(name, shape, weight_rng(0, "layer", name), dtype=np.float64)
    assert np.all(np.abs(w) <= 2 * stddev)
    assert np.abs(w).max() > 1.5 * stddev


@pytest.mark.parametrize("name", list(VARIANCE_SCALING))
def test_empirical_std_matches_the_variance_scaling_formula(name):
    # after truncation (or for uniform: limit/√3) the std is sqrt(scale / n)
    w = initialize(name, (100, 1000), weight_rng(3, "big", name), dtype=np.float64)
    assert abs(w.mean()) < 0.01 * math.sqrt(target_variance(name, (100, 1000)))
    assert w.std() == pytest.approx(math.sqrt(target_variance(name, (100, 1000))), rel=0.02)


def test_random_normal_and_random_uniform():
    normal = initialize("random_normal", (200, 500), weight_rng(0, "a", "b"), dtype=np.float64)
    assert normal.std() == pytest.approx(0.05, rel=0.02)
    assert np.abs(normal).max() > 0.15  # not truncated: 3 std occurs in 100,000 draws
    uniform = initialize("random_uniform", (200, 500), weight_rng(0, "a", "b"), dtype=np.float64)
    assert uniform.min() >= -0.05 and uniform.max() < 0.05
    assert uniform.std() == pytest.approx(0.05 / math.sqrt(3), rel=0.02)


def test_zeros_and_ones_are_exact():
    rng = weight_rng(0, "bn", "gamma")
    np.testing.assert_array_equal(initialize("zeros", (4, 5), rng), np.zeros((4, 5), np.float32))
    ones = initialize("ones", (6,), rng, dtype=np.float64)
    assert ones.dtype == np.float64
    np.testing.assert_array_equal(ones, np.ones(6))


@pytest.mark.parametrize("name", INITIALIZER_NAMES)
def test_float32_is_the_float64_draw_cast(name):
    w32 = initialize(name, (3, 3, 8, 16), weight_rng(0, "c", "kernel"))
    w64 = initialize(name, (3, 3, 8, 16), weight_rng(0, "c", "kernel"), dtype=np.float64)
    assert w32.dtype == np.float32 and w64.dtype == np.float64
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


def test_empty_shape_and_scalar_shape():
    assert initialize("he_normal", (0, 5), weight_rng(0, "a", "b")).shape == (0, 5)
    assert initialize("glorot_uniform", (), weight_rng(0, "a", "b")).shape == ()


def test_truncated_standard_normal_redraws_deterministically():
    a = truncated_standard_normal(np.random.default_rng(11), (50_000,))
    b = truncated_standard_normal(np.random.default_rng(11), (50_000,))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 2.0
    assert a.std() == pytest.approx(TRUNCATED_NORMAL_STDDEV, rel=0.01)


# --- errors ---------------------------------------------------------------------------------


def test_unknown_name_lists_the_valid_names():
    message = r"Unknown initializer 'glorot_uniformm'\. Did you mean 'glorot_uniform'\?"
    with pytest.raises(ValueError, match=message) as info:
        initialize("glorot_uniformm", (2, 2), weight_rng(0, "a", "b"))
    assert all(name in str(info.value) for name in INITIALIZER_NAMES)


@pytest.mark.parametrize("shape", [(2, -1), (2.0, 3), "ab", None])
def test_bad_shape_is_refused(shape):
    with pytest.raises(ValueError, match="shape must be a tuple of integers >= 0"):
        initialize("zeros", shape, weight_rng(0, "a", "b"))


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got int32"):
        initialize("ones", (2,), weight_rng(0, "a", "b"), dtype=np.int32)
