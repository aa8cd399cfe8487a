"""What `builder summarize` imports: nothing that only weights or forward passes need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
from click.testing import CliRunner
from builder.cli import cli
result = CliRunner().invoke(cli, ["summarize", sys.argv[1]])
assert result.exit_code == 0, result.output
print(" ".join(sorted(name for name in sys.modules if name.startswith("builder"))))
"""


def test_summarize_imports_no_weight_or_io_code():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "configs" / "seed_cnn.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert "builder.report" in loaded  # the probe did summarize
    for module in (
        "builder.weights",
        "builder.ops.initializers",
        "builder.io",
        "builder.runner",
        "builder.spec.schema",
        "builder.diagram",
    ):
        assert module not in loaded, f"summarize imported {module}"


PARSE_PROBE = """
import sys
import builder.config
spec = builder.config.parse(sys.argv[1])
assert spec.layers, spec
print(" ".join(sorted(sys.modules)))
"""


def test_parsing_a_config_imports_no_numpy():
    done = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(ROOT / "configs" / "seed_cnn.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert "builder.spec.model" in loaded  # the probe did parse
    for module in ("numpy", "builder.ops.activations", "builder.layers.base", "builder.registry"):
        assert module not in loaded, f"parsing imported {module}"
