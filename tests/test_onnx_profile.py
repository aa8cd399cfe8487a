"""`run --profile --engine onnxruntime`: onnxruntime's kernel times mapped back to layer
names, checked on a hand-written trace and through the CLI."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.engines.onnxruntime_profile import OPTIMISER, layer_of, read_profile

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "configs" / "seed_cnn.yaml")
LAYERS = ["conv2d", "leaky_re_lu", "conv2d_1", "dense", "dense_1"]


@pytest.mark.parametrize(
    ("node", "layer"),
    [
        ("conv2d", "conv2d"),
        ("conv2d/transpose", "conv2d"),
        ("conv2d_1_nchwc", "conv2d_1"),  # the longest prefix, not conv2d
        ("conv2d_nchwc", "conv2d"),
        ("leaky_re_lu_nchwc", "leaky_re_lu"),
        ("fused dense/matmul/MatMulAddFusion", "dense"),
        ("dense_1/activation", "dense_1"),
        ("ReorderOutput_token_17", OPTIMISER),
        ("conv2dx", OPTIMISER),  # a prefix must end at `/`, `_` or the name's end
    ],
)
def test_layer_of_a_node_name(node: str, layer: str) -> None:
    assert layer_of(node, LAYERS) == layer


def test_read_profile_sums_kernels_by_layer_and_op(tmp_path: Path) -> None:
    def kernel(node: str, op: str, microseconds: int) -> dict[str, object]:
        return {"cat": "Node", "name": f"{node}_kernel_time", "dur": microseconds,
                "args": {"op_name": op}}  # fmt: skip

    events = [
        {"cat": "Session", "name": "model_run", "dur": 99_999},
        kernel("conv2d/transpose", "Transpose", 100),
        {"cat": "Node", "name": "leaky_re_lu_nchwc_fence_before", "dur": 7},
        kernel("leaky_re_lu_nchwc", "Conv", 3_000),
        kernel("ReorderOutput", "ReorderOutput", 50),
        kernel("fused dense/matmul/MatMulAddFusion", "FusedGemm", 400),
        kernel("conv2d/transpose", "Transpose", 300),  # a second chunk
        kernel("leaky_re_lu_nchwc", "Conv", 1_000),
    ]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(events))
    found = read_profile(path, LAYERS)
    assert [(layer, op) for layer, op, _ in found.rows] == [
        ("conv2d", "Transpose"),
        ("leaky_re_lu", "Conv"),
        (OPTIMISER, "ReorderOutput"),
        ("dense", "FusedGemm"),
    ]
    assert [s for _, _, s in found.rows] == pytest.approx([0.0004, 0.004, 0.00005, 0.0004])
    # conv2d ran only its layout Transpose: its Conv was fused into leaky_re_lu's kernel
    assert found.fused == ("conv2d", "conv2d_1", "dense_1")
    header, columns, *rows, fused = found.text(samples=8).splitlines()
    assert header == "profile (onnxruntime): 8 samples, 4.9 ms in 4 kernels"
    assert columns.split() == ["kernel", "(layer:", "op)", "ms", "share"]
    assert rows[1].split() == ["leaky_re_lu:", "Conv", "4.00", "82.5%"]  # 4 / 4.85 ms
    assert fused == "  fused into a kernel above or removed: conv2d, conv2d_1, dense_1"


def test_cli_profile_with_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # onnxruntime's trace file
    out = tmp_path / "y.npy"
    args = ["run", SEED, "--random", "5", "--batch-size", "2", "--output", str(out)]
    plain = CliRunner().invoke(cli, [*args, "--engine", "onnxruntime"])
    assert plain.exit_code == 0 and plain.stderr == ""
    expected = np.load(out)
    result = CliRunner().invoke(cli, [*args, "--engine", "onnxruntime", "--profile"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out), expected)  # profiling changes no number
    assert result.stdout == f"{out}: wrote (5, 3, 3, 64) float32\n"
    header, _, *rows = result.stderr.splitlines()
    assert header.startswith("profile (onnxruntime): 5 samples, ")
    layers = {"conv2d", "leaky_re_lu", "max_pooling2d", "conv2d_1", "leaky_re_lu_1"}
    layers |= {"max_pooling2d_1", "conv2d_2", "leaky_re_lu_2", OPTIMISER}
    table = [row for row in rows if ": " in row and "fused" not in row]
    assert table and {row.split(": ")[0].strip() for row in table} <= layers
    total = float(header.split(", ")[1].split(" ms")[0])
    assert sum(float(row.split()[-2]) for row in table) == pytest.approx(
        total, abs=0.01 * len(table)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.npy"]  # the trace was removed
