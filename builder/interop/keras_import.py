"""`builder import`: a Keras model file → a config (YAML) and its weights (`.npz`).

Everything is read and checked first (classes, arguments, the config's validity, every
weight's shape); only then are the two files written, each atomically, so a refused
model leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.errors import DataError
from builder.interop.keras_config import config_text, flatten_model, translate_layers
from builder.interop.keras_files import read_keras_file
from builder.interop.keras_weights import read_weights


@dataclass
class ImportResult:
    """What was written: the config text, the weights (None for a JSON model)."""

    config_path: str
    weights_path: str | None
    text: str
    weights: dict[str, np.ndarray] | None


def import_keras(
    model_path: str, output: str, weights_path: str | None, max_bytes: int
) -> ImportResult:
    """Read `model_path`, write `output` (YAML) and, if the file holds weights, the weights
    (default: `output` with `.npz`). Raises ConfigError/WeightsError/DataError."""
    from builder.config import parse_text
    from builder.io import save_npz_atomic, write_text_atomic
    from builder.model import Model

    weights_out = weights_path or str(Path(output).with_suffix(".npz"))
    _check_outputs(model_path, output, weights_out)
    source = read_keras_file(model_path, max_bytes)
    try:
        imported = flatten_model(source.config, source.config_name, source.config_text)
        layers = translate_layers(imported, source.config_name, source.config_text)
        version = f" (Keras {source.keras_version})" if source.keras_version else ""
        text = config_text(
            imported.name,
            imported.input_shape,
            imported.dtype,
            layers,
            f"{Path(model_path).name}{version}",
        )
        model = Model.from_spec(parse_text(text, filename=output, default_name=Path(output).stem))
        weights = None
        if source.layout != "none":
            weights = read_weights(
                source.weights,
                source.layout,
                imported.layers,
                model.weight_specs(),
                np.dtype(imported.dtype),
                source.path,
                max_bytes,
            )
    finally:
        source.close()
    if weights is not None:
        save_npz_atomic(weights_out, weights)
    write_text_atomic(output, text)
    return ImportResult(output, weights_out if weights is not None else None, text, weights)


def _check_outputs(model_path: str, *outputs: str) -> None:
    for output in outputs:
        if os.path.exists(output) and not os.path.isfile(output):
            raise DataError(f"{output}: exists and is not a regular file; refused as an output")
        if os.path.exists(output) and os.path.samefile(output, model_path):
            raise DataError(f"{output}: is the model being imported; choose another output")
    if os.path.abspath(outputs[0]) == os.path.abspath(outputs[1]):
        raise DataError(f"{outputs[0]}: the config and the weights cannot be the same file")
