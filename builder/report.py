"""The summary report: a pure function from a compiled model to text, Markdown and JSON.

Everything comes from shapes and weight descriptions (`WeightSpec`), never from weight
arrays or a forward pass, so a ten-billion-parameter model summarises instantly.

Formats (SPEC section 7):

- text: Keras's plain-ASCII table `Layer (type)`, `Output Shape`, `Param #`, `MACs` (plus
  `Connected to` when the model is a graph, with an `input (InputLayer)` row first), then
  the totals. Sizes are Keras 3's: bytes of the model dtype, base 1024, two decimals.
- Markdown: the same rows as a GitHub table, the totals as bullets.
- JSON: `name`, `input_shape`, `dtype`, `layers` (each `name`, `type`, `output_shape`,
  `params`, `trainable_params`, `macs`, `activation`, `inputs`), `total_params`,
  `trainable_params`, `non_trainable_params`, `total_macs`; then `batch_size` and
  `memory` (`weights_bytes`, `largest_activation_bytes`, `activations_bytes`: bytes for
  `batch_size` samples, the model input counted as an activation).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from builder.config import INPUT_NAME
from builder.layers.base import Shape, format_shape

if TYPE_CHECKING:
    from builder.graph import Node
    from builder.model import Model

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
    activation: str | None  # the inline activation's label; None when linear
    inputs: tuple[str, ...]

    def title(self) -> str:
        """`conv2d (Conv2D)`, `dense (Dense + softmax)` or `act (Activation: relu)`."""
        if self.activation is None:
            return f"{self.name} ({self.type})"
        joiner = ": " if self.type == "Activation" else " + "
        return f"{self.name} ({self.type}{joiner}{self.activation})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this layer, keys in SPEC order."""
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": [None, *self.output_shape],
            "params": self.params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "activation": self.activation or "linear",
            "inputs": list(self.inputs),
        }


@dataclass(frozen=True)
class SummaryReport:
    """The computed summary of a model; `str()` is the text table, see the module docstring."""

    name: str
    input_shape: Shape
    dtype: str
    itemsize: int
    layers: tuple[LayerRow, ...]
    sequential: bool
    batch_size: int
    largest_activation_bytes: int
    activations_bytes: int

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
            rows.insert(
                0, (f"{INPUT_NAME} (InputLayer)", format_shape(self.input_shape), "0", "0", "-")
            )
        columns = len(HEADERS) - (1 if self.sequential else 0)
        return [HEADERS[:columns], *(cells[:columns] for cells in rows)]

    def totals(self) -> list[str]:
        """The lines under the table: parameter counts with sizes, MACs and memory."""
        size = self.itemsize
        return [
            f"Total params: {self.total_params:,} ({readable_bytes(self.total_params * size)})",
            f"Trainable params: {self.trainable_params:,} ({readable_bytes(self.trainable_params * size)})",
            f"Non-trainable params: {self.non_trainable_params:,} "
            f"({readable_bytes(self.non_trainable_params * size)})",
            f"Total MACs: {self.total_macs:,}{readable_count(self.total_macs)}",
            f"Memory (batch size {self.batch_size}): weights {readable_bytes(self.weights_bytes)}, "
            f"largest activation {readable_bytes(self.largest_activation_bytes)}, "
            f"all activations {readable_bytes(self.activations_bytes)}",
        ]

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
        return {
            "name": self.name,
            "input_shape": [None, *self.input_shape],
            "dtype": self.dtype,
            "layers": [row.to_dict() for row in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "batch_size": self.batch_size,
            "memory": {
                "weights_bytes": self.weights_bytes,
                "largest_activation_bytes": self.largest_activation_bytes,
                "activations_bytes": self.activations_bytes,
            },
        }

    def to_json(self) -> str:
        """`to_dict()` as JSON with two-space indentation and a final newline."""
        return json.dumps(self.to_dict(), indent=2) + "\n"


def summarize(model: Model, batch_size: int = 1) -> SummaryReport:
    """The summary of `model` for `batch_size` samples, from shapes and weight specs only."""
    if batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size}"
        )
    itemsize = model.dtype.itemsize
    sizes = [math.prod(model.input_shape), *(math.prod(node.output_shape) for node in model.nodes)]
    return SummaryReport(
        name=model.name,
        input_shape=tuple(model.input_shape),
        dtype=model.dtype.name,
        itemsize=itemsize,
        layers=tuple(layer_row(node) for node in model.nodes),
        sequential=model.graph.is_sequential,
        batch_size=batch_size,
        largest_activation_bytes=batch_size * max(sizes) * itemsize,
        activations_bytes=batch_size * sum(sizes) * itemsize,
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
        activation=node.layer.activation_label(),
        inputs=tuple(node.inputs),
    )


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


def readable_bytes(count: int) -> str:
    """`217.75 KB`: Keras 3's memory size (base 1024, two decimals, B to TB)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TB"


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
