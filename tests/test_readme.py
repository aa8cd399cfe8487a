"""The README shows what the commands print today."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from builder.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def fenced_block_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(marker) + r"\s*```[a-z]*\n(.*?)```", text, re.S)
    assert found, f"README has no code block after {marker!r}"
    return found.group(1)


def test_quick_start_output_is_current() -> None:
    result = CliRunner().invoke(cli, ["summarize", str(ROOT / "configs/seed_cnn.yaml")])
    assert result.exit_code == 0
    assert fenced_block_after("The first command prints:") == result.output


def test_mermaid_diagram_is_current() -> None:
    result = CliRunner().invoke(cli, ["graph", str(ROOT / "configs/inception_block.yaml")])
    assert result.exit_code == 0
    assert (
        fenced_block_after("`builder graph configs/inception_block.yaml` draws:") == result.output
    )
