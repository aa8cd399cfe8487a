"""The summary report: a pure function from a compiled graph to text, Markdown and JSON.

Everything comes from shapes and weight descriptions (`WeightSpec`), never from weight
arrays or a forward pass, so a ten-billion-parameter model summarises instantly.

Formats (SPEC section 7):

- text: Keras's plain-ASCII table `Layer (type)`, `Output Shape`, `Param #`, `MACs` (plus
  `Connected to` when the model is a graph, with an `input (InputLayer)` row first), then
  the totals. Sizes are Keras 3's: bytes of the model dtype, base 1024, two decimals.
- Markdown: the same rows as a GitHub table, the totals as bullets.
- JSON: `name`, `input_shape` (a list of shapes when there are several inputs, as Keras's
  `model.input_shape`), `dtype`, `layers` (each `name`, `type`, `output_shape`, `params`,
  `trainable_params`, `macs`, `activation` (null for layers without an activation
  argument), `inputs`), `total_params`, `trainable_params`, `non_trainable_params`,
  `total_macs`; then `batch_size`, `batch_macs` (total_macs · batch_size), `memory`
  (`weights_bytes`, `largest_activation_bytes`, `activations_bytes`: bytes for
  `batch_size` samples, the model inputs counted as activations), `inputs` and `outputs`
  (each `name` and `shape`).

A graph model gets one `InputLayer` row per input; several outputs add an `Outputs:` line.
`show_trainable` adds Keras's `Trainable` column.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from builder.graph import Graph, Node
from builder.layers.base import Shape, format_shape
from builder.sizes import format_bytes
from builder.spec.model import INPUT_NAME

HEADERS = ("Layer (type)", "Output Shape", "Param #", "MACs", "Connected to")
NUMERIC_COLUMNS = frozenset({2, 3})
GAP = "   "


@dataclass(frozen=True)
class LayerRow:
    """One layer of the report: its shape, parameter counts, MACs per sample and inputs."""

    name: str
    type: str
    output_shape: Shape
    params: int
    trainable_params: int
    macs: int
    activation: str | None  # the activation argument's label; None for layers without one
    inputs: tuple[str, ...]
    kind: str  # `Conv2D + relu`, `Activation: relu`: the layer's own title
    trainable: bool = True  # the layer's `trainable` flag

    def title(self) -> str:
        """`conv2d (Conv2D)`, `dense (Dense + softmax)` or `act (Activation: relu)`."""
        return f"{self.name} ({self.kind})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this layer, keys in SPEC order."""
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": [None, *self.output_shape],
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "activation": self.activation,
            "inputs": list(self.inputs),
        }


@dataclass(frozen=True)
class SummaryReport:
    """The computed summary of a model; `str()` is the text table, see the module docstring."""

    name: str
    input_shape: Shape  # the first input's; `inputs` has them all
    dtype: str
    itemsize: int
    layers: tuple[LayerRow, ...]
    sequential: bool
    batch_size: int
    largest_activation_bytes: int
    activations_bytes: int
    show_trainable: bool = False  # Keras's `show_trainable`: a last column Y / N / -
    inputs: tuple[tuple[str, Shape], ...] = ()  # (name, per-sample shape) per model input
    outputs: tuple[tuple[str, Shape], ...] = ()  # (name, per-sample shape) per model output

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable_params for row in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.layers)

    @property
    def weights_bytes(self) -> int:
        return self.total_params * self.itemsize

    def table(self) -> list[tuple[str, ...]]:
        """The header and one cell tuple per row (an input row first for graph models)."""
        rows = [row_cells(row) for row in self.layers]
        if not self.sequential:
            inputs = self.inputs or ((INPUT_NAME, self.input_shape),)
            rows[:0] = [
                (f"{name} (InputLayer)", format_shape(shape), "0", "0", "-")
                for name, shape in inputs
            ]
        columns = len(HEADERS) - (1 if self.sequential else 0)
        table = [HEADERS[:columns], *(cells[:columns] for cells in rows)]
        if self.show_trainable:
            input_rows = len(table) - 1 - len(self.layers)
            marks = ["Trainable", *["-"] * input_rows, *map(trainable_mark, self.layers)]
            table = [(*cells, mark) for cells, mark in zip(table, marks, strict=True)]
        return table

    def totals(self) -> list[str]:
        """The lines under the table: parameter counts with sizes, MACs and memory."""
        size = self.itemsize
        outputs = ", ".join(f"{name} {format_shape(shape)}" for name, shape in self.outputs)
        return [
            *([f"Outputs: {outputs}"] if len(self.outputs) > 1 else []),
            f"Total params: {self.total_params:,} ({format_bytes(self.total_params * size)})",
            f"Trainable params: {self.trainable_params:,} ({format_bytes(self.trainable_params * size)})",
            f"Non-trainable params: {self.non_trainable_params:,} "
            f"({format_bytes(self.non_trainable_params * size)})",
            f"Total MACs: {self.total_macs:,}{readable_count(self.total_macs)}"
            + self.batch_macs_text(),
            f"Memory (batch size {self.batch_size}): weights {format_bytes(self.weights_bytes)}, "
            f"largest activation {format_bytes(self.largest_activation_bytes)}, "
            f"all activations {format_bytes(self.activations_bytes)}",
        ]

    @property
    def batch_macs(self) -> int:
        """Multiply-accumulates for `batch_size` samples."""
        return self.total_macs * self.batch_size

    def batch_macs_text(self) -> str:
        """` per sample; 88,215,552 (88.22 M) per batch of 32`, or nothing for one sample."""
        if self.batch_size == 1:
            return ""
        return (
            f" per sample; {self.batch_macs:,}{readable_count(self.batch_macs)} "
            f"per batch of {self.batch_size}"
        )

    def __str__(self) -> str:
        lines = text_table([tuple(literal(cell) for cell in cells) for cells in self.table()])
        width = max(len(line) for line in lines)
        body = [
            f'Model: "{literal(self.name)}"',
            "_" * width,
            lines[0],
            "=" * width,
            *lines[1:],
            "=" * width,
        ]
        return "\n".join(body + self.totals()) + "\n"

    def to_markdown(self) -> str:
        """The report as a GitHub table followed by the totals as bullets."""
        header, *rows = self.table()
        align = ["---:" if k in NUMERIC_COLUMNS else "---" for k in range(len(header))]
        table = [
            markdown_row(header),
            "|" + "|".join(align) + "|",
            *(markdown_row(cells) for cells in rows),
        ]
        bullets = [f"- {line}" for line in self.totals()]
        name = literal(self.name, markdown=True)
        return "\n".join([f'### Model: "{name}"', "", *table, "", *bullets]) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The JSON document as plain data: the SPEC section 7 keys, then `batch_size`, `memory`."""
        shapes = [[None, *shape] for _, shape in self.inputs] or [[None, *self.input_shape]]
        return {
            "name": self.name,
            "input_shape": shapes[0] if len(shapes) == 1 else shapes,
            "dtype": self.dtype,
            "layers": [row.to_dict() for row in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "batch_size": self.batch_size,
            "batch_macs": self.batch_macs,
            "memory": {
                "weights_bytes": self.weights_bytes,
                "largest_activation_bytes": self.largest_activation_bytes,
                "activations_bytes": self.activations_bytes,
            },
            "inputs": [{"name": name, "shape": [None, *shape]} for name, shape in self.inputs],
            "outputs": [{"name": name, "shape": [None, *shape]} for name, shape in self.outputs],
        }

    def to_json(self) -> str:
        """`to_dict()` as JSON with two-space indentation and a final newline."""
        return json.dumps(self.to_dict(), indent=2) + "\n"


def summarize(graph: Graph, batch_size: int = 1, show_trainable: bool = False) -> SummaryReport:
    """The summary of `model` for `batch_size` samples, from shapes and weight specs only;
    `show_trainable` adds Keras's Trainable column."""
    if batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size}"
        )
    itemsize = np.dtype(graph.dtype).itemsize
    sizes = [math.prod(shape) for shape in graph.inputs.values()]
    sizes += [math.prod(node.output_shape) for node in graph.nodes]
    return SummaryReport(
        name=graph.name,
        input_shape=tuple(next(iter(graph.inputs.values()))),
        dtype=graph.dtype,
        itemsize=itemsize,
        layers=tuple(layer_row(node) for node in graph.nodes),
        sequential=graph.is_sequential,
        batch_size=batch_size,
        largest_activation_bytes=batch_size * max(sizes) * itemsize,
        activations_bytes=batch_size * sum(sizes) * itemsize,
        show_trainable=show_trainable,
        inputs=tuple((name, tuple(shape)) for name, shape in graph.inputs.items()),
        outputs=tuple((name, tuple(shape)) for name, shape in graph.output_shapes.items()),
    )


def layer_row(node: Node) -> LayerRow:
    """The report row of one compiled node."""
    return LayerRow(
        name=node.name,
        type=node.layer.type_name,
        output_shape=tuple(node.output_shape),
        params=sum(w.size for w in node.weights),
        trainable_params=sum(w.size for w in node.weights if w.trainable),
        macs=node.macs,
        activation=_activation(node),
        inputs=tuple(node.inputs),
        kind=node.layer.title(),
        trainable=node.layer.spec.trainable,
    )


def trainable_mark(row: LayerRow) -> str:
    """Keras's Trainable cell: the layer's flag (`Y` or `N`) for a layer with weights, `-`
    without (a BatchNormalization is `Y`, though its moving statistics never train)."""
    if row.params == 0:
        return "-"
    return "Y" if row.trainable else "N"


def _activation(node: Node) -> str | None:
    """`relu`, `LeakyReLU` or `linear` for a layer with an activation argument, else None."""
    if not node.layer.has_activation_argument:
        return None
    return node.layer.activation_label() or "linear"


def row_cells(row: LayerRow) -> tuple[str, ...]:
    """The five text cells of a row: title, shape, params, MACs, connected-to."""
    shape = format_shape(row.output_shape)
    return (row.title(), shape, f"{row.params:,}", f"{row.macs:,}", ", ".join(row.inputs))


def text_table(table: list[tuple[str, ...]]) -> list[str]:
    """Rows joined into lines: columns as wide as their widest cell, numbers right-aligned."""
    widths = [max(len(cells[k]) for cells in table) for k in range(len(table[0]))]
    lines = []
    for cells in table:
        padded = [
            cell.rjust(width) if k in NUMERIC_COLUMNS else cell.ljust(width)
            for k, (cell, width) in enumerate(zip(cells, widths, strict=False))
        ]
        lines.append((" " + GAP.join(padded)).rstrip())
    return lines


def markdown_row(cells: tuple[str, ...] | list[str]) -> str:
    """`| a | b |`, each cell printed literally (`|`, `<`, `*`, ... escaped)."""
    return "| " + " | ".join(literal(cell, markdown=True) for cell in cells) + " |"


# Characters Markdown (GitHub's CommonMark) would read as markup or HTML inside a line;
# `_` only at a word's edge, since `conv2d_1` can never start emphasis.
_MARKUP = re.compile(r"[\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def literal(text: str, markdown: bool = False) -> str:
    """`text` as it should print: control characters as escapes (a newline as `\\n`, so
    it cannot break a line or a table), and for Markdown every markup character
    backslash-escaped (`<script>` shows as text, `|` stays in its cell)."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return _MARKUP.sub(lambda found: "\\" + found.group(0), shown) if markdown else shown


def readable_count(count: int) -> str:
    """` (2.76 M)` for a count of a thousand or more (base 1000, K to T), else empty."""
    if count < 1000:
        return ""
    value = float(count)
    for unit in ("K", "M", "G"):
        value /= 1000
        if value < 1000:
            return f" ({value:.2f} {unit})"
    return f" ({value / 1000:.2f} T)"
