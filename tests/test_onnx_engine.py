"""The onnxruntime engine: same outputs (1e-5 relative at float32) as the NumPy engine, the
same chunking, input checks, memory refusals and CLI behaviour; one line when the extra
is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from onnx_helpers import assert_close, random_input, random_weights

import builder
from builder.cli import cli
from builder.engines.onnxruntime import OnnxRuntimeEngine
from builder.errors import DataError, ResourceError, UnsupportedError

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = ROOT / "configs" / "seed_cnn.yaml"
ADVANCED = ROOT / "configs" / "advanced_activations.yaml"  # float64, with Conv2D


def test_engine_forward_matches_numpy_engine(tmp_path: Path) -> None:
    model = builder.load(ROOT / "configs" / "resnet_small.yaml")
    random_weights(model, 1, tmp_path)
    engine = OnnxRuntimeEngine(model)
    x = random_input(model, 2, count=4)
    assert_close(engine.forward(x), model.forward(x), "forward")
    options = engine.session.get_session_options()
    assert options.intra_op_num_threads == os.cpu_count()
    assert "threads=" in repr(engine)


def test_load_with_engine_predicts_in_chunks(tmp_path: Path) -> None:
    reference = builder.load(SEED_CNN)
    model = builder.load(SEED_CNN, engine="onnxruntime")
    assert model.engine == "onnxruntime"
    x = random_input(model, 3, count=7)
    got = model.predict(x, batch_size=3)  # chunks of 3, 3 and 1
    assert_close(got, reference.predict(x), "predict")
    assert model._runtime is not None
    session = model._runtime
    model.predict(x[:2])
    assert model._runtime is session  # built once per model


def test_new_weights_rebuild_the_session(tmp_path: Path) -> None:
    reference = builder.load(SEED_CNN)
    model = builder.load(SEED_CNN, engine="onnxruntime")
    x = random_input(model, 4, count=2)
    before = model(x)
    random_weights(reference, 5, tmp_path)
    model.load_weights(tmp_path / "weights_5.npz")
    after = model(x)
    assert not np.allclose(before, after)
    assert_close(after, reference(x), "after load_weights")


def test_same_input_checks_and_memory_refusals() -> None:
    model = builder.load(SEED_CNN, engine="onnxruntime")
    with pytest.raises(DataError, match=r"input must have shape \(None, 28, 28, 1\)"):
        model(np.zeros((2, 28, 28, 3), np.float32))
    with pytest.raises(ResourceError, match="memory limit"):
        model.predict(np.zeros((2, 28, 28, 1), np.float32), max_memory=1000)


def test_unknown_engine_name() -> None:
    with pytest.raises(ValueError, match="Received: engine='torch'"):
        builder.load(SEED_CNN, engine="torch")


def test_float64_conv_says_what_onnxruntime_lacks() -> None:
    model = builder.load(ADVANCED, engine="onnxruntime")
    with pytest.raises(UnsupportedError) as error:
        model(np.zeros((1, 16, 16, 3)))
    message = str(error.value)
    assert message.startswith("onnxruntime cannot run this model:") and "Conv" in message
    assert "\n" not in message


def test_cli_run_engines_agree(tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = {}
    for engine in ("numpy", "onnxruntime"):
        out = tmp_path / f"{engine}.npy"
        result = runner.invoke(
            cli,
            ["run", str(SEED_CNN), "--random", "5", "--batch-size", "2", "--engine", engine]
            + ["--output", str(out)],
        )
        assert result.exit_code == 0, result.output
        outputs[engine] = np.load(out)
    assert_close(outputs["onnxruntime"], outputs["numpy"], "cli")


def test_cli_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime → ImportError
    result = CliRunner().invoke(
        cli, ["run", str(SEED_CNN), "--random", "2", "--engine", "onnxruntime"]
    )
    assert result.exit_code == 1
    assert result.output == (
        "the onnxruntime engine needs the 'onnx' extra: pip install \"yaml-model-builder[onnx]\"\n"
    )


TWO_HEADS = ROOT / "configs" / "two_heads.yaml"


def test_several_inputs_and_outputs_in_chunks(tmp_path: Path) -> None:
    """forward takes and returns dicts as Model.forward does; predict chunks them."""
    reference = builder.load(TWO_HEADS)
    model = builder.load(TWO_HEADS, engine="onnxruntime")
    x = random_input(model, 15, count=5)
    engine = OnnxRuntimeEngine(model)
    assert engine.input_names == ["image", "meta"]
    assert engine.output_names == ["head_a", "head_b"]
    assert_close(engine.forward(x), reference.forward(x), "forward")
    got = model.predict(x, batch_size=2)  # chunks of 2, 2 and 1
    assert_close(got, reference.predict(x), "predict")
    with pytest.raises(DataError, match="missing 'meta'"):
        model.predict({"image": x["image"]})


def test_cli_run_two_heads_to_npz(tmp_path: Path) -> None:
    model = builder.load(TWO_HEADS)
    x = random_input(model, 16, count=3)
    np.savez(tmp_path / "x.npz", **x)
    outputs = {}
    for engine in ("numpy", "onnxruntime"):
        out = tmp_path / f"{engine}.npz"
        result = CliRunner().invoke(
            cli,
            ["run", str(TWO_HEADS), "--input", str(tmp_path / "x.npz"), "--batch-size", "2"]
            + ["--engine", engine, "--output", str(out)],
        )
        assert result.exit_code == 0, result.output
        with np.load(out) as found:
            outputs[engine] = {name: found[name] for name in ("head_a", "head_b")}
    assert_close(outputs["onnxruntime"], outputs["numpy"], "cli")


def test_memory_check_counts_the_sessions_copies_and_work() -> None:
    """The onnxruntime engine holds up to 4.45x the weight bytes besides the model's own and
    up to 3.31x the plan's work per sample (measured, see OnnxRuntimeEngine): its memory
    check counts the weights 6 times and the work 3.5 times."""
    numpy_model = builder.load(SEED_CNN)
    model = builder.load(SEED_CNN, engine="onnxruntime")
    weights = 55_744 * 4  # the seed CNN's parameters, float32
    per_sample = numpy_model.work_bytes_per_sample()
    fixed = numpy_model.fixed_work_bytes()  # the NumPy kernels' blocks, not onnxruntime's
    limit = weights * 6 + 35 * per_sample
    assert numpy_model.check_memory(1000, limit + fixed) == (limit - weights) // per_sample
    assert model.check_memory(1000, limit) == 10  # 35 / 3.5
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(
        ResourceError, match="the weights need 1.28 MB with the onnxruntime engine.s copies"
    ):
        model.predict(x, max_memory=weights * 6 - 1)
    roomy = weights * 6 - 1 + fixed
    assert numpy_model.predict(x, max_memory=roomy).shape == (2, *model.output_shape)
