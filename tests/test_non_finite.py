"""Non-finite weights and inputs run, with one warning line (issue 11, item 10).

pyproject turns every warning into an error, so a NumPy RuntimeWarning escaping the
forward pass fails these tests by itself. Outputs are checked against hand formulas:
ReLU is max(x, 0) (NaN stays NaN, +inf stays inf), BatchNormalization in inference is
(x − mean)/sqrt(var + eps)·gamma + beta, NaN for a variance below −eps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from builder.cli import cli
from builder.config import parse
from builder.model import Model


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def relu_config(folder: Path) -> Path:
    path = folder / "relu.yaml"
    path.write_text("input_shape: [4]\nlayers:\n  - ReLU: {}\n")
    return path


def inputs_with_holes() -> np.ndarray:
    x = np.random.default_rng(3).standard_normal((10, 4)).astype(np.float32)
    x[2, 1] = np.nan
    x[7, 0] = np.inf
    x[9, 3] = -np.inf
    return x


def test_non_finite_inputs_run_with_one_warning_counting_samples(tmp_path: Path) -> None:
    x = inputs_with_holes()
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    result = invoke(
        "run", str(relu_config(tmp_path)), "--input", str(tmp_path / "x.npy"),
        "--output", str(out), "--batch-size", "3",  # the bad rows fall in three chunks
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"{tmp_path / 'x.npy'}: warning: 3 of 10 samples hold NaN or infinite values; "
        "their outputs may be NaN\n"
    )
    y = np.load(out)
    expected = np.where(np.isnan(x), np.nan, np.where(x > 0, x, 0)).astype(np.float32)
    np.testing.assert_array_equal(y, expected)  # NaN == NaN here; inf stays inf


def test_float64_values_too_large_for_float32_count_as_infinite(tmp_path: Path) -> None:
    x = np.ones((4, 4))
    x[1, 2] = 1e300  # becomes inf in the float32 model, without an overflow warning
    np.savez(tmp_path / "x.npz", x=x)
    result = invoke("run", str(relu_config(tmp_path)), "--input", str(tmp_path / "x.npz"))
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith(": warning: 1 of 4 samples hold NaN or infinite values; "
                                  "their outputs may be NaN\n")  # fmt: skip
    assert "[1] [ 1.,  1., inf,  1.]" in result.stdout


def test_finite_data_gives_no_warning(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(8, dtype=np.float32).reshape(2, 4))
    result = invoke("run", str(relu_config(tmp_path)), "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 0 and result.stderr == ""


def bn_model(folder: Path) -> tuple[Path, Model]:
    config = folder / "bn.yaml"
    config.write_text(
        "input_shape: [3]\nlayers:\n  - BatchNormalization: {name: bn}\n  - ReLU: {name: act}\n"
    )
    return config, Model.from_spec(parse(str(config)))


def test_negative_moving_variance_runs_with_one_warning_naming_the_layer(tmp_path: Path) -> None:
    config, _ = bn_model(tmp_path)
    gamma = np.array([1.0, 2.0, 0.5], np.float32)
    beta = np.array([0.0, 1.0, -1.0], np.float32)
    mean = np.array([0.5, 0.0, 1.0], np.float32)
    variance = np.array([4.0, -1.0, 0.25], np.float32)
    weights = {
        "bn/gamma": gamma,
        "bn/beta": beta,
        "bn/moving_mean": mean,
        "bn/moving_variance": variance,
    }
    np.savez(tmp_path / "w.npz", **weights)  # type: ignore[arg-type]
    x = np.array([[2.5, 3.0, 2.0], [0.5, -1.0, 0.0]], np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    result = invoke(
        "run", str(config), "--input", str(tmp_path / "x.npy"),
        "--weights", str(tmp_path / "w.npz"), "--output", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"{tmp_path / 'w.npz'}: warning: layer 'bn' (BatchNormalization) has weights that "
        "are NaN, infinite or (moving_variance) negative; outputs may be NaN\n"
    )
    eps = 1e-3  # Keras BatchNormalization's default epsilon
    column0 = np.maximum((x[:, 0] - 0.5) / np.sqrt(4.0 + eps), 0)
    column2 = np.maximum((x[:, 2] - 1.0) / np.sqrt(0.25 + eps) * 0.5 - 1.0, 0)
    y = np.load(out)
    np.testing.assert_allclose(y[:, 0], column0, rtol=1e-6)
    assert np.isnan(y[:, 1]).all()  # sqrt(−1 + eps) is NaN
    np.testing.assert_allclose(y[:, 2], column2, rtol=1e-6)


def test_nan_weights_in_several_layers_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "two.yaml"
    config.write_text(
        "input_shape: [2]\nlayers:\n  - Dense: {units: 2, name: a}\n  - Dense: {units: 1, name: b}\n"
    )
    weights = {
        "a/kernel": np.full((2, 2), np.nan, np.float32),
        "a/bias": np.zeros(2, np.float32),
        "b/kernel": np.ones((2, 1), np.float32),
        "b/bias": np.array([np.inf], np.float32),
    }
    np.savez(tmp_path / "w.npz", **weights)  # type: ignore[arg-type]
    result = invoke("run", str(config), "--random", "3", "--weights", str(tmp_path / "w.npz"))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1
    assert "warning: layers 'a' (Dense), 'b' (Dense) have weights" in result.stderr
    assert "RuntimeWarning" not in result.output


def test_library_prediction_on_nan_raises_no_numpy_warning() -> None:
    model = Model.from_spec(parse("input_shape: [3]\nlayers:\n  - Softmax: {}\n"))
    y = model.predict(np.array([[np.inf, 1.0, 0.0], [0.0, np.nan, 1.0]], np.float32))
    assert np.isnan(y).all()  # exp(inf − inf) and NaN: IEEE, not an exception
