"""builder: a YAML model spec turned into an executable NumPy network (Keras 3 semantics).

model = builder.load("configs/seed_cnn.yaml")   # a path or YAML text
y = model(x)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from builder.model import Model
    from builder.spec.model import ModelSpec


def parse(source: str | os.PathLike[str]) -> ModelSpec:
    """The validated spec of a config (path or YAML text); raises ConfigError."""
    from builder.config import parse as parse_config

    return parse_config(source)


def load(source: str | os.PathLike[str], engine: str = "numpy") -> Model:
    """The runnable model of a config (path or YAML text); raises ConfigError.

    `engine`: `numpy` (the reference) or `onnxruntime` (extra [onnx]) runs `predict`."""
    from builder.engines import attach
    from builder.model import Model

    model = Model.from_spec(parse(source))
    attach(model, engine)
    return model


__all__ = ["__version__", "load", "parse"]
