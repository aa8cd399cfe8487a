"""Tests for builder.loader: safe YAML in, plain data and 1-based positions out."""

from __future__ import annotations

import math
from pathlib import Path as FilePath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import ConfigError, Problem
from builder.loader import MAX_FILE_BYTES, Document, Mark, load_document, read_text


def load_error(text: str) -> list[Problem]:
    """The problems load_document reports for `text` (which must be refused)."""
    with pytest.raises(ConfigError) as info:
        load_document(text, "model.yaml")
    return info.value.problems


def only_problem(text: str) -> Problem:
    problems = load_error(text)
    assert len(problems) == 1, problems
    return problems[0]


def position(problem: Problem) -> tuple[int | None, int | None]:
    return problem.line, problem.col


# --------------------------------------------------------------------------- data


CONFIG = """\
# a comment line
name: small_cnn
input_shape: [28, 28, 1]
layers:
  - Conv2D: {filters: 32, kernel_size: [3, 3]}
  - Flatten
  - Dense:
      units: 10
      activation: softmax
"""


def test_plain_data_of_a_config() -> None:
    doc = load_document(CONFIG, "model.yaml")
    assert doc.filename == "model.yaml"
    assert doc.data == {
        "name": "small_cnn",
        "input_shape": [28, 28, 1],
        "layers": [
            {"Conv2D": {"filters": 32, "kernel_size": [3, 3]}},
            "Flatten",
            {"Dense": {"units": 10, "activation": "softmax"}},
        ],
    }
    assert list(doc.data) == ["name", "input_shape", "layers"]  # document order kept


def test_value_positions_are_one_based_line_and_column() -> None:
    doc = load_document(CONFIG)
    assert doc.values[()] == Mark(2, 1)
    assert doc.values[("name",)] == Mark(2, 7)
    assert doc.values[("input_shape",)] == Mark(3, 14)
    assert doc.values[("input_shape", 2)] == Mark(3, 23)
    assert doc.values[("layers", 0)] == Mark(5, 5)
    assert doc.values[("layers", 0, "Conv2D", "filters")] == Mark(5, 23)
    assert doc.values[("layers", 0, "Conv2D", "kernel_size", 1)] == Mark(5, 44)
    assert doc.values[("layers", 1)] == Mark(6, 5)
    assert doc.values[("layers", 2, "Dense", "units")] == Mark(8, 14)


def test_key_positions_are_recorded_by_the_path_of_their_value() -> None:
    doc = load_document(CONFIG)
    assert doc.keys[("name",)] == Mark(2, 1)
    assert doc.keys[("layers",)] == Mark(4, 1)
    assert doc.keys[("layers", 0, "Conv2D")] == Mark(5, 5)
    assert doc.keys[("layers", 0, "Conv2D", "kernel_size")] == Mark(5, 27)
    assert doc.keys[("layers", 2, "Dense", "activation")] == Mark(9, 7)
    assert ("layers", 1) not in doc.keys  # list items have no key


def test_mark_falls_back_to_the_closest_ancestor() -> None:
    doc = load_document(CONFIG)
    assert doc.mark(("layers", 2, "Dense", "units")) == Mark(8, 14)
    assert doc.mark(("layers", 2, "Dense", "missing", 3)) == doc.values[("layers", 2, "Dense")]
    assert doc.mark(("nowhere",)) == doc.values[()]


def test_empty_document_mark_is_none() -> None:
    doc = Document("x", {}, {}, {})
    assert doc.mark(("a",)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("-7", -7),
        ("0x1F", 31),
        ("1_000", 1000),
        ("2.5", 2.5),
        ("1.0e-3", 0.001),
        ("1e-3", 0.001),  # YAML 1.1 needs a dot; we also read the YAML 1.2 form
        (".inf", math.inf),
        ("-.inf", -math.inf),
        ("true", True),
        ("false", False),
        ("yes", True),  # YAML 1.1 as PyYAML: kept, not coerced
        ("no", False),
        ("on", True),
        ("off", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("relu", "relu"),
        ('"32"', "32"),
        ("'yes'", "yes"),
        ("!!str 32", "32"),
        ("!!int '32'", 32),
        ("!!float 1", 1.0),
        ("2001-12-14", "2001-12-14"),  # date-like plain scalars stay strings
        ("=", "="),
        ("<<", "<<"),  # a merge key only means something as a key
    ],
)
def test_scalar_types(text: str, expected: object) -> None:
    value = load_document(f"v: {text}\n").data["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_nan_is_a_float() -> None:
    assert math.isnan(load_document("v: .nan").data["v"])


def test_nested_flow_and_block_collections() -> None:
    text = "a: [1, [2, [3, {b: [4, 5]}]], {}]\nc:\n  - - x\n    - y\n  - []\n"
    doc = load_document(text)
    assert doc.data == {"a": [1, [2, [3, {"b": [4, 5]}]], {}], "c": [["x", "y"], []]}
    assert doc.values[("a", 1, 1, 1, "b", 1)] == Mark(1, 24)
    assert doc.values[("c", 0, 1)] == Mark(4, 7)


def test_int_and_bool_keys_are_kept_for_the_schema_to_judge() -> None:
    doc = load_document("2: two\nyes: true\n")
    assert doc.data == {2: "two", True: True}
    assert doc.keys[(True,)] == Mark(2, 1)


# --------------------------------------------------------------------------- aliases


def test_alias_repeats_a_block_with_the_anchored_positions() -> None:
    text = """\
block: &block {filters: 8}
layers:
  - *block
  - *block
"""
    doc = load_document(text)
    assert doc.data["layers"] == [{"filters": 8}, {"filters": 8}]
    assert doc.values[("layers", 1)] == Mark(1, 8)
    assert doc.values[("layers", 1, "filters")] == Mark(1, 25)
    assert doc.keys[("layers", 0, "filters")] == Mark(1, 16)


def test_merge_key_explicit_keys_win_and_merged_positions_are_kept() -> None:
    text = """\
base: &base
  filters: 32
  kernel_size: 3
conv:
  <<: *base
  filters: 64
"""
    doc = load_document(text)
    assert doc.data["conv"] == {"filters": 64, "kernel_size": 3}
    assert doc.values[("conv", "filters")] == Mark(6, 12)
    assert doc.keys[("conv", "filters")] == Mark(6, 3)
    assert doc.values[("conv", "kernel_size")] == Mark(3, 16)
    assert doc.keys[("conv", "kernel_size")] == Mark(3, 3)


def test_explicit_key_before_the_merge_also_wins() -> None:
    doc = load_document("a: &a {x: 1, y: 1}\nb: {x: 2, <<: *a}\n")
    assert doc.data["b"] == {"x": 2, "y": 1}


def test_merge_list_earlier_sources_win() -> None:
    text = "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n"
    doc = load_document(text)
    assert doc.data["c"] == {"x": 1, "y": 2, "z": 3}
    assert doc.values[("c", "x")] == Mark(1, 11)
    assert doc.values[("c", "y")] == Mark(2, 17)


def test_nested_merges_are_flattened() -> None:
    text = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n"
    assert load_document(text).data["c"] == {"x": 1, "y": 2, "z": 3}


@pytest.mark.parametrize("value", ["1", "[1, {a: 1}]", "hello"])
def test_merge_of_a_non_mapping_is_refused(value: str) -> None:
    problem = only_problem(f"a:\n  <<: {value}\n")
    assert "merge key '<<' needs a mapping or a list of mappings" in problem.message


def test_undefined_alias_and_duplicate_anchor() -> None:
    assert "undefined alias" in only_problem("a: *nope\n").message
    problem = only_problem("a: &x 1\nb: &x 2\n")
    assert problem.message == "duplicate anchor 'x' (first defined on line 1)"
    assert position(problem) == (2, 4)


def test_billion_laughs_is_refused_without_expanding() -> None:
    lines = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    names = "abcdefghij"
    for previous, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    problem = only_problem("\n".join(lines) + "\n")
    assert problem.message == "document too large after alias expansion (more than 100,000 nodes)"


def test_many_nodes_without_aliases_are_refused_too() -> None:
    problem = only_problem("a: [" + "0," * 100_001 + "]\n")
    assert "too large: more than 100,000 YAML values" in problem.message
    assert "alias" not in problem.message  # there is none: the text itself is that large


@pytest.mark.parametrize(
    "text", ["a: &a [1, *a]\n", "a: &a {x: *a}\n", "a: &a\n  <<: *a\n", "a: &a [[[*a]]]\n"]
)
def test_recursive_alias_is_refused(text: str) -> None:
    problem = only_problem(text)
    assert "recursive alias" in problem.message
    assert position(problem) == (1, 4)


def test_deep_nesting_through_an_alias_chain_is_refused() -> None:
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 150)]
    assert "nested too deeply" in only_problem("\n".join(lines)).message


# --------------------------------------------------------------------------- keys


def test_duplicate_key_names_both_lines() -> None:
    text = "layers:\n  - Conv2D:\n      filters: 32\n      kernel_size: 3\n      filters: 64\n"
    problem = only_problem(text)
    assert problem.message == "duplicate key 'filters' (first defined on line 3)"
    assert position(problem) == (5, 7)
    assert problem.where == ""
    assert str(problem) == "model.yaml:5:7: duplicate key 'filters' (first defined on line 3)"


def test_every_duplicate_is_reported() -> None:
    problems = load_error("a: 1\nb: 2\na: 3\nb: 4\n")
    assert [p.line for p in problems] == [3, 4]


def test_equal_int_and_bool_keys_are_duplicates() -> None:
    assert "duplicate key 'true'" in only_problem("1: a\ntrue: b\n").message


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("[a, b]: 1\n", "a list"),
        ("? [a, b]\n: 1\n", "a list"),
        ("{a: 1}: 2\n", "a mapping"),
        ("~: 1\n", "null"),
        ("1.5: 1\n", "a number"),
    ],
)
def test_keys_that_are_not_plain_values_are_refused(text: str, got: str) -> None:
    problem = only_problem(text)
    assert problem.message.startswith(f"a mapping key must be a string, got {got}")


# --------------------------------------------------------------------------- tags


def test_python_object_tag_is_refused_and_never_executed(tmp_path: FilePath) -> None:
    target = tmp_path / "pwned_x"
    text = f'run: !!python/object/apply:os.system ["touch {target}"]\n'
    problem = only_problem(text)
    assert problem.message == "unsupported YAML tag '!!python/object/apply:os.system'"
    assert position(problem) == (1, 6)
    assert not target.exists()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/object:builtins.dict {}", "!!python/object:builtins.dict"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!timestamp 2001-12-14", "!!timestamp"),
        ("!!set {a, b}", "!!set"),
        ("!!omap [a: 1]", "!!omap"),
        ("!custom x", "!custom"),
    ],
)
def test_unsupported_tags_are_refused(value: str, shown: str) -> None:
    problem = only_problem(f"a: 1\nb: {value}\n")
    assert problem.message == f"unsupported YAML tag '{shown}'"
    assert position(problem) == (2, 4)


def test_tag_directives_cannot_smuggle_tags() -> None:
    text = "%TAG !! tag:yaml.org,2002:python/\n---\na: !!name:os.system\n"
    assert "unsupported YAML tag" in only_problem(text).message


def test_standard_tag_on_the_wrong_kind_is_refused() -> None:
    assert only_problem("a: !!map [1]\n").message == "YAML tag '!!map' cannot be used on a list"


def test_bad_tagged_scalar_is_reported() -> None:
    assert only_problem("a: !!int forty\n").message == "cannot read 'forty' as an integer"


def test_all_problems_are_reported_sorted() -> None:
    problems = load_error("a: !!binary eA==\nb: 1\nb: 2\nc: !foo x\n")
    assert [(p.line, p.col) for p in problems] == [(1, 4), (3, 1), (4, 4)]


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n# comments\n", "---\n", "--- # x\n...\n"])
def test_empty_config(text: str) -> None:
    problem = only_problem(text)
    assert problem.message == "empty config file"
    assert problem.where == ""


def test_two_documents_are_refused() -> None:
    problem = only_problem("a: 1\n---\nb: 2\n")
    assert "single YAML document" in problem.message
    assert position(problem) == (2, 1)


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n- b\n", "a list"), ("hello\n", "a string"), ("42\n", "an integer"), ("null\n", "null")],
)
def test_root_must_be_a_mapping(text: str, got: str) -> None:
    problem = only_problem(text)
    assert problem.message == f"the config must be a mapping (key: value), got {got}"
    assert position(problem) == (1, 1)


def test_tab_indentation_is_a_syntax_error_at_the_tab() -> None:
    problem = only_problem("layers:\n\t- Flatten\n")
    assert "found character '\\t' that cannot start any token" in problem.message
    assert position(problem) == (2, 1)


def test_syntax_error_has_the_problem_position() -> None:
    problem = only_problem("a: [1, 2\nb: 3\n")
    assert position(problem) == (2, 2)


@pytest.mark.parametrize(
    "text", ["[" * 10_000, "[" * 10_000 + "]" * 10_000, "a:\n" + "- " * 5_000 + "x"]
)
def test_deep_nesting_is_an_error_not_a_crash(text: str) -> None:
    assert "nested too deeply" in only_problem(text).message


def test_control_character_and_lone_surrogate_are_refused() -> None:
    assert position(only_problem("a: 1\nb: x\x07\n")) == (2, 5)
    problem = only_problem("a: \ud800\n")
    assert "U+D800" in problem.message
    assert position(problem) == (1, 4)


def test_byte_order_mark_is_ignored() -> None:
    doc = load_document("\ufeffa: 1\n")
    assert doc.data == {"a": 1}
    assert doc.values[("a",)] == Mark(1, 4)


def test_oversized_text_is_refused() -> None:
    text = "a: '" + "x" * MAX_FILE_BYTES + "'\n"
    assert "too large" in only_problem(text).message


# --------------------------------------------------------------------------- files


def read_error(path: FilePath) -> Problem:
    with pytest.raises(ConfigError) as info:
        read_text(path)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert problem.where == ""
    return problem


def test_read_text_reads_utf8(tmp_path: FilePath) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("name: café\n", encoding="utf-8")
    assert read_text(path) == "name: café\n"
    assert read_text(str(path)) == "name: café\n"


def test_file_over_one_mib_is_refused(tmp_path: FilePath) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (2 * 1024 * 1024))
    assert "too large" in read_error(path).message


def test_file_of_exactly_the_limit_is_read(tmp_path: FilePath) -> None:
    path = tmp_path / "limit.yaml"
    path.write_bytes(b"#" * MAX_FILE_BYTES)
    assert len(read_text(path)) == MAX_FILE_BYTES


def test_invalid_utf8_is_refused_at_the_bad_byte(tmp_path: FilePath) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: x\nlabel: é\n".encode("latin-1"))
    problem = read_error(path)
    assert "not valid UTF-8" in problem.message
    assert position(problem) == (2, 8)


def test_missing_file(tmp_path: FilePath) -> None:
    assert read_error(tmp_path / "nope.yaml").message == "no such file"


def test_directory(tmp_path: FilePath) -> None:
    assert "is a directory" in read_error(tmp_path).message


def test_unreadable_file(tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    monkeypatch.setattr("builder.loader.open", refuse, raising=False)  # root reads anything
    assert "permission denied" in read_error(path).message


def test_empty_file_read_then_loaded(tmp_path: FilePath) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty config file"):
        load_document(read_text(path), str(path))


# --------------------------------------------------------------------------- properties

YAML_PIECES = st.sampled_from(
    [
        *"ab:-[]{},&*!<>?|'\"#\n\t 01.~%",
        "<<",
        "!!int",
        "!!binary",
        "&a ",
        "*a",
        "---",
        "? ",
        ": ",
        "- ",
        "\n  ",
        "yes",
        "!!python/name:x",
        "%TAG ! tag:x:\n",
        "\x07",
    ]
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text())
def test_any_text_gives_a_document_or_a_config_error(text: str) -> None:
    try:
        doc = load_document(text)
    except ConfigError as error:
        assert error.problems
    else:
        assert isinstance(doc.data, dict)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(YAML_PIECES, max_size=30).map("".join))
def test_yaml_like_text_gives_a_document_or_a_config_error(text: str) -> None:
    try:
        doc = load_document(text)
    except ConfigError as error:
        assert error.problems
    else:
        assert set(doc.values) >= set(doc.keys) | {()}
