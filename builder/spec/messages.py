"""Pydantic validation errors → one `Problem` each, at the user's YAML position.

A Pydantic location such as `('layers', 1, 'Conv2D', 'kernel_size')` is walked against the
normalised data: keys and indices that exist are followed, union tags (`Conv2D`) are not
part of the data and are skipped. The walk also gives the display path
`layers[1] (Conv2D) kernel_size` used in the message.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from builder.errors import Problem
from builder.loader import Path
from builder.registry import ACTIVATION_NAMES, LAYERS, TYPE_NAMES
from builder.spec.fields import describe
from builder.spec.normalize import SourceMap


def suggest(word: str, choices: Any) -> str:
    """`; did you mean 'filters'?` when a choice is close to `word`, else ``."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def problems_from_validation(
    error: ValidationError, data: Any, source: SourceMap, top_fields: Any
) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        path, where, container = _walk(data, detail["loc"], detail["type"] == "missing")
        if detail["type"] == "union_tag_invalid" and "type" in _value_at(data, path):
            path += ("type",)  # point at the unknown type name itself
        at_key = detail["type"] == "extra_forbidden"
        mark = source.locate(path, at_key=at_key)
        message = _message(detail, container, top_fields)
        problems.append(
            Problem(
                source.filename,
                mark.line if mark else None,
                mark.col if mark else None,
                where,
                message,
            )
        )
    return problems


def _value_at(data: Any, path: Path) -> Any:
    for element in path:
        data = data[element]
    return data


def _walk(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[Path, str, Any]:
    """(data path, display path, the mapping that holds the offending field)."""
    path: list[Any] = []
    parts: list[str] = []
    current, container = data, data
    for index, element in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and element in current:
            container = current
            current = current[element]
            parts.append(str(element))
        elif isinstance(current, list) and isinstance(element, int) and element < len(current):
            current = current[element]
            if parts:
                parts[-1] += f"[{element}]"
            else:
                parts.append(f"[{element}]")
        elif last and missing:
            parts.append(str(element))  # the absent field; its mapping is `current`
            break
        else:
            continue  # a union tag, not part of the data
        path.append(element)
        if isinstance(current, dict) and isinstance(current.get("type"), str) and parts:
            parts[-1] += f" ({TYPE_NAMES.get(current['type'], current['type'])})"
    if missing:
        container = current
    return tuple(path), " ".join(parts), container


def _fields_of(container: Any, top_fields: Any) -> list[str]:
    if isinstance(container, dict) and "type" in container:
        entry = LAYERS.get(TYPE_NAMES.get(str(container["type"]), ""))
        return list(entry.spec.model_fields) if entry else []
    return list(top_fields)


def _message(detail: Any, container: Any, top_fields: Any) -> str:
    kind, value, ctx = detail["type"], detail.get("input"), detail.get("ctx") or {}
    got = describe(value)
    if kind == "extra_forbidden":
        key = str(detail["loc"][-1])
        return f"unknown field {key!r}" + suggest(key, _fields_of(container, top_fields))
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        names = list(TYPE_NAMES) + list(ACTIVATION_NAMES)
        return f"unknown layer or activation type {tag!r}" + suggest(tag, names)
    if kind == "activation_value":
        return f"must be an activation name or an advanced activation block, got {got}"
    if kind == "union_tag_not_found":
        return "has no type: write {type: Conv2D, ...} or {Conv2D: {...}}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(", ")]
        if not isinstance(value, str):
            return f"must be one of {expected}, got {got}"
        hint = suggest(value, options)
        if len(options) > 6 and hint:
            return f"unknown value {got}{hint}"
        # Few options are all listed; suggest only a case slip (`Same` for `same`).
        case_slip = {o.lower(): o for o in options}.get(value.lower())
        hint = f"; did you mean {case_slip!r}?" if case_slip else ""
        if len(options) > 6:
            hint = ""
        return f"must be one of {expected}, got {got}{hint}"
    simple = {
        "int_type": "must be an integer",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping ({Type: {...}}) or a layer name",
        "tuple_type": "must be a list",
        "dict_type": "must be a mapping",
        "finite_number": "must be a finite number",
    }
    if kind in simple:
        return f"{simple[kind]}, got {got}"
    comparisons = {
        "greater_than": ("must be > {}", "gt"),
        "greater_than_equal": ("must be >= {}", "ge"),
        "less_than": ("must be < {}", "lt"),
        "less_than_equal": ("must be <= {}", "le"),
    }
    if kind in comparisons:
        text, key = comparisons[kind]
        return f"{text.format(ctx.get(key))}, got {got}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "string_too_long":
        length = len(value) if isinstance(value, str) else "more"
        return f"must be at most {ctx.get('max_length')} characters long, got {length}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (letters, digits, _ . -), got {got}"
    message = str(detail.get("msg", kind))
    return message.removeprefix("Value error, ")
