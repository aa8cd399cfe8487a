"""ONNX export of every example config (several inputs and outputs included), under
onnxruntime and the ReferenceEvaluator, against the NumPy engine (see test_onnx_export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx_helpers import check_export, random_input, random_weights, run_reference

import builder

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_example_configs_match_numpy_engine(path: Path, tmp_path: Path) -> None:
    model = builder.load(path)
    random_weights(model, 0, tmp_path)
    check_export(model, random_input(model, 1, count=2))


def test_two_heads_in_numbers(tmp_path: Path) -> None:
    """two_heads.yaml: the softmax head sums to one in every runtime, the sigmoid head is
    in [0, 1], and both runtimes agree with the NumPy engine."""
    model = builder.load(ROOT / "configs" / "two_heads.yaml")
    random_weights(model, 14, tmp_path)
    x = random_input(model, 14, count=5)
    assert sorted(x) == ["image", "meta"]
    result = check_export(model, x)
    for found in (result["onnxruntime"], run_reference(result["proto"], x)):
        assert list(found) == ["head_a", "head_b"]
        np.testing.assert_allclose(found["head_a"].sum(axis=1), np.ones(5), rtol=1e-6)
        head_b = found["head_b"]
        assert head_b.shape == (5, 1) and np.all((head_b >= 0) & (head_b <= 1))
