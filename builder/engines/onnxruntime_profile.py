"""`builder run --profile --engine onnxruntime`: onnxruntime's own per-kernel times, by layer.

onnxruntime's profiler (`SessionOptions.enable_profiling`) writes a Chrome trace: one event
per kernel run, `{"cat": "Node", "name": "<node>_kernel_time", "dur": microseconds,
"args": {"op_name": ...}}`. Its graph optimiser fuses and renames nodes: a Conv with the
activation after it becomes one kernel named after the activation's node (`leaky_re_lu_nchwc`),
a BatchNormalization folds into the Conv before it, Dropout disappears. So the rows here are
onnxruntime's kernels, each labelled with the layer its node name starts with (the longest
layer name that is a prefix) and the op it ran; the layers that kept no kernel of their own
(a layout Transpose named `<layer>/transpose` does not count) are listed after the table as
fused or removed. Kernels the optimiser added (ReorderInput,
ReorderOutput: NCHWc layout changes) are labelled `(onnxruntime)`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SUFFIX = "_kernel_time"
OPTIMISER = "(onnxruntime)"


def layer_of(node: str, layers: Sequence[str]) -> str:
    """The layer a kernel's node name belongs to: the longest layer name that the node name
    starts with, followed by its end, `/` or `_` (`conv2d_1_nchwc` → `conv2d_1`)."""
    node = node.removeprefix("fused ")
    found = [
        name
        for name in layers
        if node == name or (node.startswith(name) and node[len(name)] in "/_")
    ]
    return max(found, key=len) if found else OPTIMISER


@dataclass(frozen=True)
class KernelProfile:
    """(layer, op, seconds) per onnxruntime kernel, summed over runs, in first-run order;
    and the layers (in model order) that had no kernel of their own."""

    rows: tuple[tuple[str, str, float], ...]
    fused: tuple[str, ...]

    def text(self, samples: int) -> str:
        total = sum(seconds for _, _, seconds in self.rows)
        labels = [f"{layer}: {op}" for layer, op, _ in self.rows]
        width = max([len("kernel (layer: op)"), *map(len, labels)])
        lines = [
            f"profile (onnxruntime): {samples:,} samples, {1000 * total:.1f} ms "
            f"in {len(self.rows)} kernels",
            f"  {'kernel (layer: op)':<{width}}  {'ms':>9}  {'share':>6}",
        ]
        for label, (_, _, seconds) in zip(labels, self.rows, strict=True):
            share = seconds / total if total > 0 else 0.0
            lines.append(f"  {label:<{width}}  {1000 * seconds:9.2f}  {share:6.1%}")
        if self.fused:
            lines.append(f"  fused into a kernel above or removed: {', '.join(self.fused)}")
        return "\n".join(lines)


def read_profile(path: str | Path, layers: Sequence[str]) -> KernelProfile:
    """The kernel times of an onnxruntime profile file, mapped to `layers` (model order)."""
    events = json.loads(Path(path).read_text())
    seconds: dict[tuple[str, str], float] = {}
    own: set[str] = set()  # layers with a kernel besides the layout Transposes (`/transpose`)
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(SUFFIX):
            continue
        node = name.removesuffix(SUFFIX)
        layer = layer_of(node, layers)
        key = (layer, event["args"]["op_name"])
        seconds[key] = seconds.get(key, 0.0) + event["dur"] / 1e6
        if not node.endswith("/transpose"):
            own.add(layer)
    return KernelProfile(
        tuple((layer, op, s) for (layer, op), s in seconds.items()),
        tuple(name for name in layers if name not in own),
    )
