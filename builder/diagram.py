"""The network as a diagram: a Mermaid flowchart or Graphviz DOT text, from shapes only.

One node per layer plus one per model input, each labelled with its name, its type (with
the inline activation, as in the summary) and its output shape; one edge per entry of a
layer's `inputs`. When a model has several outputs, their labels end in `output`. Both functions are pure: they read the compiled graph, never weights,
and return text for the CLI to print. No Graphviz or Mermaid installation is needed.
"""

from __future__ import annotations

import re

from builder.graph import Graph
from builder.layers.base import format_shape
from builder.spec.model import INPUT_NAME

_MERMAID_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words the Mermaid flowchart lexer reads as keywords at the start of a statement.
_MERMAID_KEYWORDS = frozenset(
    {
        "end",
        "graph",
        "flowchart",
        "subgraph",
        "direction",
        "style",
        "linkstyle",
        "classdef",
        "class",
        "click",
        "call",
        "href",
        "default",
        "interpolate",
    }
)


def to_mermaid(graph: Graph) -> str:
    """A Mermaid `flowchart TD` of the model (renders on GitHub and in Markdown viewers).

    Layer names may hold `.` and `-`, which Mermaid ids may not, so such names (and
    Mermaid keywords such as `end`) get a sanitised id; the label keeps the real name.

    Example, for `input_shape: [28, 28, 1]` and `layers: [{Conv2D: {filters: 32, kernel_size: 3}}]`:

        flowchart TD
            input["input<br/>InputLayer<br/>(None, 28, 28, 1)"]
            conv2d["conv2d<br/>Conv2D<br/>(None, 26, 26, 32)"]
            input --> conv2d
    """
    ids = mermaid_ids([*graph.inputs, *(node.name for node in graph.nodes)])
    lines = ["flowchart TD"]
    for parts in _labels(graph):
        name = parts[0]
        label = "<br/>".join(_mermaid_text(part) for part in parts)
        lines.append(f'    {ids[name]}["{label}"]')
    for source, target in _edges(graph):
        lines.append(f"    {ids[source]} --> {ids[target]}")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text of the model, top to bottom (`dot -Tsvg` draws it).

    Example, for the same one-layer model named `tiny`:

        digraph "tiny" {
            rankdir=TB;
            node [shape=box];
            "input" [label="input\\nInputLayer\\n(None, 28, 28, 1)"];
            "conv2d" [label="conv2d\\nConv2D\\n(None, 26, 26, 32)"];
            "input" -> "conv2d";
        }
    """
    lines = [f"digraph {_dot_string(graph.name)} {{", "    rankdir=TB;", "    node [shape=box];"]
    for parts in _labels(graph):
        name = parts[0]
        label = "\\n".join(_dot_escape(part) for part in parts)
        lines.append(f'    {_dot_string(name)} [label="{label}"];')
    for source, target in _edges(graph):
        lines.append(f"    {_dot_string(source)} -> {_dot_string(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid_ids(names: list[str]) -> dict[str, str]:
    """A distinct, valid Mermaid id for `input` and each layer name.

    A name that already is a safe id keeps it; any other (`block1.conv-a`, `end`) becomes
    its characters outside [A-Za-z0-9_] replaced by `_`, plus `_2`, `_3`... if that id is
    taken, so that two layers never share a node.
    """
    ids = {name: name for name in [INPUT_NAME, *names] if _is_safe_mermaid_id(name)}
    taken = set(ids.values())
    for name in names:
        if name in ids:
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if base.lower() in _MERMAID_KEYWORDS:
            base += "_"
        candidate, count = base, 1
        while candidate in taken:
            count += 1
            candidate = f"{base}_{count}"
        ids[name] = candidate
        taken.add(candidate)
    return ids


def _is_safe_mermaid_id(name: str) -> bool:
    return bool(_MERMAID_ID.match(name)) and name.lower() not in _MERMAID_KEYWORDS


def _labels(graph: Graph) -> list[tuple[str, ...]]:
    """(name, type, output shape) of each input node and each layer, in graph order, with
    `output` added to the outputs' labels when there are several."""
    rows: list[tuple[str, ...]] = [
        (name, "InputLayer", format_shape(shape)) for name, shape in graph.inputs.items()
    ]
    marked = set(graph.outputs) if len(graph.outputs) > 1 else set()
    for node in graph.nodes:
        row = (node.name, node.layer.title(), format_shape(node.output_shape))
        rows.append(row + ("output",) if node.name in marked else row)
    return rows


def _edges(graph: Graph) -> list[tuple[str, str]]:
    """(source, target) per data flow: one for each entry of each layer's inputs."""
    return [(source, node.name) for node in graph.nodes for source in node.inputs]


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for `#`, quotes and brackets)."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def _dot_escape(text: str) -> str:
    """Text safe inside a double-quoted DOT string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _dot_string(text: str) -> str:
    return f'"{_dot_escape(text)}"'
