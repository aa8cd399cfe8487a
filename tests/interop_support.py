"""Helpers shared by the Keras interop tests: run the CLI, import a fixture, compare.

The fixtures in tests/fixtures/keras were written by Keras itself (make_fixtures.py);
each `<name>.io.npz` holds a fixed input `x` and Keras's output `y`, the oracle here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

import builder
from builder.cli import cli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras"
RTOL = {"float32": 1e-5, "float64": 1e-12}


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def import_fixture(filename: str, folder: Path) -> tuple[Path, Path]:
    """`builder import` of one fixture into `folder`; returns (config, weights)."""
    config = folder / (filename.replace(".", "_") + ".yaml")
    result = invoke("import", FIXTURES / filename, "-o", config)
    assert result.exit_code == 0, result.output
    return config, config.with_suffix(".npz")


def arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an `.npz` file (closed again after reading)."""
    with np.load(path, allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def io_of(filename: str) -> tuple[np.ndarray, np.ndarray]:
    stored = arrays(FIXTURES / (filename.rsplit(".", 1)[0] + ".io.npz"))
    return stored["x"], stored["y"]


def assert_matches_keras(filename: str, folder: Path) -> None:
    """Import, run with builder, and compare with Keras's stored output."""
    config, weights = import_fixture(filename, folder)
    model = builder.load(config)
    model.load_weights(weights)
    x, expected = io_of(filename)
    got = model(x)
    assert got.dtype == expected.dtype
    rtol = RTOL[str(expected.dtype)]
    # atol only guards outputs that cancel to ~0; it is far below rtol·max|y|.
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * 1e-3 * np.abs(expected).max())


def body(config: Path) -> str:
    """The config text without its `# Imported from ...` line (which names the source)."""
    return "\n".join(
        line for line in config.read_text().splitlines() if not line.startswith("# Imported from")
    )


def assert_round_trip(filename: str, folder: Path, rewritten: tuple[str, str] = ("", "")) -> None:
    """import → export → import gives the same config and the same weights, bit for bit.

    `rewritten` is a (before, after) text change that export makes on purpose (a layer
    Keras 3 lacks, written as its equivalent)."""
    config, weights = import_fixture(filename, folder)
    exported = folder / "exported.keras"
    result = invoke("export", config, "--weights", weights, "-o", exported)
    assert result.exit_code == 0, result.output
    again = folder / "again.yaml"
    result = invoke("import", exported, "-o", again)
    assert result.exit_code == 0, result.output
    assert body(again) == body(config).replace(*rewritten)
    first, second = arrays(weights), arrays(again.with_suffix(".npz"))
    assert sorted(first) == sorted(second)
    for key in first:
        assert first[key].dtype == second[key].dtype
        np.testing.assert_array_equal(first[key], second[key])
