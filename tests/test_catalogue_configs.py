"""The example configs of issue 13 (item 4): `builder summarize` prints the parameter
counts Keras 3.15.1 prints for the same networks, and each config runs.

The expected numbers come from `tests/fixtures/keras/catalogue_counts.py` (its docstring
holds the output): MobileNetV2 is `keras.applications.MobileNetV2(input_shape=(96, 96, 3),
weights=None)`; the others are that script's Keras functional/Sequential models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import builder
from builder.cli import cli

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

# config → (total, trainable) parameters, as Keras 3.15.1 counts them
KERAS_COUNTS = {
    "mobilenet_v2_96": (3_538_984, 3_504_872),  # keras.applications.MobileNetV2
    "unet": (115_539, 115_539),
    "xception_block": (193_312, 190_816),
    "convnext_block": (164_650, 164_650),
    "sequence_cnn": (31_414, 31_397),  # Normalization: mean, variance (8 each) and count
}
OUTPUTS = {
    "mobilenet_v2_96": (1000,),
    "unet": (64, 64, 3),
    "xception_block": (8, 8, 256),
    "convnext_block": (10,),
    "sequence_cnn": (5,),
}


@pytest.mark.parametrize("name", list(KERAS_COUNTS))
def test_summary_prints_kerass_parameter_counts(name: str) -> None:
    total, trainable = KERAS_COUNTS[name]
    result = CliRunner().invoke(cli, ["summarize", str(CONFIGS / f"{name}.yaml")])
    assert result.exit_code == 0, result.output
    assert f"Total params: {total:,} " in result.output
    assert f"Trainable params: {trainable:,} " in result.output
    assert f"Non-trainable params: {total - trainable:,} " in result.output


@pytest.mark.parametrize("name", list(KERAS_COUNTS))
def test_example_config_runs(name: str) -> None:
    model = builder.load(CONFIGS / f"{name}.yaml")
    assert model.output_shape == OUTPUTS[name]
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, *model.input_shape))
    y = model.predict(x.astype(model.dtype))
    assert y.shape == (2, *OUTPUTS[name])
    assert np.isfinite(y).all()
    if OUTPUTS[name] in ((1000,), (10,), (5,)):  # softmax heads
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)
