"""`builder validate`, `builder schema` and `builder --version` through click's CliRunner,
and hostile inputs: each is refused with exit status 1, a message on stderr and no traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from builder import __version__
from builder.cli import cli
from builder.spec.schema import json_schema, schema_text

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "configs").glob("*.yaml"))

GOOD = "input_shape: [28, 28, 1]\nlayers:\n  - Conv2D: {filters: 4, kernel_size: 3}\n  - Flatten\n"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_refused(result: Result, stderr: str) -> None:
    """Exit 1, exactly this on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stderr == stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------- validate


def test_validate_every_example_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("validate", *CONFIGS)
    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(f"{path}: ok\n" for path in CONFIGS)
    assert result.stderr == ""


def test_validate_one_good_file(tmp_path: Path) -> None:
    path = write(tmp_path / "good.yaml", GOOD)
    result = invoke("validate", path)
    assert result.exit_code == 0
    assert result.stdout == f"{path}: ok\n"


def test_validate_bad_file_prints_every_error_on_stderr(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml",
        "input_shape: [28, 28, 1]\nlayers:\n  - Conv2D: {filters: 0, kernel_size: 3}\n  - Dense: {unit: 3}\n",
    )
    assert_refused(
        invoke("validate", path),
        f"{path}:3:23: layers[0] (Conv2D) filters: must be a positive integer, got 0\n"
        f"{path}:4:13: layers[1] (Dense) unit: unknown field 'unit'; did you mean 'units'?\n",
    )


def test_validate_reports_graph_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "small.yaml",
        "input_shape: [2, 2, 1]\nlayers:\n  - Conv2D: {filters: 1, kernel_size: 3}\n",
    )
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}:3:")
    assert "Traceback" not in result.output


def test_validate_several_files_one_bad(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", GOOD)
    bad = write(tmp_path / "b.yaml", GOOD.replace("filters: 4", "filters: -4"))
    last = write(tmp_path / "c.yaml", GOOD)
    result = invoke("validate", first, bad, last)
    assert result.exit_code == 1
    assert result.stdout == f"{first}: ok\n{last}: ok\n"
    assert (
        result.stderr
        == f"{bad}:3:23: layers[0] (Conv2D) filters: must be a positive integer, got -4\n"
    )
    assert "Traceback" not in result.output


def test_validate_needs_a_config() -> None:
    result = invoke("validate")
    assert result.exit_code == 2  # click's usage error
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- schema, version


def test_schema_prints_the_json_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json_schema()
    assert result.stdout == schema_text()


def test_schema_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "model.schema.json"
    result = invoke("schema", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8") == schema_text()
    assert [path.name for path in tmp_path.iterdir()] == ["model.schema.json"]  # no temporary left


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"builder, version {__version__}\n"


# --------------------------------------------------------------------------- hostile inputs


def test_python_tag_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(
        tmp_path / "evil.yaml",
        f'input_shape: !!python/object/apply:os.system ["touch {marker}"]\nlayers: [Flatten]\n',
    )
    assert_refused(
        invoke("validate", path),
        f"{path}:1:14: unsupported YAML tag '!!python/object/apply:os.system'\n",
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: !!python/name:os.system\ninput_shape: [1]\nlayers: [Flatten]\n",
            "1:7: unsupported YAML tag '!!python/name:os.system'",
        ),
        (
            "name: !!binary aGVsbG8=\ninput_shape: [1]\nlayers: [Flatten]\n",
            "1:7: unsupported YAML tag '!!binary'",
        ),
        (
            "name: !custom x\ninput_shape: [1]\nlayers: [Flatten]\n",
            "1:7: unsupported YAML tag '!custom'",
        ),
    ],
)
def test_other_non_standard_tags_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "tag.yaml", text)
    assert_refused(invoke("validate", path), f"{path}:{message}\n")


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\ninput_shape: [1]\nlayers: [Flatten]\n"


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    path = write(tmp_path / "lol.yaml", billion_laughs())
    start = time.perf_counter()
    result = invoke("validate", path)
    assert time.perf_counter() - start < 2.0
    assert_refused(
        result, f"{path}: document too large after alias expansion (more than 100,000 nodes)\n"
    )


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.yaml", "input_shape: [1]\nlayers: [Flatten]\ninput_shape: [2]\n")
    assert_refused(
        invoke("validate", path),
        f"{path}:3:1: duplicate key 'input_shape' (first defined on line 1)\n",
    )


def test_duplicate_key_inside_a_layer(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.yaml",
        "input_shape: [8, 8, 1]\nlayers:\n  - Conv2D:\n      filters: 4\n      kernel_size: 3\n      filters: 8\n",
    )
    assert_refused(
        invoke("validate", path), f"{path}:6:7: duplicate key 'filters' (first defined on line 4)\n"
    )


def test_two_mib_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(GOOD.encode() + b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    size = path.stat().st_size
    assert_refused(
        invoke("validate", str(path)),
        f"{path}: file is too large ({size:,} bytes; the limit is 1,048,576 bytes = 1.00 MB)\n",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "- Conv2D\n- Flatten\n",
            "1:1: the config must be a mapping (key: value), got a list",
            id="list",
        ),
        pytest.param(
            "hello\n", "1:1: the config must be a mapping (key: value), got a string", id="string"
        ),
        pytest.param(
            "42\n", "1:1: the config must be a mapping (key: value), got an integer", id="integer"
        ),
        pytest.param("", ": empty config file", id="empty"),
        pytest.param("# only a comment\n\n", ": empty config file", id="comment-only"),
        pytest.param("---\n", ": empty config file", id="empty-document"),
    ],
)
def test_document_that_is_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "odd.yaml", text)
    separator = "" if message.startswith(":") else ":"
    assert_refused(invoke("validate", path), f"{path}{separator}{message}\n")


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"input_shape: [1]\nname: caf\xe9\nlayers: [Flatten]\n")
    assert_refused(
        invoke("validate", str(path)), f"{path}:2:10: the file is not valid UTF-8 (byte 0xe9)\n"
    )


def test_tab_indented_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "tabs.yaml", "input_shape: [1]\nlayers:\n\t- Flatten\n")
    assert_refused(
        invoke("validate", str(path)),
        f"{path}:3:1: found character '\\t' that cannot start any token (indent with spaces)\n",
    )


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.yaml")
    assert_refused(invoke("validate", path), f"{path}: no such file\n")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    result = invoke("validate", str(tmp_path))
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path / "syntax.yaml", "input_shape: [1, 2\nlayers: [Flatten]\n")
    result = invoke("validate", path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:2:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_hostile_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", GOOD)
    evil = write(tmp_path / "evil.yaml", billion_laughs())
    result = invoke("validate", evil, good)
    assert result.exit_code == 1
    assert result.stdout == f"{good}: ok\n"
    assert result.stderr.startswith(f"{evil}: ")
