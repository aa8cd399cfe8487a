"""Tests for builder.diagram (Mermaid and DOT text) and the `builder graph` command.

The expected diagrams are written out in full. The DOT text is also read back by a
minimal DOT parser written here, so that a diagram that looks right but would not parse
(an unbalanced brace, an edge to an undeclared node, a bad escape) fails.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from builder.cli import cli
from builder.config import parse
from builder.diagram import mermaid_ids, to_dot, to_mermaid
from builder.graph import Graph, compile_graph

ROOT = Path(__file__).resolve().parent.parent

RESIDUAL_BLOCK = """\
name: residual_block
input_shape: [8, 8, 4]
layers:
  - Conv2D: {filters: 4, kernel_size: 3, padding: same, activation: relu}
  - Conv2D: {filters: 4, kernel_size: 3, padding: same}
  - Add: {inputs: [conv2d_1, input]}
  - relu
"""

RESIDUAL_MERMAID = """\
flowchart TD
    input["input<br/>InputLayer<br/>(None, 8, 8, 4)"]
    conv2d["conv2d<br/>Conv2D + relu<br/>(None, 8, 8, 4)"]
    conv2d_1["conv2d_1<br/>Conv2D<br/>(None, 8, 8, 4)"]
    add["add<br/>Add<br/>(None, 8, 8, 4)"]
    activation["activation<br/>Activation: relu<br/>(None, 8, 8, 4)"]
    input --> conv2d
    conv2d --> conv2d_1
    conv2d_1 --> add
    input --> add
    add --> activation
"""

RESIDUAL_DOT = """\
digraph "residual_block" {
    rankdir=TB;
    node [shape=box];
    "input" [label="input\\nInputLayer\\n(None, 8, 8, 4)"];
    "conv2d" [label="conv2d\\nConv2D + relu\\n(None, 8, 8, 4)"];
    "conv2d_1" [label="conv2d_1\\nConv2D\\n(None, 8, 8, 4)"];
    "add" [label="add\\nAdd\\n(None, 8, 8, 4)"];
    "activation" [label="activation\\nActivation: relu\\n(None, 8, 8, 4)"];
    "input" -> "conv2d";
    "conv2d" -> "conv2d_1";
    "conv2d_1" -> "add";
    "input" -> "add";
    "add" -> "activation";
}
"""

RESIDUAL_EDGES = [
    ("input", "conv2d"),
    ("conv2d", "conv2d_1"),
    ("conv2d_1", "add"),
    ("input", "add"),
    ("add", "activation"),
]


def build(text: str) -> Graph:
    return compile_graph(parse(textwrap.dedent(text)))


# --------------------------------------------------------------------------- a minimal DOT parser

_DOT_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<arrow>->)|(?P<punct>[{}\[\];=,])'
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass
class DotGraph:
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)


def dot_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; every character must belong to one (or be whitespace)."""
    tokens, position = [], 0
    while text[position:].strip():
        match = _DOT_TOKEN.match(text, position)
        assert match is not None, f"cannot tokenize DOT at {text[position : position + 30]!r}"
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def unquote(token: tuple[str, str]) -> str:
    kind, value = token
    if kind == "word":
        return value
    assert kind == "string", f"expected an id, got {value!r}"
    body = value[1:-1]
    assert re.fullmatch(r'(?:[^"\\]|\\["\\nlr])*', body), f"bad escape in {value}"
    return body.replace('\\"', '"').replace("\\\\", "\\")


def parse_dot(text: str) -> DotGraph:
    """Enough of DOT for our output: `digraph ID { stmt; ... }` with graph attributes
    (`a=b;`), default node attributes (`node [..];`), node statements and edges."""
    tokens = dot_tokens(text)
    assert tokens[0] == ("word", "digraph")
    graph = DotGraph(unquote(tokens[1]))
    assert tokens[2] == ("punct", "{")
    depth, k = 1, 3

    def attributes() -> dict[str, str]:
        nonlocal k
        found: dict[str, str] = {}
        assert tokens[k] == ("punct", "[")
        k += 1
        while tokens[k] != ("punct", "]"):
            key, equals, value = tokens[k : k + 3]
            assert equals == ("punct", "="), tokens[k : k + 3]
            found[unquote(key)] = unquote(value)
            k += 3
            if tokens[k] == ("punct", ","):
                k += 1
        k += 1
        return found

    while depth:
        token = tokens[k]
        if token == ("punct", "}"):
            depth -= 1
            k += 1
            continue
        assert token[1] not in "{}[];=,", f"unexpected {token}"
        if tokens[k + 1] == ("punct", "="):
            graph.attributes[unquote(token)] = unquote(tokens[k + 2])
            k += 3
        elif token in (("word", "node"), ("word", "edge"), ("word", "graph")):
            k += 1
            attributes()
        elif tokens[k + 1] == ("arrow", "->"):
            graph.edges.append((unquote(token), unquote(tokens[k + 2])))
            k += 3
        else:
            name = unquote(token)
            assert name not in graph.nodes, f"node {name!r} declared twice"
            k += 1
            graph.nodes[name] = attributes() if tokens[k] == ("punct", "[") else {}
        assert tokens[k] == ("punct", ";"), f"statement not ended by ';' at {tokens[k]}"
        k += 1
    assert k == len(tokens), f"text after the closing brace: {tokens[k:]}"
    return graph


def test_the_parser_refuses_broken_dot() -> None:
    with pytest.raises((AssertionError, IndexError)):
        parse_dot('digraph "g" {\n    "a" -> "b";\n')  # unbalanced
    with pytest.raises(AssertionError):
        parse_dot('digraph "g" {\n    "a" [label="x\\q"];\n}\n')  # bad escape
    with pytest.raises(AssertionError):
        parse_dot('digraph "g" {\n    "a"\n}\n')  # no ';'


# --------------------------------------------------------------------------- expected text


def test_mermaid_of_a_residual_block() -> None:
    assert to_mermaid(build(RESIDUAL_BLOCK)) == RESIDUAL_MERMAID


def test_dot_of_a_residual_block() -> None:
    assert to_dot(build(RESIDUAL_BLOCK)) == RESIDUAL_DOT


def test_dot_of_a_residual_block_parses() -> None:
    model = build(RESIDUAL_BLOCK)
    graph = parse_dot(to_dot(model))
    assert graph.name == "residual_block"
    assert graph.attributes == {"rankdir": "TB"}
    assert list(graph.nodes) == ["input", "conv2d", "conv2d_1", "add", "activation"]
    for source, target in graph.edges:
        assert source in graph.nodes and target in graph.nodes
    assert graph.edges == RESIDUAL_EDGES
    assert graph.nodes["conv2d_1"]["label"].split("\\n") == [
        "conv2d_1",
        "Conv2D",
        "(None, 8, 8, 4)",
    ]


def test_mermaid_edges_are_the_data_flow() -> None:
    text = to_mermaid(build(RESIDUAL_BLOCK))
    edges = re.findall(r"^    (\w+) --> (\w+)$", text, flags=re.MULTILINE)
    assert edges == RESIDUAL_EDGES


def test_diagrams_are_pure_and_allocate_no_weights() -> None:
    """Drawing a 10-billion-parameter model is instant: only shapes are read (touching
    the weights would raise, since they exceed the default memory limit)."""
    model = build(
        """\
        input_shape: [100000]
        layers:
          - Dense: {units: 100000}
        """
    )
    assert to_mermaid(model) == to_mermaid(model)
    assert "(None, 100000)" in to_dot(model)


# --------------------------------------------------------------------------- names and escaping

ODD_NAMES = """\
name: 'odd "names"'
input_shape: [4]
layers:
  - Dense: {units: 3, name: block1.dense-a}
  - Dense: {units: 3, name: block1_dense_a, inputs: [input]}
  - Dense: {units: 3, name: end, inputs: [input]}
  - Add: {inputs: [block1.dense-a, block1_dense_a, end], name: block1-sum}
"""


def test_mermaid_ids_are_safe_and_distinct() -> None:
    ids = mermaid_ids(["block1.dense-a", "block1_dense_a", "end", "block1-sum"])
    assert ids == {
        "input": "input",
        "block1_dense_a": "block1_dense_a",  # already safe: kept
        "block1.dense-a": "block1_dense_a_2",  # sanitised, then made distinct
        "end": "end_",  # a Mermaid keyword
        "block1-sum": "block1_sum",
    }


def test_mermaid_with_odd_names() -> None:
    text = to_mermaid(build(ODD_NAMES))
    assert text == (
        "flowchart TD\n"
        '    input["input<br/>InputLayer<br/>(None, 4)"]\n'
        '    block1_dense_a_2["block1.dense-a<br/>Dense<br/>(None, 3)"]\n'
        '    block1_dense_a["block1_dense_a<br/>Dense<br/>(None, 3)"]\n'
        '    end_["end<br/>Dense<br/>(None, 3)"]\n'
        '    block1_sum["block1-sum<br/>Add<br/>(None, 3)"]\n'
        "    input --> block1_dense_a_2\n"
        "    input --> block1_dense_a\n"
        "    input --> end_\n"
        "    block1_dense_a_2 --> block1_sum\n"
        "    block1_dense_a --> block1_sum\n"
        "    end_ --> block1_sum\n"
    )
    for line in text.splitlines()[1:]:
        assert re.fullmatch(r'    [A-Za-z_]\w*(\["[^"]*"\]| --> [A-Za-z_]\w*)', line), line


def test_dot_with_odd_names_escapes_and_parses() -> None:
    text = to_dot(build(ODD_NAMES))
    assert text.startswith('digraph "odd \\"names\\"" {\n')
    graph = parse_dot(text)
    assert graph.name == 'odd "names"'
    assert list(graph.nodes) == ["input", "block1.dense-a", "block1_dense_a", "end", "block1-sum"]
    assert graph.edges == [
        ("input", "block1.dense-a"),
        ("input", "block1_dense_a"),
        ("input", "end"),
        ("block1.dense-a", "block1-sum"),
        ("block1_dense_a", "block1-sum"),
        ("end", "block1-sum"),
    ]


@pytest.mark.parametrize("name", ["resnet_small", "inception_block", "unet_encoder", "seed_cnn"])
def test_example_configs_draw(name: str) -> None:
    model = compile_graph(parse(ROOT / "configs" / f"{name}.yaml"))
    graph = parse_dot(to_dot(model))
    assert list(graph.nodes) == ["input", *(node.name for node in model.nodes)]
    assert graph.edges == [(source, node.name) for node in model.nodes for source in node.inputs]
    mermaid = to_mermaid(model).splitlines()
    assert mermaid[0] == "flowchart TD"
    assert len(mermaid) == 1 + len(graph.nodes) + len(graph.edges)


# --------------------------------------------------------------------------- the CLI


def write(tmp_path: Path, text: str, name: str = "block.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def graph_command(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["graph", *map(str, args)])


def test_cli_graph_prints_mermaid_by_default(tmp_path: Path) -> None:
    result = graph_command(write(tmp_path, RESIDUAL_BLOCK))
    assert result.exit_code == 0, result.output
    assert result.stdout == RESIDUAL_MERMAID


def test_cli_graph_mermaid_format(tmp_path: Path) -> None:
    result = graph_command(write(tmp_path, RESIDUAL_BLOCK), "--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert result.stdout == RESIDUAL_MERMAID


def test_cli_graph_dot_format(tmp_path: Path) -> None:
    result = graph_command(write(tmp_path, RESIDUAL_BLOCK), "--format", "dot")
    assert result.exit_code == 0, result.output
    assert result.stdout == RESIDUAL_DOT
    assert parse_dot(result.stdout).edges == RESIDUAL_EDGES


def test_cli_graph_on_an_example_config() -> None:
    result = graph_command(ROOT / "configs" / "resnet_small.yaml")
    assert result.exit_code == 0, result.output
    first = 'flowchart TD\n    input["input<br/>InputLayer<br/>(None, 32, 32, 3)"]\n'
    assert result.stdout.startswith(first)
    assert "    block3_proj --> block3_proj_bn\n" in result.stdout


def test_cli_graph_invalid_config_exits_1_with_a_position(tmp_path: Path) -> None:
    path = write(
        tmp_path, RESIDUAL_BLOCK.replace("[conv2d_1, input]", "[conv2d_1, inptu]"), "bad.yaml"
    )
    result = graph_command(path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"{path}:6:30: layers[2] (Add) inputs: unknown layer 'inptu'; did you mean 'input'?\n"
    )
    assert "Traceback" not in result.output


def test_cli_graph_warns_about_unused_outputs_on_stderr(tmp_path: Path) -> None:
    unused = "  - Dense: {units: 2, name: unused, inputs: [conv2d]}\n"
    text = RESIDUAL_BLOCK.replace("  - Add:", unused + "  - Add:")
    path = write(tmp_path, text)
    result = graph_command(path, "--format", "dot")
    assert result.exit_code == 0, result.output
    assert "unused" in result.stderr and "never used" in result.stderr
    graph = parse_dot(result.stdout)
    # SPEC 8: a layer that leads to no output is left out of the model, as Keras builds it
    assert "unused" not in graph.nodes and ("conv2d", "unused") not in graph.edges


def test_cli_graph_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = graph_command(write(tmp_path, RESIDUAL_BLOCK), "--format", "svg")
    assert result.exit_code == 2
