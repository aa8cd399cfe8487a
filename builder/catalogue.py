"""`builder layers`: the catalogue of layer types and activations, and one type's fields.

Everything is generated from the sources the loader itself uses, so it cannot drift: the
registry (which types exist, with their aliases), the Pydantic spec models and their JSON
Schema (fields, types, defaults, constraints), the spec and layer docstrings (what the
layer computes, its shapes and formula) and the activation kernels' docstrings.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from builder.ops.activations import ACTIVATIONS
from builder.ops.names import ACTIVATION_ALIASES
from builder.registry import ENTRIES, LAYERS, LayerEntry
from builder.spec.layers import TYPE_NAMES, LayerSpec

_COMMON = tuple(LayerSpec.model_fields)
"""Fields every layer takes (`name`, `inputs`, `trainable`, training-only arguments)."""


def catalogue() -> str:
    """Every layer type and every activation name, one line each."""
    width = max(len(entry.type_name) for entry in ENTRIES) + 2
    lines = ["Layers (`builder layers TYPE` shows one type's fields):"]
    for entry in ENTRIES:
        aliases = f" (alias {', '.join(entry.aliases)})" if entry.aliases else ""
        lines.append(f"  {entry.type_name:<{width}}{_first_line(entry.spec)}{aliases}")
    lines.append("Activations (`activation: NAME`, or a layer entry `- NAME`):")
    for name, record in ACTIVATIONS.items():
        alias = ACTIVATION_ALIASES.get(name)
        summary = f"alias of {alias}" if alias else _first_line(record.function)
        lines.append(f"  {name:<{width}}{summary}")
    return "\n".join(lines) + "\n"


def find(type_name: str) -> LayerEntry | None:
    """The registry entry of a type name or Keras alias (None when unknown)."""
    return LAYERS.get(TYPE_NAMES.get(type_name, ""))


def describe_layer(entry: LayerEntry) -> str:
    """One layer type: what it computes, its fields (type, default, constraints) and forms."""
    spec = entry.spec
    schema = spec.model_json_schema()
    title = entry.type_name + (f" (alias {', '.join(entry.aliases)})" if entry.aliases else "")
    lines = [title, "", *_docstring(spec), *_docstring(entry.layer), "", "Fields:"]
    ignored = spec.training_only_fields()
    names = [n for n in _ordered(spec, schema) if n not in _COMMON and n not in ignored]
    props = schema["properties"]
    rows = [
        (
            name,
            _type_text(props[name], schema),
            _default_text(props[name]),
            props[name].get("description", ""),
        )
        for name in names
    ]
    if not rows:
        lines.append("  (none)")
    widths = [max((len(row[k]) for row in rows), default=0) for k in range(3)]
    for row in rows:
        cells = [row[k].ljust(widths[k]) for k in range(3)] + [row[3]]
        lines.append(("  " + "   ".join(cells)).rstrip())
    for name in names:
        choices = props[name].get("enum", [])
        if len(choices) > 4:
            lines.append(f"  {name}: one of {', '.join(choices)}")
    others = [n for n in _COMMON if n not in ignored]
    lines += [
        "",
        f"Every layer also takes: {', '.join(others)};",
        f"and accepts, ignored (training only): {', '.join(ignored)}.",
    ]
    lines.append("Forms: " + "; ".join(_forms(entry, schema)))
    return "\n".join(lines) + "\n"


def _ordered(spec: type[LayerSpec], schema: dict[str, Any]) -> list[str]:
    """Required fields first (`LayerSpec.required_fields`' order), then the others in
    schema order."""
    required = spec.required_fields()
    return required + [n for n in schema["properties"] if n not in required and n != "type"]


def _forms(entry: LayerEntry, schema: dict[str, Any]) -> list[str]:
    name = entry.type_name
    required = entry.spec.required_fields()
    arguments = ", ".join(f"{n}: ..." for n in required)
    forms = [
        f"{name}: {{{arguments}}}",
        f"{{type: {name}, {arguments}}}" if arguments else f"{{type: {name}}}",
    ]
    if entry.spec.positional is not None:
        forms.append(f"{name}: VALUE (sets {entry.spec.positional})")
    if not required:
        forms.append(f"- {name} (bare, with the defaults)")
    return forms


def _first_line(thing: Any) -> str:
    return (inspect.getdoc(thing) or "").split("\n\n")[0].replace("\n", " ")


def _docstring(thing: Any) -> list[str]:
    """The class's own docstring (not one inherited from a base), as indented lines."""
    doc = thing.__dict__.get("__doc__")
    return [f"  {line}".rstrip() for line in inspect.cleandoc(doc).splitlines()] if doc else []


def _type_text(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    """`int >= 1 | [int >= 1, int >= 1]`, `'valid' | 'same'`, `activation name or block`."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1].removesuffix("Spec")
    options = prop.get("anyOf") or prop.get("oneOf")
    if options is not None:
        if any("discriminator" in option for option in options):
            return "activation name or advanced-activation block"
        return " | ".join(_type_text(option, schema) for option in options)
    if "const" in prop:
        return _value(prop["const"])
    if "enum" in prop:
        values = [_value(v) for v in prop["enum"]]
        return " | ".join(values) if len(values) <= 4 else "str (one of the names below)"
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        item = _type_text(items, schema) if items else "value"
        if prop.get("minItems") is not None and prop.get("minItems") == prop.get("maxItems"):
            return "[" + ", ".join([item] * prop["minItems"]) + "]"
        return f"list of {item}"
    text = {
        "integer": "int",
        "number": "float",
        "boolean": "bool",
        "string": "str",
        "null": "null",
    }.get(kind or "", "any")
    bounds = [
        f"{sign} {prop[key]}"
        for key, sign in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if key in prop
    ]
    return " ".join([text, ", ".join(bounds)]) if bounds else text


def _default_text(prop: dict[str, Any]) -> str:
    return "default " + _value(prop["default"]) if "default" in prop else "required"


def _value(value: Any) -> str:
    """A JSON value as YAML users write it: `'same'`, `[1, 1]`, `null`, `true`."""
    return json.dumps(value).replace('"', "'")
