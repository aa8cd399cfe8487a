"""Our model (config + weights) → a Keras 3 `.keras` archive, written with json/zipfile/h5py.

The archive holds `config.json` (a Functional model: an InputLayer named `input`, then
one Keras layer per builder layer, each reading its inputs by name), `metadata.json`,
and `model.weights.h5` in Keras 3's layout `layers/<class path>/vars/<i>`. Layer
arguments are our spec's non-default fields, whose names are Keras's. What Keras 3
cannot express is rewritten as its equivalent (ThresholdedReLU → ReLU(threshold=theta);
an inline advanced activation → a separate layer `<name>_activation` after it) or refused
(strides > 1 together with dilation_rate > 1).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from builder.errors import ConfigError, Problem
from builder.interop import require_h5py
from builder.spec.layers import LayerSpec
from builder.spec.model import snake_case

KERAS_VERSION = "3.5.0"
"""Written into metadata.json: the oldest Keras 3 whose config format we write."""

INPUT_LAYER = "input"

_KERAS_MODULES = {"LayerScale": "keras.src.applications.convnext"}
"""Layers that Keras 3 keeps outside `keras.layers` (LayerScale is ConvNeXt's)."""


@dataclass
class _KerasLayer:
    name: str
    class_name: str
    config: dict[str, Any]
    inputs: list[str]
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]
    weights: list[np.ndarray] = field(default_factory=list)


def export_model(model: Any, weights: str | None, path: str) -> None:
    """`builder export`: `.keras` here, `.onnx` by the ONNX exporter; other suffixes refused."""
    from builder.errors import DataError

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".keras", ".onnx"):
        raise DataError(
            f"{path}: export writes .keras or .onnx files; Received: {suffix or 'no suffix'}"
        )
    for given in (weights, model.spec.source.filename if model.spec.source else None):
        if (
            given
            and os.path.exists(given)
            and os.path.exists(path)
            and os.path.samefile(given, path)
        ):
            raise DataError(f"{path}: is an input of this command; choose another output")
    if os.path.exists(path) and not os.path.isfile(path):
        raise DataError(f"{path}: exists and is not a regular file; refused as an output")
    if weights is not None:
        model.load_weights(weights)
    if suffix == ".onnx":
        from builder.onnx_export import save_onnx

        save_onnx(model, path)
        return
    export_keras(model, path)


def export_keras(model: Any, path: str | os.PathLike[str]) -> None:
    """Write `model` (a compiled builder Model, with its current weights) as a `.keras` file."""
    from builder.io import atomic_file

    h5py = require_h5py("export")
    layers = _keras_layers(model)
    dtype = str(model.dtype)
    config = _model_config(model, layers, dtype)
    weights = io.BytesIO()
    with h5py.File(weights, "w") as store:
        _write_weights(store, layers)
    metadata = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.now(timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
    }
    try:
        with atomic_file(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", weights.getvalue())
    except OSError as error:
        from builder.errors import DataError

        raise DataError(f"{path}: cannot write: {error.strerror or error}") from None


def _keras_layers(model: Any) -> list[_KerasLayer]:
    """One Keras layer per node (two where an inline advanced activation is split off)."""
    problems = []
    output_of = {INPUT_LAYER: INPUT_LAYER}
    shapes = {INPUT_LAYER: tuple(model.input_shape)}
    weights = model.weights
    found: list[_KerasLayer] = []
    for node in model.nodes:
        spec: LayerSpec = node.layer.spec
        args = _arguments(spec)
        dilated = args.get("dilation_rate", 1) not in (1, [1, 1], (1, 1))
        strided = args.get("strides", 1) not in (1, [1, 1], (1, 1))
        if dilated and strided:
            problems.append(
                Problem(
                    "<export>",
                    None,
                    None,
                    f"layer {node.name!r} ({spec.type_name})",
                    "Keras 3 refuses strides > 1 together with dilation_rate > 1; "
                    f"Received: strides={args['strides']}, dilation_rate={args['dilation_rate']}",
                )
            )
        inline = args.get("activation")
        if isinstance(inline, dict):
            args["activation"] = "linear"
        class_name, args = _keras_class(spec.type_name, args)
        sources = [output_of[name] for name in node.inputs]
        mine = [weights[f"{node.name}/{w.name}"] for w in node.weights]
        if spec.type_name == "Normalization" and args.get("mean") is not None:
            # A Keras Normalization given mean/variance keeps them in its config and has no
            # variables: write the current statistics there (count matters only to adapt()).
            args["mean"], args["variance"] = (np.asarray(a).tolist() for a in mine[:2])
            mine = []
        inline_weights = []
        if isinstance(inline, dict):
            inline_weights = [
                array for w, array in zip(node.weights, mine, strict=True) if w.name == "alpha"
            ]
            mine = [array for w, array in zip(node.weights, mine, strict=True) if w.name != "alpha"]
        found.append(
            _KerasLayer(
                node.name,
                class_name,
                args,
                sources,
                [shapes[s] for s in sources],
                tuple(node.output_shape),
                mine,
            )
        )
        output_of[node.name] = node.name
        shapes[node.name] = tuple(node.output_shape)
        if isinstance(inline, dict):
            kind = inline.pop("type")
            act_class, act_args = _keras_class(kind, inline)
            act_name = f"{node.name}_activation"
            found.append(
                _KerasLayer(
                    act_name,
                    act_class,
                    act_args,
                    [node.name],
                    [tuple(node.output_shape)],
                    tuple(node.output_shape),
                    inline_weights,
                )
            )
            output_of[node.name] = act_name
            shapes[act_name] = tuple(node.output_shape)
    if problems:
        raise ConfigError(problems)
    return found


def _arguments(spec: LayerSpec) -> dict[str, Any]:
    """Every argument of the spec as JSON values (tuples → lists). All are written, not
    only those off our defaults: some Keras layers have no default where we do
    (AveragePooling2D's pool_size)."""
    # training-only arguments (regularisers, constraints) are accepted and ignored by builder,
    # so they are not written: an inference model has no use for them
    dumped = spec.model_dump(exclude={"type", "name", "inputs", *spec.training_only_fields()})
    if not isinstance(dumped.get("activation", ""), str):
        value = spec.activation  # type: ignore[attr-defined]
        dumped["activation"] = {
            "type": value.type_name,
            **value.model_dump(
                exclude={"type", "name", "inputs", "trainable", *value.training_only_fields()}
            ),
        }
    jsonable: dict[str, Any] = _jsonable(dumped)
    return jsonable


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _keras_class(type_name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Keras 3's class and arguments for one of our layer types."""
    args = dict(args)
    if type_name == "LeakyReLU":  # Keras 3 calls alpha negative_slope
        args.pop("negative_slope", None)
        args["negative_slope"] = args.pop("alpha")
    if type_name == "ThresholdedReLU":  # Keras 3 dropped it; ReLU(threshold) is the same
        return "ReLU", {"threshold": args.pop("theta")}
    return type_name, args


def _layer_config(name: str, class_name: str, config: dict[str, Any], dtype: str) -> dict[str, Any]:
    """The Keras config of one layer: name, `trainable` (true unless the spec says false),
    `dtype`, then its arguments; SpatialDropout2D's constructor takes no `trainable`
    (Keras 3.15 writes none for it and refuses one when loading)."""
    found = {"name": name, "trainable": True, "dtype": dtype, **config}
    if class_name == "SpatialDropout2D":
        found.pop("trainable")
    return found


def keras_order(layers: list[tuple[str, list[str]]], output: str) -> list[str]:
    """The order in which Keras 3's Functional lists these layers (and so numbers their
    weight paths): by depth (longest path to the output) decreasing, ties broken by a
    depth-first walk from the output that visits each layer's inputs in order."""
    inputs = dict(layers)
    first_seen: dict[str, int] = {}
    stack = [output]
    while stack:  # pre-order, inputs left to right (so pushed right to left)
        name = stack.pop()
        if name in first_seen:
            continue
        first_seen[name] = len(first_seen)
        stack.extend(reversed(inputs.get(name, [])))
    depth: dict[str, int] = {output: 0}
    for name, _ in reversed(layers):  # consumers come after their inputs in `layers`
        for source in inputs[name]:
            if name in depth:
                depth[source] = max(depth.get(source, 0), depth[name] + 1)
    names = [INPUT_LAYER] + [name for name, _ in layers]
    return sorted(names, key=lambda n: (-depth.get(n, 0), first_seen.get(n, 0)))


def _tensor(name: str, shape: tuple[int, ...], dtype: str) -> dict[str, Any]:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, *shape], "dtype": dtype, "keras_history": [name, 0, 0]},
    }


def _model_config(model: Any, layers: list[_KerasLayer], dtype: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {
                "batch_shape": [None, *model.input_shape],
                "dtype": dtype,
                "sparse": False,
                "name": INPUT_LAYER,
            },
            "registered_name": None,
            "name": INPUT_LAYER,
            "inbound_nodes": [],
        }
    ]
    by_name = {layer.name: layer for layer in layers}
    order = keras_order([(layer.name, layer.inputs) for layer in layers], layers[-1].name)
    for layer in (by_name[name] for name in order[1:]):
        tensors = [
            _tensor(name, shape, dtype)
            for name, shape in zip(layer.inputs, layer.input_shapes, strict=True)
        ]
        first: Any = tensors[0] if len(tensors) == 1 else tensors
        build_shape: Any = (
            [None, *layer.input_shapes[0]]
            if len(tensors) == 1
            else [[None, *s] for s in layer.input_shapes]
        )
        entries.append(
            {
                "module": _KERAS_MODULES.get(layer.class_name, "keras.layers"),
                "class_name": layer.class_name,
                "config": _layer_config(layer.name, layer.class_name, layer.config, dtype),
                "registered_name": None,
                "build_config": {"input_shape": build_shape},
                "name": layer.name,
                "inbound_nodes": [{"args": [first], "kwargs": {}}],
            }
        )
    return {
        "module": "keras.src.models.functional",  # where Keras 3 itself says it lives
        "class_name": "Functional",
        "config": {
            "name": model.name,
            "trainable": True,
            "layers": entries,
            "input_layers": [INPUT_LAYER, 0, 0],
            "output_layers": [layers[-1].name, 0, 0],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
        "compile_config": {},
    }


def _write_weights(store: Any, layers: list[_KerasLayer]) -> None:
    """Keras 3's layout: `layers/<snake class name>[_<n>]/vars/<i>`, numbered per class
    in the model's layer order (the InputLayer first)."""
    counters: dict[str, int] = {}

    def slot(class_name: str) -> str:
        base = snake_case(class_name)
        count = counters.get(base, -1) + 1
        counters[base] = count
        return f"layers/{base}" + (f"_{count}" if count else "")

    store.create_group(f"{slot('InputLayer')}/vars")
    by_name = {layer.name: layer for layer in layers}
    order = keras_order([(layer.name, layer.inputs) for layer in layers], layers[-1].name)
    for layer in (by_name[name] for name in order[1:]):
        group = store.create_group(f"{slot(layer.class_name)}/vars")
        for index, array in enumerate(layer.weights):
            group.create_dataset(str(index), data=np.asarray(array))
    store.create_group("vars")
