"""Turns the three spellings of a layer entry into the canonical `{type: ..., ...}` form.

This is the only place that knows about shorthand: `{Conv2D: {filters: 32}}`, bare
strings (`Flatten`, `relu`) and a scalar for a layer's first Keras argument (`Dense: 10`,
the spec model's `positional` field) become canonical mappings, and inline activation
blocks (`activation: {LeakyReLU: {alpha: 0.05}}` or `activation: LeakyReLU`) likewise;
`inputs: a` becomes `[a]`; top-level `x-` keys (anchor definitions) are dropped. The
`SourceMap` remembers where each moved value came from, so errors still point at the
user's own line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.errors import Problem
from builder.loader import Document, KeyPath, Mark
from builder.ops.names import ACTIVATION_NAMES
from builder.spec.fields import describe
from builder.spec.layers import ADVANCED_ACTIVATIONS, SPECS, TYPE_NAMES


@dataclass
class SourceMap:
    """Maps a path in the normalised data back to a YAML position in the user's file."""

    document: Document
    # normalised path prefix → (original path, whether the position is the original's key)
    origin: dict[KeyPath, tuple[KeyPath, bool]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # found while normalising
    # entries whose arguments were refused while normalising: their missing fields are not
    # reported again by validation
    refused: set[KeyPath] = field(default_factory=set)

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
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
        data = _input_shape(data, source)
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        return data, source
    layers = [
        _layer_entry(entry, ("layers", index), source) for index, entry in enumerate(data["layers"])
    ]
    return {**data, "layers": layers}, source


def _input_shape(data: dict[Any, Any], source: SourceMap) -> dict[Any, Any]:
    """Keras's `[null, 28, 28, 1]` (a batch axis): reported once, then read without it."""
    shape = data.get("input_shape")
    if isinstance(shape, list) and len(shape) > 1 and shape[0] is None:
        rest = ", ".join(map(str, shape[1:]))
        source.problem(
            ("input_shape",),
            "input_shape",
            f"input_shape is per sample, without the batch axis: write [{rest}], "
            f"got [{', '.join(describe(v) for v in shape)}]",
        )
        return {**data, "input_shape": shape[1:]}
    return data


def _layer_entry(entry: Any, path: KeyPath, source: SourceMap) -> Any:
    if isinstance(entry, str):
        if entry not in TYPE_NAMES and entry in ACTIVATION_NAMES:
            source.origin[path + ("activation",)] = (path, False)
            source.origin[path + ("type",)] = (path, False)
            return {"type": "Activation", "activation": entry}
        source.origin[path + ("type",)] = (path, False)
        return {"type": entry}
    where = f"layers[{path[1]}]"
    entry = _unindented(entry, path, source, where)
    entry = _shorthand(entry, path, source, where)
    if not isinstance(entry, dict):
        return entry
    activation = entry.get("activation")
    if isinstance(activation, dict):
        where += f" ({entry.get('type')}) activation"
        entry = {
            **entry,
            "activation": _shorthand(activation, path + ("activation",), source, where),
        }
    elif isinstance(activation, str) and TYPE_NAMES.get(activation) in ADVANCED_ACTIVATIONS:
        # `activation: LeakyReLU`: the advanced activation with its defaults
        original, _ = source.original_path(path + ("activation",))
        source.origin[path + ("activation", "type")] = (original, False)
        entry = {**entry, "activation": {"type": activation}}
    if isinstance(entry.get("inputs"), str):  # `inputs: a` is `[a]`
        original, _ = source.original_path(path + ("inputs",))
        source.origin[path + ("inputs", 0)] = (original, False)
        entry = {**entry, "inputs": [entry["inputs"]]}
    return entry


def _unindented(entry: Any, path: KeyPath, source: SourceMap, where: str) -> Any:
    """`- Dense:` followed by `units: 3` at the same indentation is one mapping
    `{Dense: null, units: 3}`: reported (indent them under the type), then read as meant."""
    if not isinstance(entry, dict) or "type" in entry or len(entry) < 2:
        return entry
    types = [k for k, v in entry.items() if v is None and isinstance(k, str) and k in TYPE_NAMES]
    if len(types) != 1:
        return entry
    type_name = types[0]
    fields = SPECS[TYPE_NAMES[type_name]].model_fields
    others = [k for k in entry if k != type_name]
    if not all(isinstance(k, str) and k in fields for k in others):
        return entry
    mark = source.locate(path + (others[0],), at_key=True)
    source.problems.append(
        Problem(
            source.filename,
            mark.line if mark else None,
            mark.col if mark else None,
            f"{where} ({type_name})",
            f"the arguments of {type_name} must be indented under it: write '{type_name}:' and "
            f"indent {', '.join(others)} below it (or {type_name}: {{{others[0]}: ...}})",
        )
    )
    source.origin[path + ("type",)] = (path + (type_name,), True)
    return {"type": type_name, **{k: v for k, v in entry.items() if k != type_name}}


def _shorthand(entry: Any, path: KeyPath, source: SourceMap, where: str) -> Any:
    """`{Type: {args}}` or `{Type: null}` → `{type: Type, **args}`; anything else unchanged."""
    if not isinstance(entry, dict) or "type" in entry or len(entry) != 1:
        return entry
    ((type_name, arguments),) = entry.items()
    if not isinstance(type_name, str):
        return entry
    original, _ = source.original_path(path)  # the entry itself may sit in a shorthand
    if not (arguments is None or isinstance(arguments, dict)):
        if type_name not in TYPE_NAMES:
            return entry
        positional = SPECS[TYPE_NAMES[type_name]].positional
        if positional is not None:  # `Dense: 10`: Keras's first argument
            source.origin[path + ("type",)] = (original + (type_name,), True)
            source.origin[path + (positional,)] = (original + (type_name,), False)
            return {"type": type_name, positional: arguments}
        source.problem(
            path + (type_name,),
            f"{where} ({type_name})",
            _mapping_needed(type_name, arguments),
        )
        source.refused.add(path)
        arguments = None
    arguments = arguments or {}
    if "type" in arguments:
        return entry  # ambiguous; validation reports the missing top-level `type`
    source.origin[path + ("type",)] = (original + (type_name,), True)
    for key in arguments:
        source.origin[path + (key,)] = (original + (type_name, key), False)
    return {"type": type_name, **arguments}


def _mapping_needed(type_name: str, value: Any) -> str:
    """The message for a scalar given to a layer that takes no positional shorthand."""
    required = SPECS[TYPE_NAMES[type_name]].required_fields()
    if len(required) > 1:
        example = ", ".join(f"{n}: ..." for n in required)
        return (
            f"{type_name} needs {' and '.join(required)}, so a single value cannot stand for "
            f"its arguments: write {type_name}: {{{example}}}, got {describe(value)}"
        )
    return f"the arguments of {type_name} must be a mapping (or nothing), got {describe(value)}"
