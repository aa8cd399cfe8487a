"""Property tests: whatever text arrives, `parse` returns a ModelSpec or raises ConfigError
(never another exception), every problem's position lies inside the file, and compiling a
valid spec gives a model or a ConfigError.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.config import parse
from builder.errors import ConfigError
from builder.model import Model
from builder.spec.model import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
CONFIG_TEXTS = [
    path.read_text(encoding="utf-8") for path in sorted((ROOT / "configs").glob("*.yaml"))
]

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def check(text: str, *, exact_lines: bool = True) -> ModelSpec | None:
    """Parse and compile `text`; only a ConfigError may stop it, with positions in the file.

    With `exact_lines`, lines are split at newlines only and each column must fall inside
    its line. Random text may hold the other characters YAML also counts as line breaks
    (carriage return, U+0085, U+2028, U+2029), on which PyYAML and the loader's own
    positions differ; there only the line range is checked, counting breaks either way.
    """
    lines = text.split("\n")
    most_lines = max(len(lines), len(_LINE_BREAK.split(text)))
    try:
        spec = parse(text)
    except ConfigError as error:
        assert error.problems, "a ConfigError without problems"
        for problem in error.problems:
            assert str(problem)
            if problem.line is None:
                continue
            assert 1 <= problem.line <= (len(lines) if exact_lines else most_lines), (
                problem,
                len(lines),
            )
            if exact_lines and problem.col is not None:
                assert 1 <= problem.col <= len(lines[problem.line - 1]) + 1, problem
        return None
    assert isinstance(spec, ModelSpec)
    try:
        Model.from_spec(spec)
    except ConfigError as error:
        assert error.problems
    return spec


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


# --------------------------------------------------------------------------- random YAML-ish text

FRAGMENTS = [
    "input_shape: ",
    "layers:",
    "\n",
    "\n  - ",
    "  ",
    "- ",
    ": ",
    ", ",
    "{",
    "}",
    "[",
    "]",
    "'",
    '"',
    "#",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "? ",
    "|",
    ">",
    "---",
    "...",
    "%YAML 1.1",
    "!!str ",
    "!!int ",
    "!!python/object/apply:os.system ",
    "!!binary ",
    "!foo ",
    "\t",
    "\ufeff",
    "\x00",
    "\x85",
    "\r",
    "Conv2D",
    "Dense",
    "Flatten",
    "relu",
    "LeakyReLU",
    "type",
    "filters",
    "kernel_size",
    "units",
    "activation",
    "name",
    "input",
    "padding",
    "same",
    "alpha",
    "negative_slope",
    "inputs",
    "Add",
    "0",
    "1",
    "-1",
    "3",
    "28",
    "1e400",
    ".nan",
    ".inf",
    "yes",
    "null",
    "~",
    "0x1F",
    "1_000",
    "é",
    "😀",
    "[28, 28, 1]",
    "{filters: 8, kernel_size: 3}",
    "2001-12-14",
]

yamlish = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)),
    max_size=40,
).map("".join)


@FUZZ
@given(
    prefix=st.sampled_from(["", "input_shape: [8, 8, 3]\nlayers:\n  - ", "layers:\n  - "]),
    body=yamlish,
)
def test_random_text_gives_a_spec_or_a_config_error(prefix: str, body: str) -> None:
    check(prefix + body + "\n", exact_lines=False)


# --------------------------------------------------------------------------- mutated example configs

TOKENS = [
    "-1",
    "0",
    "yes",
    "null",
    '"x"',
    "[1, 2]",
    "{}",
    "1e400",
    ".nan",
    "3.5",
    "''",
    "*x",
    "&y z",
    "!!python/name:os.system",
    "Conv2D",
    "input",
    "[]",
    "- a",
    "{type: Flatten}",
    "~",
    "-.inf",
]
_SCALAR = re.compile(r"[A-Za-z0-9_.+-]+")
_VALUE = re.compile(
    r"(?<=: )[^\s,{}\[\]#]+|(?<=\[)[^\s,\]]+|(?<=, )[^\s,{}\[\]#:]+"
)  # after `: `, `[`, `, `
MUTATIONS = ["delete", "duplicate", "token", "value", "value", "value", "swap", "indent", "insert"]


@st.composite
def mutated_config(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(CONFIG_TEXTS)).split("\n")
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "delete" and len(lines) > 1:
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind in ("token", "value"):
            scalars = list((_SCALAR if kind == "token" else _VALUE).finditer(line))
            if scalars:
                match = draw(st.sampled_from(scalars))
                lines[index] = (
                    line[: match.start()] + draw(st.sampled_from(TOKENS)) + line[match.end() :]
                )
        elif kind == "swap" and len(line) >= 2:
            at = draw(st.integers(0, len(line) - 2))
            lines[index] = line[:at] + line[at + 1] + line[at] + line[at + 2 :]
        elif kind == "indent":
            stripped = line.lstrip(" ")
            indent = draw(st.sampled_from(["", " ", "  ", "   ", "    ", "      ", "\t"]))
            lines[index] = indent + stripped
        elif kind == "insert":
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.sampled_from(list(":-[]{},#&*!|>'\" "))) + line[at:]
    return "\n".join(lines)


@FUZZ
@given(text=mutated_config())
def test_mutated_configs_give_a_spec_or_a_config_error(text: str) -> None:
    check(text)


def test_the_example_configs_pass_the_check() -> None:
    for text in CONFIG_TEXTS:
        assert check(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "input_shape: [1",  # the last line has no newline: the end of the file is on line 1
        "input_shape: [1]\nlayers: [Flatten]\n[",
        "input_shape: [1]\nlayers:\n  - Flatten\nname",
    ],
)
def test_end_of_file_errors_point_inside_the_file(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    (problem,) = info.value.problems
    lines = text.split("\n")
    assert problem.line is not None and 1 <= problem.line <= len(lines), problem
    assert problem.col is not None and 1 <= problem.col <= len(lines[problem.line - 1]) + 1, problem
