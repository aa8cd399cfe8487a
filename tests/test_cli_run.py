"""Tests for `builder run` and `builder init` through click's CliRunner.

Exit status 0 on success, 1 for bad config/weights/data (one message on stderr, no
traceback), 2 for usage errors. Outputs are compared with `Model.predict` of a model built
from the same config and seed; output files are written atomically, so an error part-way
through leaves neither the output nor a temporary file behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from builder.cli import cli
from builder.config import parse
from builder.errors import DataError
from builder.model import Model

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = str(ROOT / "configs" / "seed_cnn.yaml")
MNIST = str(ROOT / "configs" / "mnist_convnet.yaml")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def model_of(config: str, seed: int | None = None) -> Model:
    model = Model.from_spec(parse(config))
    model.init_weights(seed)
    return model


def digits(n: int, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 28, 28, 1)).astype(dtype)


def save(folder: Path, name: str, array: np.ndarray) -> Path:
    path = folder / name
    np.save(path, array)
    return path


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_user_error(result: Result, code: int = 1) -> str:
    """The run failed with `code`, a message on stderr and no traceback; returns stderr."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip()
    assert "Traceback" not in result.output
    return result.stderr


# --------------------------------------------------------------------------- printed output


def test_run_npy_prints_shape_dtype_preview_and_classes(tmp_path: Path) -> None:
    x = digits(4)
    path = save(tmp_path, "x.npy", x)
    result = invoke("run", MNIST, "--input", str(path))
    assert result.exit_code == 0, result.output
    expected = model_of(MNIST).predict(x)
    out = result.stdout
    assert "shape (4, 10)" in out and "float32" in out
    # the preview shows the first values of the first samples, rounded to 5 decimals
    rows = [line for line in out.splitlines() if line.strip().startswith("[")]
    assert len(rows) == 3
    for i, row in enumerate(rows):
        shown = [float(v) for v in row.split("[", 2)[2].split("]")[0].split(",")]
        assert len(shown) == 6
        np.testing.assert_allclose(shown, expected[i, :6], atol=1e-5)
    classes = ", ".join(str(c) for c in expected.argmax(axis=1))
    assert f"predicted class per sample: {classes}" in out
    assert result.stderr == ""
    assert files(tmp_path) == ["x.npy"]


def test_run_without_softmax_prints_no_classes(tmp_path: Path) -> None:
    path = save(tmp_path, "x.npy", digits(2))
    result = invoke("run", SEED_CNN, "--input", str(path))
    assert result.exit_code == 0, result.output
    assert "shape (2, 3, 3, 64)" in result.stdout and "float32" in result.stdout
    assert "class" not in result.stdout


def test_run_npz_with_one_array(tmp_path: Path) -> None:
    x = digits(3, seed=1)
    np.savez(tmp_path / "x.npz", images=x)
    result = invoke(
        "run", MNIST, "--input", str(tmp_path / "x.npz"), "--output", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "y.npy"), model_of(MNIST).predict(x))


def test_run_npz_with_input_key(tmp_path: Path) -> None:
    x, other = digits(3, seed=1), digits(5, seed=2)
    np.savez(tmp_path / "x.npz", train=other, test=x)
    result = invoke(
        "run",
        MNIST,
        "--input",
        str(tmp_path / "x.npz"),
        "--input-key",
        "test",
        "--output",
        str(tmp_path / "y.npy"),
    )
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "y.npy"), model_of(MNIST).predict(x))


def test_run_npz_with_two_arrays_and_no_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", train=digits(2), test=digits(2))
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(tmp_path / "x.npz")))
    assert "--input-key" in stderr and "train" in stderr and "test" in stderr


def test_run_npz_with_an_unknown_key(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", train=digits(2))
    stderr = assert_user_error(
        invoke("run", MNIST, "--input", str(tmp_path / "x.npz"), "--input-key", "valid")
    )
    assert "valid" in stderr and "train" in stderr


def test_input_key_without_input_is_a_usage_error() -> None:
    assert_user_error(invoke("run", MNIST, "--random", "2", "--input-key", "x"), code=2)


def test_one_sample_without_batch_axis(tmp_path: Path) -> None:
    x = digits(1, seed=4)
    path = save(tmp_path, "one.npy", x[0])
    assert np.load(path).shape == (28, 28, 1)
    result = invoke("run", MNIST, "--input", str(path))
    assert result.exit_code == 0, result.output
    assert "shape (1, 10)" in result.stdout
    result = invoke("run", MNIST, "--input", str(path), "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (1, 10)
    assert np.array_equal(y, model_of(MNIST).predict(x))


def test_integer_input_is_accepted(tmp_path: Path) -> None:
    x = np.random.default_rng(5).integers(0, 256, size=(2, 28, 28, 1)).astype(np.uint8)
    path = save(tmp_path, "x.npy", x)
    result = invoke("run", MNIST, "--input", str(path), "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    assert np.array_equal(
        np.load(tmp_path / "y.npy"), model_of(MNIST).predict(x.astype(np.float32))
    )


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 28, 28, 3), (28, 28), (2, 1, 28, 28)])
def test_wrong_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = save(tmp_path, "x.npy", np.zeros(shape, dtype=np.float32))
    stderr = assert_user_error(
        invoke("run", MNIST, "--input", str(path), "--output", str(tmp_path / "y.npy"))
    )
    assert "(None, 28, 28, 1)" in stderr and str(shape) in stderr
    assert files(tmp_path) == ["x.npy"]


def test_object_dtype_npy(tmp_path: Path) -> None:
    x = np.empty((2, 28, 28, 1), dtype=object)
    x[...] = 0.5
    path = tmp_path / "x.npy"
    np.save(path, x, allow_pickle=True)
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(path)))
    assert str(path) in stderr
    assert "pickle" in stderr.lower() or "object" in stderr.lower()


@pytest.mark.parametrize(
    "array", [np.full((2, 28, 28, 1), "a"), np.zeros((2, 28, 28, 1), dtype=np.complex128)]
)
def test_non_numeric_dtype(tmp_path: Path, array: np.ndarray) -> None:
    path = save(tmp_path, "x.npy", array)
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(path)))
    assert "dtype" in stderr


def test_pickled_array_in_an_npz_input(tmp_path: Path) -> None:
    x = np.empty((2, 28, 28, 1), dtype=object)
    x[...] = 0.5
    np.savez(tmp_path / "x.npz", x=x)
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(tmp_path / "x.npz")))
    assert "x.npz" in stderr


def test_wrong_shape_in_an_npz_input(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 28, 28), dtype=np.float32))
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(tmp_path / "x.npz")))
    assert "(None, 28, 28, 1)" in stderr and "(2, 28, 28)" in stderr


@pytest.mark.parametrize("content", [b"not an array", b""])
def test_unreadable_input(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(path)))
    assert str(path) in stderr


def test_missing_input_file(tmp_path: Path) -> None:
    stderr = assert_user_error(invoke("run", MNIST, "--input", str(tmp_path / "absent.npy")))
    assert "absent.npy" in stderr


def test_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("input_shape: [3, 3, 1]\nlayers:\n  - Conv2D: {filters: 2, kernel_size: 5}\n")
    stderr = assert_user_error(invoke("run", str(config), "--random", "1"))
    assert f"{config}:3:" in stderr and "kernel_size" in stderr


# --------------------------------------------------------------------------- weights


def test_weights_with_a_missing_key(tmp_path: Path) -> None:
    arrays = dict(model_of(MNIST).weights)
    del arrays["conv2d_1/bias"]
    np.savez(tmp_path / "w.npz", **arrays)
    stderr = assert_user_error(
        invoke(
            "run",
            MNIST,
            "--random",
            "2",
            "--weights",
            str(tmp_path / "w.npz"),
            "--output",
            str(tmp_path / "y.npy"),
        )
    )
    assert "conv2d_1/bias" in stderr and "missing" in stderr
    assert files(tmp_path) == ["w.npz"]


def test_weights_that_are_an_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    stderr = assert_user_error(invoke("run", MNIST, "--random", "2", "--weights", str(path)))
    assert str(path) in stderr


def test_missing_weights_file(tmp_path: Path) -> None:
    stderr = assert_user_error(
        invoke("run", MNIST, "--random", "2", "--weights", str(tmp_path / "none.npz"))
    )
    assert "none.npz" in stderr


def test_init_then_run_with_weights_equals_run_without(tmp_path: Path) -> None:
    result = invoke("init", MNIST, "-o", str(tmp_path / "w.npz"))
    assert result.exit_code == 0, result.output
    assert "34,826" in result.stdout
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        assert set(archive.files) == {
            "conv2d/kernel",
            "conv2d/bias",
            "conv2d_1/kernel",
            "conv2d_1/bias",
            "dense/kernel",
            "dense/bias",
        }
    x = save(tmp_path, "x.npy", digits(3, seed=6))
    with_weights = invoke(
        "run",
        MNIST,
        "--input",
        str(x),
        "--weights",
        str(tmp_path / "w.npz"),
        "--output",
        str(tmp_path / "a.npy"),
    )
    without = invoke("run", MNIST, "--input", str(x), "--output", str(tmp_path / "b.npy"))
    assert with_weights.exit_code == 0 and without.exit_code == 0, (
        with_weights.output,
        without.output,
    )
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert files(tmp_path) == ["a.npy", "b.npy", "w.npz", "x.npy"]


def test_init_seed_changes_the_weights(tmp_path: Path) -> None:
    assert invoke("init", SEED_CNN, "-o", str(tmp_path / "w0.npz")).exit_code == 0
    assert (
        invoke("init", SEED_CNN, "-o", str(tmp_path / "w0_again.npz"), "--seed", "0").exit_code == 0
    )
    assert invoke("init", SEED_CNN, "-o", str(tmp_path / "w5.npz"), "--seed", "5").exit_code == 0
    with (
        np.load(tmp_path / "w0.npz") as w0,
        np.load(tmp_path / "w0_again.npz") as again,
        np.load(tmp_path / "w5.npz") as w5,
    ):
        assert set(w0.files) == set(w5.files) == set(again.files)
        for key in w0.files:
            assert np.array_equal(w0[key], again[key]), key
        for key in ("conv2d/kernel", "conv2d_1/kernel", "conv2d_2/kernel"):
            assert not np.array_equal(w0[key], w5[key]), key
        expected = model_of(SEED_CNN, seed=5).weights
        for key in w5.files:
            assert np.array_equal(w5[key], expected[key]), key


def test_init_into_a_missing_folder(tmp_path: Path) -> None:
    assert_user_error(invoke("init", SEED_CNN, "-o", str(tmp_path / "no" / "w.npz")))
    assert files(tmp_path) == []


# --------------------------------------------------------------------------- --output, --random, --seed


def test_output_file_holds_the_prediction_and_nothing_else(tmp_path: Path) -> None:
    x = digits(5, seed=7)
    path = save(tmp_path, "x.npy", x)
    result = invoke("run", SEED_CNN, "--input", str(path), "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    y = np.load(tmp_path / "y.npy", allow_pickle=False)
    assert y.shape == (5, 3, 3, 64) and y.dtype == np.float32
    assert np.array_equal(y, model_of(SEED_CNN).predict(x))
    assert files(tmp_path) == ["x.npy", "y.npy"]
    assert "y.npy" in result.stdout


def test_output_with_batch_size(tmp_path: Path) -> None:
    x = digits(7, seed=8)
    path = save(tmp_path, "x.npy", x)
    result = invoke(
        "run", MNIST, "--input", str(path), "--output", str(tmp_path / "y.npy"), "--batch-size", "3"
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(
        np.load(tmp_path / "y.npy"), model_of(MNIST).predict(x), rtol=1e-5, atol=1e-7
    )
    assert files(tmp_path) == ["x.npy", "y.npy"]


def test_output_overwrites_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "y.npy").write_bytes(b"old")
    result = invoke("run", MNIST, "--random", "2", "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "y.npy").shape == (2, 10)
    assert files(tmp_path) == ["y.npy"]


def test_output_into_a_missing_folder(tmp_path: Path) -> None:
    assert_user_error(
        invoke("run", MNIST, "--random", "2", "--output", str(tmp_path / "no" / "y.npy"))
    )
    assert files(tmp_path) == []


def test_random_with_seed_is_deterministic(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a.npy", "3"), ("b.npy", "3"), ("c.npy", "4")):
        result = invoke(
            "run", MNIST, "--random", "5", "--seed", seed, "--output", str(tmp_path / name)
        )
        assert result.exit_code == 0, result.output
        runs.append(np.load(tmp_path / name))
    assert runs[0].shape == (5, 10)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    printed = [invoke("run", MNIST, "--random", "5", "--seed", "3").stdout for _ in range(2)]
    assert printed[0] == printed[1] and "shape (5, 10)" in printed[0]


def test_random_seed_also_seeds_the_weights(tmp_path: Path) -> None:
    result = invoke(
        "run", MNIST, "--random", "2", "--seed", "3", "--output", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    model = model_of(MNIST, seed=3)
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (2, 10)
    np.testing.assert_allclose(y.sum(axis=1), np.ones(2), rtol=1e-5)
    # the input is not known here, but the weights are: init --seed 3 writes the same ones
    assert invoke("init", MNIST, "-o", str(tmp_path / "w.npz"), "--seed", "3").exit_code == 0
    with np.load(tmp_path / "w.npz") as archive:
        for key in archive.files:
            assert np.array_equal(archive[key], model.weights[key]), key


@pytest.mark.parametrize("extra", [["--random", "2", "--input", "x.npy"], []])
def test_input_and_random_together_or_neither(tmp_path: Path, extra: list[str]) -> None:
    save(tmp_path, "x.npy", digits(2))
    args = [str(tmp_path / a) if a == "x.npy" else a for a in extra]
    stderr = assert_user_error(invoke("run", MNIST, *args), code=2)
    assert "--input" in stderr and "--random" in stderr


@pytest.mark.parametrize(
    "option", [["--random", "0"], ["--batch-size", "0"], ["--max-memory", "lots"]]
)
def test_bad_option_values_are_usage_errors(option: list[str]) -> None:
    args = ["run", MNIST, *option] + ([] if option[0] == "--random" else ["--random", "1"])
    assert_user_error(invoke(*args), code=2)


# --------------------------------------------------------------------------- memory


def test_max_memory_too_small(tmp_path: Path) -> None:
    x = save(tmp_path, "x.npy", digits(2))
    stderr = assert_user_error(
        invoke(
            "run",
            SEED_CNN,
            "--input",
            str(x),
            "--max-memory",
            "1KB",
            "--output",
            str(tmp_path / "y.npy"),
        )
    )
    assert "memory" in stderr
    assert files(tmp_path) == ["x.npy"]


def test_max_memory_forces_small_chunks(tmp_path: Path) -> None:
    model = model_of(MNIST)
    limit = model.weight_bytes() + model.fixed_work_bytes() + 2 * model.work_bytes_per_sample()
    x = digits(5, seed=9)
    path = save(tmp_path, "x.npy", x)
    result = invoke(
        "run",
        MNIST,
        "--input",
        str(path),
        "--max-memory",
        str(limit),
        "--output",
        str(tmp_path / "y.npy"),
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x), rtol=1e-5, atol=1e-7)


def test_huge_model_is_refused_quickly(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    config.write_text("input_shape: [100000]\nlayers:\n  - Dense: {units: 100000}\n")
    stderr = assert_user_error(
        invoke("run", str(config), "--random", "1", "--output", str(tmp_path / "y.npy"))
    )
    assert "memory" in stderr
    assert files(tmp_path) == ["huge.yaml"]


# --------------------------------------------------------------------------- never half-written


@pytest.mark.parametrize("error", [DataError("disk on fire"), KeyboardInterrupt()])
def test_error_mid_run_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    x = save(tmp_path, "x.npy", digits(6, seed=10))
    original = Model.forward
    calls: list[int] = []

    def failing_forward(
        self: Model, batch: np.ndarray, *args: object, **kwargs: object
    ) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 2:
            raise error
        return original(self, batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("builder.model.Model.forward", failing_forward)
    result = invoke(
        "run", MNIST, "--input", str(x), "--batch-size", "2", "--output", str(tmp_path / "y.npy")
    )
    assert calls == [2, 2]
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if isinstance(error, DataError):
        assert result.exit_code == 1 and "disk on fire" in result.stderr
    assert files(tmp_path) == ["x.npy"]  # neither y.npy nor a temporary .part file


def test_error_mid_run_keeps_a_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = save(tmp_path, "x.npy", digits(6, seed=11))
    np.save(tmp_path / "y.npy", np.arange(3))
    original = Model.forward
    calls: list[int] = []

    def failing_forward(
        self: Model, batch: np.ndarray, *args: object, **kwargs: object
    ) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise DataError("stop")
        return original(self, batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("builder.model.Model.forward", failing_forward)
    assert_user_error(
        invoke(
            "run",
            MNIST,
            "--input",
            str(x),
            "--batch-size",
            "2",
            "--output",
            str(tmp_path / "y.npy"),
        )
    )
    assert np.array_equal(np.load(tmp_path / "y.npy"), np.arange(3))
    assert files(tmp_path) == ["x.npy", "y.npy"]


# --------------------------------------------------------------------------- details


def test_max_memory_above_the_default_is_honoured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A model whose weights exceed the default limit runs when --max-memory allows it. The
    # default (4 GiB) is lowered to 100 kB here so the seed CNN's 218 kB of weights exceed it.
    monkeypatch.setattr("builder.model.DEFAULT_MAX_MEMORY", 100_000)
    result = invoke(
        "run",
        SEED_CNN,
        "--random",
        "2",
        "--max-memory",
        "1GiB",
        "--output",
        str(tmp_path / "y.npy"),
    )
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "y.npy").shape == (2, 3, 3, 64)


def test_output_files_get_ordinary_permissions(tmp_path: Path) -> None:
    # Written through a temporary file, but readable like a file np.save would create
    # (mkstemp's 0600 must not leak into the result).
    np.save(tmp_path / "reference.npy", np.zeros(1))
    expected = (tmp_path / "reference.npy").stat().st_mode & 0o777
    assert invoke("run", MNIST, "--random", "2", "--output", str(tmp_path / "y.npy")).exit_code == 0
    assert invoke("init", MNIST, "-o", str(tmp_path / "w.npz")).exit_code == 0
    assert (tmp_path / "y.npy").stat().st_mode & 0o777 == expected
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == expected


@pytest.mark.parametrize(
    "layers",
    [
        ["Dense: {units: 3, activation: softmax}"],
        ["Dense: {units: 3, activation: {Softmax: {}}}"],
        ["Dense: {units: 3}", "Activation: {activation: {Softmax: {axis: -1}}}"],
        ["Dense: {units: 3}", "Softmax"],
        ["Dense: {units: 3}", "Activation: {activation: softmax}"],
    ],
)
def test_softmax_models_print_the_class(tmp_path: Path, layers: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("input_shape: [4]\nlayers:\n" + "".join(f"  - {entry}\n" for entry in layers))
    x = save(tmp_path, "x.npy", np.random.default_rng(12).normal(size=(3, 4)).astype(np.float32))
    result = invoke("run", str(config), "--input", str(x))
    assert result.exit_code == 0, result.output
    classes = model_of(str(config)).predict(np.load(x)).argmax(axis=1)
    assert f"predicted class per sample: {', '.join(map(str, classes))}" in result.stdout
