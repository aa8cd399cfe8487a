"""Execution engines other than the NumPy reference (`builder run --engine`)."""

ENGINES = ("numpy", "onnxruntime")
"""`numpy`: builder's own layers (the reference, the default); `onnxruntime`: the ONNX
export run by onnxruntime (extra [onnx])."""
