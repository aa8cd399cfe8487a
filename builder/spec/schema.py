"""The JSON Schema of config files, exported from the Pydantic models.

Pydantic describes the canonical layer form (`{type: Conv2D, ...}`). So that editors accept
what the loader accepts, each `layers` item also admits the shorthand `{Conv2D: {...}}`
(one property per type name, its value the canonical model without `type`, or a scalar for
its `positional` field: `Dense: 10`), the bare strings (a type name, or an activation
name), `inputs: a` for `[a]`, `activation: LeakyReLU`, and top-level `x-` keys.
"""

from __future__ import annotations

import json
from typing import Any

from builder.ops.names import ACTIVATION_NAMES
from builder.spec.layers import ADVANCED_ACTIVATIONS, SPECS, TYPE_NAMES
from builder.spec.model import ModelSpec

SCHEMA_ID = "https://github.com/yaml-model-builder/builder/schemas/model.schema.json"


def json_schema() -> dict[str, Any]:
    schema = ModelSpec.model_json_schema()
    canonical = schema["properties"]["layers"]["items"]
    shorthand = {
        "type": "object",
        "description": "Shorthand {Type: {arguments}}.",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            name: _arguments_ref(
                schema, SPECS[canonical_name].__name__, SPECS[canonical_name].positional
            )
            for name, canonical_name in TYPE_NAMES.items()
        },
        "additionalProperties": False,
    }
    bare = {
        "type": "string",
        "description": "A layer type without arguments, or an activation name.",
        "enum": sorted(TYPE_NAMES) + list(ACTIVATION_NAMES),
    }
    schema["properties"]["layers"]["items"] = {"anyOf": [canonical, shorthand, bare]}
    schema["patternProperties"] = {"^x-": {"description": "Ignored: a place for YAML anchors."}}
    _allow_shorthand_activations(schema)
    _allow_single_input(schema)
    # exactly one of the two input declarations (Pydantic cannot say so in the schema)
    schema["oneOf"] = [{"required": ["input_shape"]}, {"required": ["inputs"]}]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


def _arguments_ref(
    schema: dict[str, Any], definition: str, positional: str | None = None
) -> dict[str, Any]:
    """`null` or a reference to `<definition>Arguments`: the layer's definition without
    `type` (the shorthand's key names it), added to `$defs` once; or, when the layer has a
    `positional` field, that field's value alone."""
    name = f"{definition}Arguments"
    if name not in schema["$defs"]:
        body = json.loads(json.dumps(schema["$defs"][definition]))
        body["properties"].pop("type", None)
        body["required"] = [r for r in body.get("required", []) if r != "type"]
        if not body["required"]:
            body.pop("required")
        schema["$defs"][name] = body
    forms: list[dict[str, Any]] = [{"type": "null"}, {"$ref": f"#/$defs/{name}"}]
    if positional is not None:
        field = schema["$defs"][definition]["properties"][positional]
        if positional == "activation":  # completed by _allow_shorthand_activations
            field = {"$ref": "#/$defs/ActivationValue"}
        forms.append({**field, "description": f"Shorthand for {positional}."})
    return {"anyOf": forms}


def _allow_shorthand_activations(schema: dict[str, Any]) -> None:
    """Inline `activation: {LeakyReLU: {alpha: 0.05}}` blocks, for every model with an activation."""
    blocks = {name: _arguments_ref(schema, SPECS[name].__name__) for name in ADVANCED_ACTIVATIONS}
    shorthand = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": blocks,
        "additionalProperties": False,
    }
    for definition in list(schema["$defs"].values()):
        activation = definition.get("properties", {}).get("activation")
        if activation is not None and "oneOf" in activation:
            value = {
                "anyOf": [
                    *activation.pop("oneOf"),
                    {"$ref": "#/$defs/ActivationShorthand"},
                    {"enum": list(ADVANCED_ACTIVATIONS), "description": "With its defaults."},
                ]
            }
            schema["$defs"].setdefault("ActivationValue", value)
            activation["$ref"] = "#/$defs/ActivationValue"
    schema["$defs"]["ActivationShorthand"] = shorthand


def _allow_single_input(schema: dict[str, Any]) -> None:
    """`inputs: a` (one name) is read as `[a]`."""
    for definition in schema["$defs"].values():
        inputs = definition.get("properties", {}).get("inputs")
        if inputs is not None and "anyOf" in inputs:
            array = next(form for form in inputs["anyOf"] if form.get("type") == "array")
            inputs["anyOf"].insert(1, dict(array["items"]))
