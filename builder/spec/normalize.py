"""Turns the three spellings of a layer entry into the canonical `{type: ..., ...}` form.

This is the only place that knows about shorthand: `{Conv2D: {filters: 32}}` and bare
strings (`Flatten`, `relu`) become canonical mappings, and inline activation blocks
(`activation: {LeakyReLU: {alpha: 0.05}}`) likewise. The `SourceMap` remembers where each
moved value came from, so errors still point at the user's own line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.errors import Problem
from builder.loader import Document, KeyPath, Mark
from builder.ops.names import ACTIVATION_NAMES
from builder.spec.fields import describe
from builder.spec.layers import TYPE_NAMES


@dataclass
class SourceMap:
    """Maps a path in the normalised data back to a YAML position in the user's file."""

    document: Document
    # normalised path prefix → (original path, whether the position is the original's key)
    origin: dict[KeyPath, tuple[KeyPath, bool]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # found while normalising

    def problem(self, path: KeyPath, where: str, message: str) -> None:
        """Record a problem found while normalising, at the YAML position of `path`."""
        self.problems.append(self.problem_at(path, where, message))

    def problem_at(self, path: KeyPath, where: str, message: str) -> Problem:
        """A problem at the YAML position of `path` in the normalised config."""
        mark = self.locate(path)
        line, col = (mark.line, mark.col) if mark else (None, None)
        return Problem(self.filename, line, col, where, message)

    @property
    def filename(self) -> str:
        return self.document.filename

    def original_path(self, path: KeyPath) -> tuple[KeyPath, bool]:
        for cut in range(len(path), -1, -1):
            found = self.origin.get(path[:cut])
            if found is not None:
                original, at_key = found
                rest = path[cut:]
                return original + rest, at_key and not rest
        return path, False

    def locate(self, path: KeyPath, *, at_key: bool = False) -> Mark | None:
        """Position of the value at `path` (or of its key); falls back to the nearest parent."""
        original, moved_to_key = self.original_path(path)
        if at_key or moved_to_key:
            mark = self.document.keys.get(original)
            if mark is not None:
                return mark
        return self.document.mark(original)


def normalize(document: Document) -> tuple[Any, SourceMap]:
    """Canonical copy of `document.data` (a mapping) and the map back to positions.
    Shorthand whose arguments are not a mapping is recorded in `SourceMap.problems`."""
    source = SourceMap(document)
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        return data, source
    layers = [
        _layer_entry(entry, ("layers", index), source) for index, entry in enumerate(data["layers"])
    ]
    return {**data, "layers": layers}, source


def _layer_entry(entry: Any, path: KeyPath, source: SourceMap) -> Any:
    if isinstance(entry, str):
        if entry not in TYPE_NAMES and entry in ACTIVATION_NAMES:
            source.origin[path + ("activation",)] = (path, False)
            source.origin[path + ("type",)] = (path, False)
            return {"type": "Activation", "activation": entry}
        source.origin[path + ("type",)] = (path, False)
        return {"type": entry}
    where = f"layers[{path[1]}]"
    entry = _shorthand(entry, path, source, where)
    if isinstance(entry, dict) and isinstance(entry.get("activation"), dict):
        where += f" ({entry.get('type')}) activation"
        entry = {
            **entry,
            "activation": _shorthand(entry["activation"], path + ("activation",), source, where),
        }
    return entry


def _shorthand(entry: Any, path: KeyPath, source: SourceMap, where: str) -> Any:
    """`{Type: {args}}` or `{Type: null}` → `{type: Type, **args}`; anything else unchanged."""
    if not isinstance(entry, dict) or "type" in entry or len(entry) != 1:
        return entry
    ((type_name, arguments),) = entry.items()
    if not isinstance(type_name, str):
        return entry
    if not (arguments is None or isinstance(arguments, dict)):
        if type_name not in TYPE_NAMES:
            return entry
        source.problem(
            path + (type_name,),
            f"{where} ({type_name})",
            f"the arguments of {type_name} must be a mapping (or nothing), got {describe(arguments)}",
        )
        arguments = None
    arguments = arguments or {}
    if "type" in arguments:
        return entry  # ambiguous; validation reports the missing top-level `type`
    original, _ = source.original_path(path)  # the entry itself may sit in a shorthand
    source.origin[path + ("type",)] = (original + (type_name,), True)
    for key in arguments:
        source.origin[path + (key,)] = (original + (type_name, key), False)
    return {"type": type_name, **arguments}
