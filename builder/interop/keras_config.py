"""Keras model config (JSON of Keras 2 or 3) → our config: a flat layer list → YAML text.

Functional and Sequential models (nested ones included, their layer names prefixed with
`<model>.`) become one flat list of `FlatLayer`s, each with the names of the layers it
reads. Each Keras layer config is translated by keeping the arguments our spec model has
and that differ from its defaults (so `trainable: false` is kept); Keras-only bookkeeping
(`dtype`, regularizers, constraints, `data_format: channels_last`) is dropped. Class names are
looked up in our registry only: anything else is refused, every one listed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from builder.errors import ConfigError, Problem
from builder.interop.keras_ops import (
    is_operation,
    is_scaled_residual,
    operation_as_layer,
    scaled_residual_scale,
)
from builder.spec.fields import NAME_PATTERN
from builder.spec.layers import SPECS, TYPE_NAMES
from builder.spec.model import INPUT_NAME, snake_case

SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/model.schema.json"
MODEL_CLASSES = ("Functional", "Sequential", "Model")

# Keras arguments with no meaning at inference, dropped whatever their value.
_BOOKKEEPING = {
    "name",
    "dtype",
    "autocast",
    "batch_input_shape",
    "batch_shape",
    "input_shape",
    "input_dim",
    "build_config",
    "activity_regularizer",
    "kernel_regularizer",
    "bias_regularizer",
    "beta_regularizer",
    "gamma_regularizer",
    "depthwise_regularizer",
    "pointwise_regularizer",
    "alpha_regularizer",
    "kernel_constraint",
    "bias_constraint",
    "beta_constraint",
    "gamma_constraint",
    "depthwise_constraint",
    "pointwise_constraint",
    "alpha_constraint",
    "renorm_momentum",
    "renorm_clipping",
    "synchronized",
    "renorm",
    "fused",
    "virtual_batch_size",
    "adjustment",
    "momentum",
    "seed",
    "noise_shape",
    "lora_rank",
    "lora_alpha",
    "quantization_config",
    "invert",
    "sparse",
    "ragged",
}


@dataclass
class FlatLayer:
    """One layer of the flattened model: our name, Keras class and config, inputs, and
    where its weights live (`keras3_path` in `.keras` files, `legacy_group` and
    `legacy_layer` in full-model `.h5` files)."""

    name: str
    class_name: str
    config: dict[str, Any]
    inputs: list[str]
    keras3_path: str
    legacy_group: str
    legacy_layer: str
    entry: dict[str, Any] = field(default_factory=dict)


@dataclass
class Imported:
    """The result of reading a Keras config: flat layers, input shape and dtype."""

    name: str
    input_shape: list[int]
    dtype: str
    layers: list[FlatLayer]
    output: str
    problems: list[Problem] = field(default_factory=list)


class _Refusals:
    """Collects every problem found, so that all are reported at once."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename, self.text = filename, text
        self.problems: list[Problem] = []

    def add(self, layer: str | None, message: str) -> None:
        line = col = None
        if layer is not None:  # a flattened `inner.conv2d` stands as `conv2d` in the file
            line, col = _position(self.text, layer)
            if line is None:
                line, col = _position(self.text, layer.rsplit(".", 1)[-1])
        where = f"layer {layer!r}" if layer is not None else ""
        self.problems.append(Problem(self.filename, line, col, where, message))


def _position(text: str, layer: str) -> tuple[int | None, int | None]:
    """Line and column (1-based) of the layer's `"name": "..."` in the JSON text."""
    match = re.search(r'"name"\s*:\s*' + re.escape(json.dumps(layer)), text)
    if match is None:
        return None, None
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1


def flatten_model(config: dict[str, Any], filename: str, text: str) -> Imported:
    """The flat layer list of a Keras model config; ConfigError lists every refusal."""
    refusals = _Refusals(filename, text)
    flat: list[FlatLayer] = []
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name not in MODEL_CLASSES or not isinstance(inner, dict):
        raise ConfigError(
            [Problem(filename, None, None, "", f"not a Keras model: class_name={class_name!r}")]
        )
    shapes: list[list[int]] = []
    dtypes: set[str] = set()
    outputs = _walk(class_name, inner, "", None, "", "", flat, shapes, dtypes, refusals)
    if len(shapes) != 1 and not refusals.problems:
        refusals.add(
            None,
            f"models with {len(shapes)} inputs are not supported; builder models take one input",
        )
    if len(outputs) != 1 and not refusals.problems:
        refusals.add(
            None,
            f"models with {len(outputs)} outputs are not supported; builder models have one output",
        )
    dtypes.discard("")
    if len(dtypes) > 1 or (dtypes and not dtypes <= {"float32", "float64"}):
        refusals.add(
            None, f"dtype must be float32 or float64 throughout, got {', '.join(sorted(dtypes))}"
        )
    if len(shapes) != 1 or len(outputs) != 1:
        raise ConfigError(refusals.problems)
    renamed = valid_names([layer.name for layer in flat])
    for layer in flat:
        layer.name = renamed[layer.name]
        layer.inputs = [renamed.get(source, source) for source in layer.inputs]
    # Refused classes are reported later, together with every unusable argument.
    return Imported(
        name=str(inner.get("name") or "model"),
        input_shape=shapes[0],
        dtype=next(iter(dtypes), "float32"),
        layers=flat,
        output=renamed.get(outputs[0], outputs[0]),
        problems=refusals.problems,
    )


def valid_names(names: list[str]) -> dict[str, str]:
    """Each Keras layer name → a builder layer name (letters, digits, `_ . -`, not
    starting with a digit): tf.keras 2 names such as `Conv/BatchNorm` (MobileNetV3) get
    `_` for each other character, and `_<n>` if that name is already taken."""
    taken = set(names)
    renamed: dict[str, str] = {}
    for name in names:
        if re.fullmatch(NAME_PATTERN, name):
            renamed[name] = name
            continue
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        base = base if re.match(r"[A-Za-z_]", base) else f"_{base}"
        candidate, count = base, 0
        while candidate in taken:
            count += 1
            candidate = f"{base}_{count}"
        taken.add(candidate)
        renamed[name] = candidate
    return renamed


def _dtype_name(value: Any) -> str:
    """`float32` from a Keras 2 string, or from Keras 3's DTypePolicy dict."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = (
            value.get("config", {}).get("name") if isinstance(value.get("config"), dict) else None
        )
        return str(name) if name else ""
    return ""


def _walk(
    class_name: str,
    config: dict[str, Any],
    prefix: str,
    feeds: list[str] | None,
    path: str,
    legacy_group: str,
    flat: list[FlatLayer],
    shapes: list[list[int]],
    dtypes: set[str],
    refusals: _Refusals,
) -> list[str]:
    """Appends the layers of one (possibly nested) model to `flat`; returns its outputs'
    flat names. `feeds` are the flat names that the model's inputs stand for (None at the
    top level, where they are the model input)."""
    layers = config.get("layers")
    if not isinstance(layers, list):
        refusals.add(None, f"model {config.get('name')!r} has no layers list")
        return []
    sequential = class_name == "Sequential"
    counters: dict[str, int] = {}
    resolved: dict[str, list[str]] = {}  # Keras layer name → flat names of its outputs
    previous: list[str] = []
    input_count = 0
    for entry in layers:
        if not isinstance(entry, dict):
            refusals.add(None, "a layer entry is not an object")
            continue
        kind = str(entry.get("class_name"))
        raw_config = entry.get("config")
        layer_config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        keras_name = str(layer_config.get("name") or entry.get("name") or kind)
        dtypes.add(_dtype_name(layer_config.get("dtype")))
        # The weights path of `.keras` files numbers layers by class, per container
        # (Sequential's container leaves its InputLayer out).
        slot = ""
        operation = is_operation(entry)
        if operation:  # `x + 3.0` in Keras 3: no weights, no slot in the weights file
            found = operation_as_layer(entry, keras_name)
            if isinstance(found, str):
                refusals.add(prefix + keras_name, found)
                resolved[keras_name] = [prefix + keras_name]  # no second report downstream
                continue
            kind, layer_config = found
        elif not (sequential and kind == "InputLayer"):
            base = snake_case(kind)
            count = counters.get(base, -1) + 1
            counters[base] = count
            slot = f"{path}layers/{base}" + (f"_{count}" if count else "")
        if kind == "InputLayer":
            outputs = _input_layer(layer_config, feeds, input_count, shapes, refusals, keras_name)
            input_count += 1
            resolved[keras_name] = outputs
            previous = outputs
            continue
        if sequential:
            if not previous:  # Keras 2: the first layer carries batch_input_shape
                declared = {"batch_input_shape": config.get("build_input_shape"), **layer_config}
                previous = _implicit_input(declared, feeds, shapes, refusals, keras_name)
            sources = list(previous)
        else:
            sources = _inbound(entry, resolved, refusals, prefix + keras_name)
        if kind in MODEL_CLASSES:
            nested = entry.get("config")
            if not isinstance(nested, dict):
                refusals.add(prefix + keras_name, "nested model has no config")
                continue
            group = legacy_group or keras_name
            outputs = _walk(
                kind,
                nested,
                f"{prefix}{keras_name}.",
                sources,
                f"{slot}/",
                group,
                flat,
                shapes,
                dtypes,
                refusals,
            )
        elif is_scaled_residual(entry):  # a + b·scale: Rescaling of b, then Add
            outputs = _scaled_residual(
                entry,
                prefix + keras_name,
                sources,
                slot,
                legacy_group or keras_name,
                flat,
                refusals,
            )
        else:
            if not operation:
                _check_class(entry, kind, prefix + keras_name, refusals)
            flat_name = prefix + keras_name
            flat.append(
                FlatLayer(
                    flat_name,
                    kind,
                    layer_config,
                    sources,
                    slot,
                    legacy_group or keras_name,
                    keras_name,
                    entry,
                )
            )
            outputs = [flat_name]
        resolved[keras_name] = outputs
        previous = outputs
    if sequential:
        return previous
    return [
        name
        for ref in _refs(config.get("output_layers"))
        for name in _lookup(ref, resolved, refusals, prefix)
    ]


def _scaled_residual(
    entry: dict[str, Any],
    flat_name: str,
    sources: list[str],
    slot: str,
    group: str,
    flat: list[FlatLayer],
    refusals: _Refusals,
) -> list[str]:
    """InceptionResNetV2's `a + b·scale` as a Rescaling of b (`<name>_scaled`) then an Add
    (`<name>`); neither has weights."""
    raw = entry.get("config")
    scale = scaled_residual_scale(raw if isinstance(raw, dict) else {}, sources)
    if isinstance(scale, str):
        refusals.add(flat_name, scale)
        return [flat_name]
    scaled = f"{flat_name}_scaled"
    keras_name = flat_name.rsplit(".", 1)[-1]
    rescale = {"name": f"{keras_name}_scaled", "scale": scale}
    flat.append(FlatLayer(scaled, "Rescaling", rescale, sources[1:], slot, group, "", entry))
    add = {"name": keras_name}
    flat.append(FlatLayer(flat_name, "Add", add, [sources[0], scaled], slot, group, "", entry))
    return [flat_name]


def _input_layer(
    config: dict[str, Any],
    feeds: list[str] | None,
    index: int,
    shapes: list[list[int]],
    refusals: _Refusals,
    name: str,
) -> list[str]:
    if feeds is not None:
        if index < len(feeds):
            return [feeds[index]]
        refusals.add(name, "nested model input is not connected")
        return []
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if (
        not isinstance(shape, list)
        or len(shape) < 2
        or any(not isinstance(v, int) or v < 1 for v in shape[1:])
    ):
        refusals.add(name, f"input shape must be fully known, got {shape}")
        return []
    shapes.append([int(v) for v in shape[1:]])
    return [INPUT_NAME]


def _implicit_input(
    config: dict[str, Any],
    feeds: list[str] | None,
    shapes: list[list[int]],
    refusals: _Refusals,
    name: str,
) -> list[str]:
    """The model input of a Sequential with no InputLayer: Keras 2 puts its shape on the
    first layer (`batch_input_shape`), Keras 3 on the model (`build_input_shape`)."""
    if feeds is not None:
        return list(feeds[:1])
    if config.get("batch_input_shape") is None and config.get("batch_shape") is None:
        refusals.add(
            name, "a Sequential model without an input shape cannot be imported (build it first)"
        )
        return []
    return _input_layer(config, None, 0, shapes, refusals, name)


def _check_class(entry: dict[str, Any], kind: str, name: str, refusals: _Refusals) -> None:
    module = entry.get("module")
    registered = entry.get("registered_name")
    if kind == "Lambda":
        refusals.add(name, "Lambda layers hold code and are refused")
    elif kind == "TFOpLambda" or kind.startswith("TFOp"):
        refusals.add(name, f"{kind} layers hold TensorFlow operations and are refused")
    elif module is not None and not (module == "keras" or str(module).startswith("keras.")):
        refusals.add(name, f"class {kind} from module {module!r} is not a Keras layer: refused")
    elif registered not in (None, kind):
        refusals.add(name, f"custom object {registered!r} (class {kind}) is refused")
    elif kind not in TYPE_NAMES:
        refusals.add(name, f"layer class {kind} is not supported by builder")


def _refs(value: Any) -> list[list[Any]]:
    """`[name, node, tensor]` references, from a single one or a list of them."""
    if isinstance(value, list) and len(value) >= 1 and isinstance(value[0], str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, list) and v and isinstance(v[0], str)]
    return []


def _lookup(
    ref: list[Any], resolved: dict[str, list[str]], refusals: _Refusals, prefix: str
) -> list[str]:
    name = ref[0]
    tensor = ref[2] if len(ref) > 2 and isinstance(ref[2], int) else 0
    outputs = resolved.get(name)
    if outputs is None:
        refusals.add(prefix + name, "refers to a layer defined later or not at all")
        return []
    if tensor >= len(outputs):
        refusals.add(prefix + name, f"has no output {tensor}")
        return []
    return [outputs[tensor]]


def _inbound(
    entry: dict[str, Any], resolved: dict[str, list[str]], refusals: _Refusals, name: str
) -> list[str]:
    """Flat names of the tensors a functional layer reads (Keras 2 or Keras 3 nodes)."""
    nodes = entry.get("inbound_nodes") or []
    if not isinstance(nodes, list) or len(nodes) != 1:
        if nodes:
            refusals.add(
                name, f"layer is called {len(nodes)} times; shared layers are not supported"
            )
        return []
    node = nodes[0]
    refs: list[list[Any]] = []
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        _collect_history(node.get("args"), refs)
    elif isinstance(node, list) and node and isinstance(node[0], str):
        refs = [
            node
        ]  # tf.keras 2 TFOpLambda: the node is its one call [name, node, tensor, kwargs]
    elif isinstance(node, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        refs = [
            item for item in node if isinstance(item, list) and item and isinstance(item[0], str)
        ]
    prefix = name[: len(name) - len(name.split(".")[-1])]
    return [flat for ref in refs for flat in _lookup(ref, resolved, refusals, prefix)]


def _collect_history(value: Any, refs: list[list[Any]]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history")
            if isinstance(history, list) and history:
                refs.append(history)
            return
        for item in value.values():
            _collect_history(item, refs)
    elif isinstance(value, list):
        for item in value:
            _collect_history(item, refs)


# --- Keras layer config → our layer entry ------------------------------------------------


def translate_layers(imported: Imported, filename: str, text: str) -> list[dict[str, Any]]:
    """Our canonical layer entries (`{type, ...args, inputs?, name}`), ordered so that
    branches stay together; ConfigError lists every argument we cannot express."""
    refusals = _Refusals(filename, text)
    entries = {}
    for layer in imported.layers:
        entries[layer.name] = _translate(layer, refusals)
    problems = imported.problems + refusals.problems
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.col or 0)))
    ordered = order_layers([(layer.name, layer.inputs) for layer in imported.layers])
    result = []
    previous = INPUT_NAME
    for name, inputs in ordered:
        entry = entries[name]
        if inputs != [previous]:
            entry["inputs"] = list(inputs)
        entry["name"] = name
        result.append(entry)
        previous = name
    return result


def order_layers(layers: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """A topological order that follows each branch to its end before starting another:
    of the layers whose inputs are all placed, take the one reading the most recently
    placed layer (ties: the original order), so few layers need `inputs:`."""
    placed = {INPUT_NAME: 0}
    remaining = list(layers)
    ordered = []
    while remaining:
        best = None
        best_key: tuple[int, int] | None = None
        for index, (_name, inputs) in enumerate(remaining):
            if all(source in placed for source in inputs):
                key = (max((placed[s] for s in inputs), default=0), -index)
                if best_key is None or key > best_key:
                    best, best_key = index, key
        if best is None:  # a cycle cannot come from Keras; keep the rest as given
            ordered += remaining
            break
        name, inputs = remaining.pop(best)
        placed[name] = len(placed)
        ordered.append((name, inputs))
    return ordered


def _scalar_operand(layer: FlatLayer) -> dict[str, Any] | None:
    """`x + 3.0`, `x * (1/6)`, `x - c` or `c - x` on a Keras 3 tensor (as MobileNetV3's
    hard sigmoid writes them) is saved as an Add/Multiply/Subtract layer with one tensor
    and one number: the same as Rescaling(scale, offset)."""
    nodes = layer.entry.get("inbound_nodes")
    if layer.class_name not in ("Add", "Multiply", "Subtract") or not isinstance(nodes, list):
        return None
    args = nodes[0].get("args") if len(nodes) == 1 and isinstance(nodes[0], dict) else None
    if not isinstance(args, list) or len(args) != 2 or len(layer.inputs) != 1:
        return None
    numbers = [
        isinstance(a, (int, float)) and not isinstance(a, bool) and np.isfinite(a) for a in args
    ]
    if numbers.count(True) != 1:
        return None
    value = _short_float(float(args[numbers.index(True)]))
    if layer.class_name == "Add":
        return {"type": "Rescaling", "scale": 1.0, "offset": value}
    if layer.class_name == "Multiply":
        return {"type": "Rescaling", "scale": value}
    if numbers[1]:  # x - c
        return {"type": "Rescaling", "scale": 1.0, "offset": -value}
    return {"type": "Rescaling", "scale": -1.0, "offset": value}  # c - x


def _translate(layer: FlatLayer, refusals: _Refusals) -> dict[str, Any]:
    kind = TYPE_NAMES.get(layer.class_name)
    if kind is None:
        return {}
    scalar = _scalar_operand(layer)
    if scalar is not None:
        return scalar
    spec = SPECS[kind]
    fields = spec.model_fields
    config = dict(layer.config)
    if kind == "LeakyReLU" and "negative_slope" in config:  # Keras 3 spells alpha so
        config["alpha"] = config.pop("negative_slope")
    if kind == "Normalization" and "mean" not in fields:  # our mean/variance are weights
        config.pop("mean", None)
        config.pop("variance", None)
    if kind == "ThresholdedReLU" and "theta" in config:
        config["theta"] = _short_float(config["theta"])
    args: dict[str, Any] = {}
    for key, value in config.items():
        if key == "data_format":
            if value not in (None, "channels_last"):
                refusals.add(
                    layer.name, f"data_format={value!r} is not supported; builder is channels_last"
                )
            continue
        if key in ("inputs", "type", "name"):
            continue
        if key in _BOOKKEEPING:  # before `fields`: our specs accept regularizers, to ignore
            continue
        if key in fields:
            args[key] = _value(key, value)
            continue
        if value is None or value is False:
            continue
        if key == "groups" and value == 1:  # tf.keras 2 writes it on DepthwiseConv2D too
            continue
        refusals.add(
            layer.name, f"argument {key}={json.dumps(value)} is not supported by builder's {kind}"
        )
    return {"type": kind, **_without_defaults(spec, args, layer, refusals)}


def _value(key: str, value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value:  # initializer or activation object
        name = value.get("class_name")
        if key.endswith("initializer"):
            return snake_case(str(name))
        return value
    if isinstance(value, float):
        return _short_float(value)
    if key == "axis" and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _short_float(value: float) -> float:
    """0.05 for 0.05000000074505806, a float32 value that Keras 2 wrote as a float64."""
    single = np.float32(value)
    if float(single) == value:
        return float(str(single))
    return value


def _without_defaults(
    spec: Any, args: dict[str, Any], layer: FlatLayer, refusals: _Refusals
) -> dict[str, Any]:
    """The arguments whose validated value differs from the spec model's default.

    Initialisers we do not know are dropped (they change nothing at inference)."""
    fields = spec.model_fields
    for key in [k for k in args if k.endswith("initializer")]:
        try:
            spec.model_validate(
                {"type": spec.canonical_type(), **_required(spec, args), key: args[key]}
            )
        except ValidationError:
            del args[key]
    try:
        validated = spec.model_validate({"type": spec.canonical_type(), **args})
    except ValidationError as error:
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            refusals.add(layer.name, f"{where}: {item['msg']}")
        return args
    kept = {}
    for key in sorted(args, key=lambda k: _field_rank(fields, k)):
        value = args[key]
        current = getattr(validated, key)
        default = fields[key].default
        if key == "strides" and current == getattr(validated, "pool_size", None):
            continue
        if _same(current, default):
            continue
        kept[key] = _compact(key, value)
    return kept


def _field_rank(fields: dict[str, Any], key: str) -> tuple[bool, bool, int]:
    """A fixed order whatever the file's: required arguments first, `filters` leading them
    (as in Keras's signatures `Conv2D(filters, kernel_size)`), then the spec's order."""
    return (not fields[key].is_required(), key != "filters", list(fields).index(key))


def _required(spec: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if spec.model_fields[k].is_required()}


def _same(current: Any, default: Any) -> bool:
    """Whether a validated value equals the field's default (an inline activation block
    never does: its default is a name)."""
    if hasattr(current, "model_dump"):
        return False
    return bool(current == default)


_SIZE_KEYS = {"kernel_size", "strides", "pool_size", "dilation_rate", "size", "output_padding"}
"""Arguments that take an integer for equal sizes on every axis (others, such as
Reshape's target_shape, keep their list)."""


def _compact(key: str, value: Any) -> Any:
    """`kernel_size: [3, 3]` (or a 1-D layer's `[3]`) → 3, as a Keras user writes it."""
    if (
        key in _SIZE_KEYS
        and isinstance(value, list)
        and len(value) in (1, 2)
        and all(isinstance(v, int) and not isinstance(v, bool) and v == value[0] for v in value)
    ):
        return value[0]
    return value


# --- YAML text -------------------------------------------------------------------------


def config_text(
    name: str, input_shape: list[int], dtype: str, layers: list[dict[str, Any]], origin: str
) -> str:
    """The config as YAML: the `$schema` line, a comment naming the origin, then one
    shorthand line per layer (`- Conv2D: {filters: 32, kernel_size: 3, name: conv2d}`)."""
    lines = [SCHEMA_LINE, f"# Imported from {origin} by builder import."]
    lines.append(f"name: {_flow(name)}")
    lines.append(f"input_shape: {_flow(list(input_shape))}")
    if dtype != "float32":
        lines.append(f"dtype: {dtype}")
    lines.append("layers:")
    for entry in layers:
        args = {k: v for k, v in entry.items() if k != "type"}
        lines.append(f"  - {entry['type']}: {_flow(args)}")
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
        .strip()
        .removesuffix("\n...")
    )
