"""Keras weight files → our `{"layer/weight": array}`, checked against the config's shapes.

Two layouts are read:
- Keras 3 `model.weights.h5` (inside `.keras`): `layers/<class path>/vars/<i>`, where the
  class path numbers layers by class per container (`conv2d`, `conv2d_1`, ...) and `i` is
  the variable's position in the layer (Keras's order, which is ours: kernel, bias; gamma,
  beta, moving_mean, moving_variance).
- legacy full-model `.h5` (Keras 2 and 3): `model_weights/<top layer>` with attribute
  `weight_names` such as `conv2d/kernel:0` (Keras 2) or `inner/conv2d_1/kernel` (Keras 3),
  each a dataset under that group; the part before the weight name is the owning layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from builder.errors import ResourceError, WeightsError
from builder.interop.keras_config import FlatLayer
from builder.layers.base import WeightSpec
from builder.sizes import format_bytes


def read_weights(
    source: Any,
    layout: str,
    layers: list[FlatLayer],
    specs: list[tuple[str, WeightSpec]],
    dtype: np.dtype,
    filename: str,
    max_bytes: int,
) -> dict[str, np.ndarray]:
    """Every weight of `specs`, found in `source`; one WeightsError lists every weight
    missing, mis-shaped, or left over in the file. Sizes are checked before reading."""
    expected: dict[str, list[tuple[str, WeightSpec]]] = {}
    for key, spec in specs:
        owner, _, _ = key.partition("/")
        expected.setdefault(owner, []).append((key, spec))
    problems: list[str] = []
    found: dict[str, np.ndarray] = {}
    total = 0
    for layer in layers:
        wanted = expected.get(layer.name, [])
        datasets = (
            _keras3_vars(source, layer) if layout == "keras3" else _legacy_vars(source, layer)
        )
        if not datasets and layer.class_name == "Normalization":
            datasets = _normalization_statistics(layer, wanted)
        for index, (key, spec) in enumerate(wanted):
            dataset = _pick(datasets, index, spec.name, layout)
            if dataset is None:
                problems.append(f"missing {key} {spec.shape}")
                continue
            shape = tuple(int(v) for v in dataset.shape)
            if shape != spec.shape:
                problems.append(f"{key} has shape {shape}, expected {spec.shape}")
                continue
            if dataset.dtype.kind not in "biuf":
                problems.append(f"{key} has dtype {dataset.dtype}, expected a real-number array")
                continue
            total += int(np.prod(shape)) * dtype.itemsize
            if total > max_bytes:
                raise ResourceError(
                    f"{filename}: the weights exceed the memory limit of {format_bytes(max_bytes)}"
                )
            # np.array, not ascontiguousarray, which turns Normalization's 0-d count into (1,)
            found[key] = np.array(dataset[()], dtype=dtype, order="C")
        extra = len(datasets) - len(wanted)
        if extra > 0:
            problems.append(f"layer {layer.name} has {extra} unexpected weight(s) in the file")
    if problems:
        raise WeightsError("\n".join(f"{filename}: {problem}" for problem in problems))
    return found


def _pick(datasets: list[tuple[str, Any]], index: int, name: str, layout: str) -> Any:
    """By name where the file names its weights (legacy), else by position (Keras 3)."""
    if layout == "legacy":
        for short, dataset in datasets:
            if short == name:
                return dataset
        # Keras 3 renamed some weights (DepthwiseConv2D's depthwise_kernel is `kernel`);
        # its legacy files still list them in the layer's order.
        if index < len(datasets) and not any(short == name for short, _ in datasets):
            return datasets[index][1]
        return None
    for short, dataset in datasets:
        if short == str(index):
            return dataset
    return None


def _normalization_statistics(
    layer: FlatLayer, wanted: list[tuple[str, WeightSpec]]
) -> list[tuple[str, Any]]:
    """A Normalization built with `mean=`/`variance=` keeps them in its config, not as
    weights: they become our `mean`, `variance` (broadcast to the weight shape) and a
    zero `count`."""
    found: list[tuple[str, Any]] = []
    for index, (_, spec) in enumerate(wanted):
        value = layer.config.get(spec.name, 0 if spec.name == "count" else None)
        if value is None:
            return []
        try:
            array = np.broadcast_to(np.asarray(value, dtype=np.float64), spec.shape)
        except ValueError:
            array = np.asarray(value, dtype=np.float64)
        found.append((str(index), array))
    return found


def _plain(root: Any, path: str) -> Any:
    """`root[path]` if every step is an ordinary (hard) link, else None if it is missing.

    HDF5 soft and external links, virtual datasets and external storage could make a
    weights file read another file on this machine: they are refused."""
    import h5py

    node = root
    for part in path.strip("/").split("/"):
        if not isinstance(node, h5py.Group):
            return None
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise WeightsError(
                f"{root.file.filename}: {path} is a link ({type(link).__name__}); refused"
            )
        node = node[part]
    if isinstance(node, h5py.Dataset) and (node.is_virtual or node.external):
        raise WeightsError(f"{root.file.filename}: {path} keeps its data outside the file; refused")
    return node


def _keras3_vars(store: Any, layer: FlatLayer) -> list[tuple[str, Any]]:
    group = _plain(store, f"{layer.keras3_path}/vars")
    if group is None:
        return []
    found = [(key, _plain(group, key)) for key in group.keys()]
    return [(key, dataset) for key, dataset in found if hasattr(dataset, "shape")]


def _legacy_vars(store: Any, layer: FlatLayer) -> list[tuple[str, Any]]:
    group = _plain(store, f"model_weights/{layer.legacy_group}")
    if group is None:
        return []
    names = group.attrs.get("weight_names")
    if names is None:
        return []
    found = []
    for raw in names:
        full = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        parts = full.split("/")
        # The owner is all before the weight's name: `conv2d`, a nested model's
        # `inner/conv2d_1`, or tf.keras 2 MobileNetV3's `Conv/BatchNorm` (a '/' in the name).
        owner = "/".join(parts[:-1]) if len(parts) >= 2 else layer.legacy_layer
        if owner != layer.legacy_layer and not owner.endswith("/" + layer.legacy_layer):
            continue
        dataset = _plain(group, full)
        if dataset is None or not hasattr(dataset, "shape"):
            continue
        found.append((parts[-1].split(":")[0], dataset))
    return found
