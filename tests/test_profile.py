"""`builder run --profile` (issue 12 item 18): one row per plan step on stderr, the output
unchanged; the arithmetic of the table checked with recorded times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.config import parse
from builder.model import Model
from builder.profile import Profile

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "configs" / "seed_cnn.yaml")

# SPEC section 9, after the pool-first rewrite (each LeakyReLU read only by a max pooling
# runs after it)
SEED_STEPS = [
    "conv2d (Conv2D)",
    "max_pooling2d (MaxPooling2D) + leaky_re_lu",
    "conv2d_1 (Conv2D)",
    "max_pooling2d_1 (MaxPooling2D) + leaky_re_lu_1",
    "conv2d_2 (Conv2D)",
    "leaky_re_lu_2 (LeakyReLU)",
]


def test_profile_prints_one_row_per_step_and_leaves_the_output_alone(tmp_path: Path) -> None:
    runner = CliRunner()
    plain, profiled = tmp_path / "plain.npy", tmp_path / "profiled.npy"
    args = ["run", SEED, "--random", "4", "--batch-size", "3"]
    assert runner.invoke(cli, [*args, "--output", str(plain)]).exit_code == 0
    result = runner.invoke(cli, [*args, "--output", str(profiled), "--profile"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(plain), np.load(profiled))
    assert result.stdout == f"{profiled}: wrote (4, 3, 3, 64) float32\n"
    header, columns, *rows = result.stderr.splitlines()
    assert header.startswith("profile: 4 samples, ") and header.endswith(" ms in 6 steps")
    assert columns.split() == ["layer", "ms", "share", "GFLOP/s"]
    assert [row[2:].split("  ")[0].strip() for row in rows] == SEED_STEPS
    gflops = [row.split()[-1] for row in rows]
    assert [g == "-" for g in gflops] == [
        False,
        True,
        False,
        True,
        False,
        True,
    ]  # MACs only in Conv2D


def test_profile_arithmetic() -> None:
    model = Model.from_spec(parse(SEED))
    profile = Profile(model.plan)
    steps = model.plan.steps
    for step, seconds in zip(steps, [0.002, 0.001, 0.004, 0.0005, 0.0015, 0.001], strict=True):
        profile.record(step, seconds / 2)  # two chunks
        profile.record(step, seconds / 2)
    rows = profile.rows(samples=10)
    assert [round(ms, 9) for _, ms, _, _ in rows] == [2.0, 1.0, 4.0, 0.5, 1.5, 1.0]
    assert [share for _, _, share, _ in rows] == pytest.approx([0.2, 0.1, 0.4, 0.05, 0.15, 0.1])
    # conv2d: 2 · 194,688 MACs · 10 samples / 0.002 s = 1.94688 GFLOP/s (SPEC 9's MACs)
    rates = [rate for _, _, _, rate in rows]
    assert rates[0] == pytest.approx(2 * 194_688 * 10 / 0.002 / 1e9)
    assert rates[2] == pytest.approx(2 * 2_230_272 * 10 / 0.004 / 1e9)
    assert rates[4] == pytest.approx(2 * 331_776 * 10 / 0.0015 / 1e9)
    assert rates[1] is rates[3] is rates[5] is None


def test_no_timer_unless_profiling() -> None:
    model = Model.from_spec(parse(SEED))
    assert model.step_timer is None
    seen: list[str] = []
    model.step_timer = lambda step, seconds: seen.append(step.output)
    model.predict(np.zeros((2, 28, 28, 1), dtype=np.float32), batch_size=1)
    assert len(seen) == 2 * 6  # every step of both chunks
