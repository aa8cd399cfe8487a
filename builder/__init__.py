"""builder: a YAML model spec turned into an executable NumPy network (Keras 3 semantics)."""

__version__ = "0.1.0"
