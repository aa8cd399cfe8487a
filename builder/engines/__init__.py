"""Execution engines other than the NumPy reference (`builder run --engine`)."""
