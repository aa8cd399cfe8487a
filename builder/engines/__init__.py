"""Execution engines other than the NumPy reference (`builder run --engine`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

ENGINES = ("numpy", "onnxruntime")
"""`numpy`: builder's own layers (the reference, the default); `onnxruntime`: the ONNX
export run by onnxruntime (extra [onnx])."""

if TYPE_CHECKING:
    from builder.model import Model


def attach(model: Model, name: str, profile: bool = False) -> None:
    """Make `model.predict` run on engine `name`; ValueError for an unknown name. With
    `profile`, the onnxruntime engine records its kernel times (see `profile_text`)."""
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}. Received: engine={name!r}")
    if name == "numpy":
        model.use_engine(name, None)
        return
    from builder.engines.onnxruntime import (
        OnnxRuntimeEngine,
        ProfiledOnnxRuntimeEngine,
        import_onnxruntime,
    )

    import_onnxruntime()  # a missing extra is reported now, not at the first chunk
    model.use_engine(name, ProfiledOnnxRuntimeEngine if profile else OnnxRuntimeEngine)


def profile_text(model: Model, samples: int) -> str:
    """The per-kernel table of an engine attached with `profile=True` that has run (the
    NumPy engine's per-step table is `builder.profile.Profile`)."""
    runtime = model._runtime
    end_profile = getattr(runtime, "end_profile", None)
    if end_profile is None:
        return f"profile ({model.engine}): nothing was run with profiling on"
    return str(end_profile().text(samples))
