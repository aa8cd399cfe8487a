"""Pydantic validation errors → one `Problem` each, at the user's YAML position.

A Pydantic location such as `('layers', 1, 'Conv2D', 'kernel_size')` is walked against the
normalised data: keys and indices that exist are followed, union tags (`Conv2D`) are not
part of the data and are skipped. The walk also gives the display path
`layers[1] (Conv2D) kernel_size` used in the message.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from builder.errors import Problem
from builder.loader import KeyPath
from builder.ops.names import ACTIVATION_NAMES
from builder.spec.fields import describe
from builder.spec.layers import ADVANCED_ACTIVATIONS, SPECS, TYPE_NAMES
from builder.spec.normalize import SourceMap


def suggest(word: str, choices: Any) -> str:
    """`; did you mean 'filters'?` when a choice is close to `word`, else ``."""
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close is not None else ""


def closest(word: str, choices: Any) -> str | None:
    """The choice equal to `word` but for case, else the closest one, else None."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def problems_from_validation(
    error: ValidationError, data: Any, source: SourceMap, top_fields: Any
) -> list[Problem]:
    problems = []
    details = error.errors(include_url=False)
    walked = [_walk(data, d["loc"], d["type"] == "missing") for d in details]
    misspelt = _misspelt_fields(details, walked, top_fields)
    for detail, (path, where, container) in zip(details, walked, strict=True):
        if detail["type"] == "missing" and (
            path in source.refused or (path, detail["loc"][-1]) in misspelt
        ):
            continue  # already reported: a refused shorthand, or a misspelt key's did-you-mean
        if detail["type"] == "union_tag_invalid" and "type" in _value_at(data, path):
            path += ("type",)  # point at the unknown type name itself
        at_key = detail["type"] == "extra_forbidden" or detail["loc"][-1:] == ("[key]",)
        mark = source.locate(path, at_key=at_key)
        message = _message(detail, container, top_fields, container is data)
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


def _misspelt_fields(
    details: list[Any], walked: list[tuple[KeyPath, str, Any]], top_fields: Any
) -> set[tuple[KeyPath, Any]]:
    """(mapping path, field) of missing fields that an unknown key in the same mapping is
    a close spelling of (`filter` for `filters`): only the unknown key is reported."""
    missing = {
        (path, d["loc"][-1])
        for d, (path, _, _) in zip(details, walked, strict=True)
        if d["type"] == "missing"
    }
    found = set()
    for d, (path, _, container) in zip(details, walked, strict=True):
        if d["type"] != "extra_forbidden" or not path:
            continue
        name = closest(str(d["loc"][-1]), _fields_of(container, top_fields))
        if (path[:-1], name) in missing:
            found.add((path[:-1], name))
    return found


def _value_at(data: Any, path: KeyPath) -> Any:
    for element in path:
        data = data[element]
    return data


def _walk(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[KeyPath, str, Any]:
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
        spec = SPECS.get(TYPE_NAMES.get(str(container["type"]), ""))
        return list(spec.model_fields) if spec else []
    return list(top_fields)


@dataclass(frozen=True)
class _Detail:
    """One Pydantic error detail with what its formatter needs."""

    kind: str
    value: Any
    ctx: dict[str, Any]
    key: str  # the last item of the error's location
    fields: list[str]  # the fields of the mapping the error is in
    loc: tuple[Any, ...] = ()  # Pydantic's location of the error
    top: bool = False  # the error is in the top-level mapping

    @property
    def got(self) -> str:
        return describe(self.value)


def _message(detail: Any, container: Any, top_fields: Any, top: bool = False) -> str:
    found = _Detail(
        kind=detail["type"],
        value=detail.get("input"),
        ctx=detail.get("ctx") or {},
        key=str(detail["loc"][-1]) if detail["loc"] else "",
        fields=_fields_of(container, top_fields),
        loc=tuple(detail["loc"]),
        top=top,
    )
    formatter = _FORMATTERS.get(found.kind)
    if formatter is not None:
        return formatter(found)
    return str(detail.get("msg", found.kind)).removeprefix("Value error, ")


_INLINE = f"an activation name such as relu, or one of {', '.join(ADVANCED_ACTIVATIONS)}"
_INPUT_SHAPE = (
    "give the per-sample shape once, as the top-level input_shape (without the batch axis), "
    "e.g. input_shape: [28, 28, 1]"
)


def _unknown_type(d: _Detail) -> str:
    tag = str(d.ctx.get("tag"))
    if "activation" in d.loc:  # an inline `activation: {Tag: ...}` block
        if tag in ACTIVATION_NAMES:
            return f"{tag!r} is an activation name, not a block: write activation: {tag}"
        if tag in TYPE_NAMES:
            return f"{tag} is a layer, not an activation; an inline activation is {_INLINE}"
    if tag in ("Input", "InputLayer"):
        return f"there is no {tag} layer here: {_INPUT_SHAPE}"
    names = [*TYPE_NAMES, *ACTIVATION_NAMES]
    return f"unknown layer or activation type {tag!r}" + suggest(tag, names)


def _unknown_field(d: _Detail) -> str:
    if d.key in ("input_shape", "input_dim", "batch_input_shape", "batch_shape") and not d.top:
        return f"a layer takes no {d.key}: {_INPUT_SHAPE}"
    hint = suggest(d.key, d.fields)
    if d.top and not hint:
        hint = " (top-level keys starting with 'x-' are ignored: a place for anchors)"
    return f"unknown field {d.key!r}{hint}"


def _literal(d: _Detail) -> str:
    """`must be one of 'valid' or 'same', got 'Same'; did you mean 'same'?`: a long list of
    options is not printed, only the closest one; a short one is printed, with a hint only
    for a case slip."""
    expected = d.ctx.get("expected", "")
    options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(", ")]
    if not isinstance(d.value, str):
        return f"must be one of {expected}, got {d.got}"
    advanced = {name.lower(): name for name in ADVANCED_ACTIVATIONS}.get(d.value.lower())
    if advanced and "activation" in d.loc and d.value.lower() not in options:  # `activation: prelu`
        return f"unknown value {d.got}; did you mean {{{advanced}: {{}}}}?"
    if len(options) > 6:
        hint = suggest(d.value, options)
        return f"unknown value {d.got}{hint}" if hint else f"must be one of {expected}, got {d.got}"
    case_slip = {o.lower(): o for o in options}.get(d.value.lower())
    hint = f"; did you mean {case_slip!r}?" if case_slip else ""
    return f"must be one of {expected}, got {d.got}{hint}"


def _received(text: str) -> Callable[[_Detail], str]:
    """A formatter for `<text>, got <value>`; `{...}` in text is filled from the context."""
    return lambda d: f"{text.format(**d.ctx)}, got {d.got}"


_FORMATTERS: dict[str, Callable[[_Detail], str]] = {
    "extra_forbidden": _unknown_field,
    "missing": lambda d: "required field is missing",
    "union_tag_invalid": _unknown_type,
    "union_tag_not_found": lambda d: "has no type: write {type: Conv2D, ...} or {Conv2D: {...}}",
    "activation_value": _received("must be an activation name or an advanced activation block"),
    "literal_error": _literal,
    "int_type": _received("must be an integer"),
    "float_type": _received("must be a number"),
    "bool_type": _received("must be true or false"),
    "string_type": _received("must be a string"),
    "list_type": _received("must be a list"),
    "tuple_type": _received("must be a list"),
    "model_type": _received("must be a mapping"),
    "model_attributes_type": _received("must be a mapping ({{Type: {{...}}}}) or a layer name"),
    "dict_type": _received("must be a mapping"),
    "finite_number": _received("must be a finite number"),
    "greater_than": _received("must be > {gt}"),
    "greater_than_equal": _received("must be >= {ge}"),
    "less_than": _received("must be < {lt}"),
    "less_than_equal": _received("must be <= {le}"),
    "too_short": lambda d: f"must have at least {d.ctx.get('min_length')} item(s)",
    "string_too_long": lambda d: (
        f"must be at most {d.ctx.get('max_length')} characters long, got "
        f"{len(d.value) if isinstance(d.value, str) else 'more'}"
    ),
    "string_pattern_mismatch": _received("must match {pattern} (letters, digits, _ . -)"),
}
"""Pydantic error kind → the message the user reads; other kinds keep Pydantic's own."""
