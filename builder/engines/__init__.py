"""Execution engines other than the NumPy reference (`builder run --engine`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

ENGINES = ("numpy", "onnxruntime")
"""`numpy`: builder's own layers (the reference, the default); `onnxruntime`: the ONNX
export run by onnxruntime (extra [onnx])."""

if TYPE_CHECKING:
    from builder.model import Model


def attach(model: Model, name: str) -> None:
    """Make `model.predict` run on engine `name`; ValueError for an unknown name."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}. Received: engine={name!r}")
    if name == "numpy":
        model.use_engine(name, None)
        return
    from builder.engines.onnxruntime import OnnxRuntimeEngine, import_onnxruntime

    import_onnxruntime()  # a missing extra is reported now, not at the first chunk
    model.use_engine(name, OnnxRuntimeEngine)
