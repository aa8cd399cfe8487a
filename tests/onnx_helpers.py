"""Shared by the ONNX tests: a seeded generator of small random configs, random weights, and
the comparison of an exported model with the NumPy engine under onnxruntime and under the
`onnx` package's ReferenceEvaluator."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml

import builder
from builder.errors import BuilderError
from builder.model import Model
from builder.onnx_export import OPSET
from builder.ops.names import ACTIVATION_NAMES

ORT_LACKS_FLOAT64 = frozenset({"Conv", "ConvTranspose", "AveragePool", "Resize", "Erf"})
"""Ops that onnxruntime 1.32's CPU provider implements for float32 but not float64
(checked in test_onnx_export: a float64 session fails with NOT_IMPLEMENTED naming one)."""

TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_close(got: Any, want: Any, what: str) -> None:
    """|got − want| ≤ tol·(|want| + max|want|): relative, with the output's own scale as the
    floor for entries that cancel to near zero (sums of many products). Dicts (several
    outputs) are compared name by name, and must have the same names in the same order."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (what, list(got), list(want))
        for name in want:
            assert_close(got[name], want[name], f"{what}: {name}")
        return
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape)
    tol = TOLERANCE[want.dtype]
    finite = np.abs(want[np.isfinite(want)])
    scale = float(finite.max()) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def check_export(model: Any, x: Any) -> dict[str, Any]:
    """Exports, checks the proto, compares both runtimes with the NumPy engine; returns
    {"onnxruntime": output or lacking op, "proto": ...}."""
    from builder.onnx_export import to_onnx

    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert_every_attribute_written(proto)
    assert_graph_edges(proto, model)
    want = model(x)
    assert_close(run_reference(proto, x), want, "ReferenceEvaluator")
    got = run_onnxruntime(proto, x)
    if isinstance(got, str):
        assert model.dtype == np.float64 and got in ORT_LACKS_FLOAT64, got
        assert got in {node.op_type for node in proto.graph.node}
    else:
        assert_close(got, want, "onnxruntime")
    return {"onnxruntime": got, "proto": proto}


def assert_graph_edges(proto: Any, model: Any) -> None:
    """Graph inputs and outputs are the config's names (outputs named after their layer),
    with the batch axis symbolic and the per-sample shapes channels_last."""

    def edges(values: Any) -> dict[str, tuple[Any, ...]]:
        return {
            value.name: tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)
            for value in values
        }

    assert edges(proto.graph.input) == {
        name: ("N", *shape) for name, shape in model.input_shapes.items()
    }
    assert list(edges(proto.graph.output).items()) == [
        (name, ("N", *shape)) for name, shape in model.output_shapes.items()
    ]


def assert_every_attribute_written(proto: Any) -> None:
    """Each node sets every attribute its op's schema has (ONNX defaults differ from Keras's)."""
    for node in proto.graph.node:
        schema = onnx.defs.get_schema(node.op_type, OPSET)
        written = {attribute.name for attribute in node.attribute}
        # ConvTranspose's output_shape, when set, overrides the explicit pads (ONNX spec)
        left_out = {"output_shape"} if node.op_type == "ConvTranspose" else set()
        assert written == set(schema.attributes) - left_out, (node.name, node.op_type)


def random_weights(model: Model, seed: int, folder: Path) -> None:
    """Loads random weights (not the zeros/ones initial BN statistics and PReLU slopes):
    normal values, and variances in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for key, spec in model.weight_specs():
        if key.endswith("variance"):  # BatchNormalization's moving_variance, Normalization's
            arrays[key] = rng.uniform(0.5, 2.0, spec.shape)
        else:
            arrays[key] = rng.standard_normal(spec.shape) * 0.5
    path = folder / f"weights_{seed}.npz"
    np.savez(path, **{k: v.astype(model.dtype) for k, v in arrays.items()})
    model.load_weights(path)


def random_input(model: Model, seed: int, count: int = 3) -> Any:
    """Normal samples: an array, or a dict by input name when the model has several."""
    rng = np.random.default_rng(seed)
    xs = {
        name: (rng.standard_normal((count, *shape)) * 1.5).astype(model.dtype)
        for name, shape in model.input_shapes.items()
    }
    return xs if len(xs) > 1 else next(iter(xs.values()))


def _feeds(proto: Any, x: Any) -> dict[str, np.ndarray]:
    return x if isinstance(x, dict) else {proto.graph.input[0].name: x}


def _outputs(proto: Any, found: list[np.ndarray]) -> Any:
    """One array, or a dict by graph output name (as `Model.forward` returns)."""
    if len(found) == 1:
        return found[0]
    return {value.name: array for value, array in zip(proto.graph.output, found, strict=True)}


def run_onnxruntime(proto: Any, x: Any) -> Any:
    """The session's output (array or dict), or the op that onnxruntime lacks for this dtype."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # NOT_IMPLEMENTED for a (op, dtype) pair
        found = re.search(r"Could not find an implementation for (\w+)\(", str(error))
        assert found, str(error)
        return found.group(1)
    return _outputs(proto, session.run(None, _feeds(proto, x)))


def run_reference(proto: Any, x: Any) -> Any:
    """The ReferenceEvaluator's output, with two of its ops patched (onnx 1.23):

    - Erf rounds to float32 (`otypes="f"`); here `math.erf` in the input's dtype.
    - MaxPool with all strides and dilations 1 takes a shortcut that reads `pads` as
      (begin, end) per axis instead of ONNX's (x1_begin, x2_begin, x1_end, x2_end): kernel
      (3, 2), pads (1, 0, 1, 1) on 5x3 gives 4x4 instead of 5x3. Here every MaxPool takes
      the evaluator's general path, which reads them right.
    """
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_max_pool import MaxPool as ReferenceMaxPool

    class MaxPool(ReferenceMaxPool):  # type: ignore[misc]
        op_domain = ""

        def _run(self, v: np.ndarray, **attributes: Any) -> Any:
            return self._max_pool(v, **attributes)

    class Erf(OpRun):
        op_domain = ""

        def _run(self, v: np.ndarray) -> tuple[np.ndarray]:
            return (np.vectorize(math.erf, otypes=[v.dtype])(v),)

    evaluator = ReferenceEvaluator(proto, new_ops=[Erf, MaxPool])
    # Its Elu, Sigmoid, ... evaluate both branches everywhere (exp overflows, inf/inf) and
    # keep the other; the comparison with the NumPy engine judges the result.
    with np.errstate(all="ignore"):
        return _outputs(proto, evaluator.run(None, _feeds(proto, x)))


# --------------------------------------------------------------------------- random configs

ADVANCED = ("ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax")


def _activation_block(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(ADVANCED)
    if kind == "ReLU":
        return {
            "type": "ReLU",
            "max_value": rng.choice([None, 6.0, 0.7]),
            "negative_slope": rng.choice([0.0, 0.1, 0.35]),
            "threshold": rng.choice([0.0, 0.25]),
        }
    if kind == "LeakyReLU":
        return {"type": "LeakyReLU", "alpha": rng.choice([0.05, 0.3, 0.5])}
    if kind == "PReLU":
        return {"type": "PReLU", "shared_axes": rng.choice([None, [1, 2], [1, 2, 3], [3]])}
    if kind == "ELU":
        return {"type": "ELU", "alpha": rng.choice([1.0, 0.7])}
    if kind == "ThresholdedReLU":
        return {"type": "ThresholdedReLU", "theta": rng.choice([0.0, 0.3, 1.0])}
    return {"type": "Softmax", "axis": rng.choice([-1, 1, 2, 3])}


def _activation_value(rng: random.Random) -> Any:
    if rng.random() < 0.7:
        return rng.choice(ACTIVATION_NAMES)
    block = _activation_block(rng)
    if block["type"] == "Softmax":
        return rng.choice(ACTIVATION_NAMES)  # an inline Softmax axis may not fit every rank
    return block


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _spatial_candidates(
    rng: random.Random, channels: int, name: str, previous: str
) -> list[dict[str, Any]]:
    """One or more layers to append (a merge brings its partner branch)."""
    kind = rng.choice(
        ["conv", "conv", "conv", "pool", "activation", "batchnorm", "zeropad", "dropout",
         "merge", "merge", "global_keep", "catalogue", "catalogue", "catalogue"]
    )  # fmt: skip
    if kind == "catalogue":
        return [{**_catalogue_2d(rng, channels), "name": name}]
    if kind == "conv":
        groups = rng.choice(_divisors(channels))
        return [{
            "type": "Conv2D",
            "name": name,
            "filters": groups * rng.randint(1, 3),
            "kernel_size": [rng.randint(1, 3), rng.randint(1, 3)],
            "strides": [rng.randint(1, 2), rng.randint(1, 2)],
            "padding": rng.choice(["valid", "same"]),
            "dilation_rate": rng.choice([1, 1, 2]),
            "groups": groups,
            "use_bias": rng.random() < 0.8,
            "activation": _activation_value(rng),
        }]  # fmt: skip
    if kind == "pool":
        size = [rng.randint(1, 3), rng.randint(1, 3)]
        return [{
            "type": rng.choice(["MaxPooling2D", "AveragePooling2D"]),
            "name": name,
            "pool_size": size,
            "strides": rng.choice([None, [rng.randint(1, 3), rng.randint(1, 3)]]),
            "padding": rng.choice(["valid", "same"]),
        }]  # fmt: skip
    if kind == "activation":
        if rng.random() < 0.4:
            return [
                {"type": "Activation", "name": name, "activation": rng.choice(ACTIVATION_NAMES)}
            ]
        return [{**_activation_block(rng), "name": name}]
    if kind == "batchnorm":
        return [{
            "type": "BatchNormalization",
            "name": name,
            "axis": rng.choice([-1, -1, 1, 2, 3]),
            "epsilon": rng.choice([0.001, 0.01, 1e-5]),
            "center": rng.random() < 0.7,
            "scale": rng.random() < 0.7,
        }]  # fmt: skip
    if kind == "zeropad":
        return [{"type": "ZeroPadding2D", "name": name,
                 "padding": [[rng.randint(0, 2), rng.randint(0, 2)], [rng.randint(0, 2), rng.randint(0, 2)]]}]  # fmt: skip
    if kind == "dropout":
        return [{"type": "Dropout", "name": name, "rate": 0.5}]
    if kind == "global_keep":
        return [{"type": rng.choice(["GlobalMaxPooling2D", "GlobalAveragePooling2D"]), "name": name, "keepdims": True}]  # fmt: skip
    merge = rng.choice(
        ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
    )
    partner = f"{name}_branch"
    if merge == "Concatenate":
        axis = rng.choice([-1, -1, 1, 2, 3])
        # joined on the channels, the branch may have other filters; else it keeps the shape
        filters = rng.randint(1, 4) if axis in (-1, 3) else channels
        branch = {"type": "Conv2D", "name": partner, "inputs": [previous], "filters": filters,
                  "kernel_size": 3, "padding": "same", "activation": "tanh"}  # fmt: skip
        return [
            branch,
            {"type": "Concatenate", "name": name, "axis": axis, "inputs": [previous, partner]},
        ]
    if rng.random() < 0.5:  # Keras broadcasting: (C) or (1, 1, C) against (H, W, C)
        branch = {"type": rng.choice(["GlobalMaxPooling2D", "GlobalAveragePooling2D"]), "name": partner,
                  "inputs": [previous], "keepdims": rng.random() < 0.5}  # fmt: skip
    else:
        branch = {"type": "Conv2D", "name": partner, "inputs": [previous], "filters": channels,
                  "kernel_size": 3, "padding": "same", "activation": "sigmoid"}  # fmt: skip
    inputs = [previous, partner]
    if merge != "Subtract" and rng.random() < 0.3:
        inputs.append(previous)
    if rng.random() < 0.5:
        inputs.reverse()
    return [branch, {"type": merge, "name": name, "inputs": inputs}]


def _conv_like(rng: random.Random) -> dict[str, Any]:
    return {
        "kernel_size": [rng.randint(1, 3), rng.randint(1, 3)],
        "strides": [rng.randint(1, 2), rng.randint(1, 2)],
        "padding": rng.choice(["valid", "same"]),
        "use_bias": rng.random() < 0.8,
        "activation": _activation_value(rng),
    }


def _catalogue_2d(rng: random.Random, channels: int) -> dict[str, Any]:
    """One of issue 13's layers on an (H, W, C) input, keeping rank 3."""
    kind = rng.choice(
        ["DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "UpSampling2D", "Cropping2D",
         "Rescaling", "Normalization", "LayerNormalization", "LayerScale", "SpatialDropout2D",
         "GaussianNoise", "GaussianDropout", "Identity", "Permute"]
    )  # fmt: skip
    if kind == "DepthwiseConv2D":
        return {"type": kind, **_conv_like(rng), "depth_multiplier": rng.randint(1, 2),
                "dilation_rate": rng.choice([1, 1, 2])}  # fmt: skip
    if kind == "SeparableConv2D":
        return {"type": kind, **_conv_like(rng), "filters": rng.randint(1, 4),
                "depth_multiplier": rng.randint(1, 2), "dilation_rate": rng.choice([1, 1, 2])}  # fmt: skip
    if kind == "Conv2DTranspose":
        found = {"type": kind, **_conv_like(rng), "filters": rng.randint(1, 4)}
        strides = found["strides"]
        if rng.random() < 0.4:
            found["output_padding"] = [rng.randrange(st) for st in strides]
        elif strides == [1, 1] and rng.random() < 0.5:
            found["dilation_rate"] = 2
        return found
    if kind == "UpSampling2D":
        return {"type": kind, "size": [rng.randint(1, 3), rng.randint(1, 3)],
                "interpolation": rng.choice(["nearest", "bilinear"])}  # fmt: skip
    if kind == "Cropping2D":
        return {"type": kind, "cropping": [[rng.randint(0, 1), rng.randint(0, 2)],
                                           [rng.randint(0, 2), rng.randint(0, 1)]]}  # fmt: skip
    if kind == "Rescaling":
        scale = rng.choice([1 / 255, 0.5, [rng.uniform(-2, 2) for _ in range(channels)]])
        return {"type": kind, "scale": scale, "offset": rng.choice([0.0, -1.0, [0.25] * channels])}
    if kind == "Normalization":
        return {"type": kind, "axis": rng.choice([[-1], None, [1, 3], [2]]),
                "invert": rng.random() < 0.3}  # fmt: skip
    if kind == "LayerNormalization":
        return {"type": kind, "axis": rng.choice([[-1], [1, 2, 3], [-1, 1], [2]]),
                "epsilon": rng.choice([0.001, 1e-6]), "center": rng.random() < 0.7,
                "scale": rng.random() < 0.7, "rms_scaling": rng.random() < 0.2}  # fmt: skip
    if kind == "LayerScale":
        return {"type": kind, "init_values": 0.1, "projection_dim": channels}
    if kind == "Permute":
        return {"type": kind, "dims": rng.choice([[2, 1, 3], [1, 3, 2], [3, 1, 2]])}
    if kind in ("SpatialDropout2D", "GaussianDropout"):
        return {"type": kind, "rate": 0.3}
    if kind == "GaussianNoise":
        return {"type": kind, "stddev": 0.5}
    return {"type": kind}


def _sequence_head(rng: random.Random, name: str, channels: int) -> list[dict[str, Any]]:
    """(H, W, C) → Reshape (H·W, C), then 1-D layers; or a vector repeated into a sequence."""
    layers: list[dict[str, Any]] = [
        {"type": "Reshape", "name": name, "target_shape": [-1, channels]}
    ]
    if rng.random() < 0.3:
        layers = [
            {"type": "GlobalAveragePooling2D", "name": name},
            {"type": "RepeatVector", "name": f"{name}_repeat", "n": rng.randint(1, 4)},
        ]
    for k in range(rng.randint(1, 4)):
        kind = rng.choice(
            ["Conv1D", "Conv1D", "MaxPooling1D", "AveragePooling1D", "UpSampling1D",
             "ZeroPadding1D", "Cropping1D", "LayerNormalization"]
        )  # fmt: skip
        layer: dict[str, Any] = {"type": kind, "name": f"{name}_seq{k}"}
        if kind == "Conv1D":
            padding = rng.choice(["valid", "same", "causal"])
            layer.update(filters=rng.randint(1, 4), kernel_size=rng.randint(1, 3),
                         strides=rng.randint(1, 2), padding=padding,
                         dilation_rate=rng.choice([1, 2]) if padding != "same" else 1,
                         use_bias=rng.random() < 0.8, activation=_activation_value(rng))  # fmt: skip
            if layer["dilation_rate"] > 1:
                layer["strides"] = 1
        elif kind in ("MaxPooling1D", "AveragePooling1D"):
            layer.update(pool_size=rng.randint(1, 3), strides=rng.choice([None, 1, 2]),
                         padding=rng.choice(["valid", "same"]))  # fmt: skip
        elif kind == "UpSampling1D":
            layer["size"] = rng.randint(1, 3)
        elif kind == "ZeroPadding1D":
            layer["padding"] = [rng.randint(0, 2), rng.randint(0, 2)]
        elif kind == "Cropping1D":
            layer["cropping"] = [rng.randint(0, 1), rng.randint(0, 1)]
        else:
            layer.update(axis=rng.choice([[-1], [1], [1, 2]]), rms_scaling=rng.random() < 0.2)
        layers.append(layer)
    pool = rng.choice([None, "GlobalMaxPooling1D", "GlobalAveragePooling1D"])
    if pool is not None:
        layers.append({"type": pool, "name": f"{name}_pool", "keepdims": rng.random() < 0.3})
    return layers


def _head(rng: random.Random, name: str, channels: int) -> list[dict[str, Any]]:
    dense = {"type": "Dense", "name": f"{name}_dense", "units": rng.randint(1, 5),
             "use_bias": rng.random() < 0.8, "activation": _activation_value(rng)}  # fmt: skip
    kind = rng.choice(["flatten", "global", "reshape", "dense4d", "none", "sequence", "sequence"])
    if kind == "sequence":
        return _sequence_head(rng, name, channels)
    if kind == "flatten":
        return [{"type": "Flatten", "name": name}, dense]
    if kind == "global":
        return [
            {"type": rng.choice(["GlobalMaxPooling2D", "GlobalAveragePooling2D"]), "name": name},
            dense,
        ]
    if kind == "reshape":
        return [{"type": "Reshape", "name": name, "target_shape": [-1, channels]}, dense]
    if kind == "dense4d":
        return [dense]
    return []


def random_config(seed: int, dtype: str = "float32") -> tuple[dict[str, Any], Model]:
    """A config of 3-7 spatial layers (with merges and their branches) and a head, each
    candidate kept only if builder compiles it, so every config is valid."""
    rng = random.Random(seed)
    config: dict[str, Any] = {
        "name": f"random_{seed}",
        "input_shape": [rng.randint(5, 9), rng.randint(5, 9), rng.randint(1, 4)],
        "dtype": dtype,
        "seed": seed,
        "layers": [],
    }
    model: Model | None = None
    previous, channels = "input", config["input_shape"][2]
    steps, accepted = rng.randint(3, 7), 0
    for step in range(steps * 4):
        if accepted == steps:
            break
        layers = _spatial_candidates(rng, channels, f"l{step}", previous)
        trial = _compile({**config, "layers": config["layers"] + layers})
        if trial is not None and len(trial.output_shape) == 3:
            config["layers"] += layers
            accepted += 1
            model, previous, channels = trial, layers[-1]["name"], trial.output_shape[-1]
    for _ in range(10):
        head = _head(rng, "head", channels)
        trial = _compile({**config, "layers": config["layers"] + head})
        if trial is not None and (head or model is not None):
            config["layers"] += head
            model = trial
            break
    assert model is not None
    if rng.random() < 0.3:
        config, model = _several_inputs_and_outputs(rng, config, model)
    return config, model


def _several_inputs_and_outputs(
    rng: random.Random, config: dict[str, Any], model: Model
) -> tuple[dict[str, Any], Model]:
    """The same network with a second input `extra` of shape (C,), multiplied into the last
    spatial layer (Keras broadcasting), and an earlier layer as a second output (which may
    also feed later layers); `config, model` unchanged if builder refuses the result."""
    layers = [dict(layer) for layer in config["layers"]]
    spatial = [k for k, layer in enumerate(layers) if not layer["name"].startswith("head")]
    if not spatial:
        return config, model
    last = spatial[-1]
    channels = model.graph.node(layers[last]["name"]).output_shape[-1]
    layers[0]["inputs"] = ["input"]
    gate = {"type": "Multiply", "name": "gate", "inputs": [layers[last]["name"], "extra"]}
    layers.insert(last + 1, gate)
    early = layers[rng.choice(spatial)]["name"]
    varied = {
        **{key: value for key, value in config.items() if key != "input_shape"},
        "inputs": {"input": config["input_shape"], "extra": [channels]},
        "outputs": [early, layers[-1]["name"]],
        "layers": layers,
    }
    trial = _compile(varied)
    return (varied, trial) if trial is not None else (config, model)


def _compile(config: dict[str, Any]) -> Model | None:
    if not config["layers"]:
        return None
    try:
        return builder.load(yaml.safe_dump(config))
    except BuilderError:
        return None
