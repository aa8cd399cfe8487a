"""Argument checks the NumPy kernels share: each raises ValueError naming the argument and
what was received ("x must be float32 or float64. Received: x.dtype=int64."). The layers
never reach them with bad arguments (the spec and the graph refuse those first); they
guard direct calls of `builder.ops`."""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_input(x: np.ndarray, ndim: int = 4, layout: str = "(N, H, W, C)") -> None:
    """x is float32 or float64 with `ndim` axes (`layout` names them in the message)."""
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"x must be float32 or float64. Received: x.dtype={x.dtype}.")
    if x.ndim != ndim:
        raise ValueError(f"x must have shape {layout}. Received: x.shape={x.shape}.")


def check_window(padding: str, **pairs: tuple[int, ...]) -> None:
    """`padding` is valid or same, and each named pair is two positive integers."""
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}.")
    for name, pair in pairs.items():
        if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
            raise ValueError(f"{name} must be two positive integers. Received: {name}={pair}.")


def check_bias(bias: np.ndarray | None, filters: int) -> None:
    """bias is None or of shape (filters,)."""
    if bias is not None and bias.shape != (filters,):
        raise ValueError(f"bias must have shape ({filters},). Received: bias.shape={bias.shape}.")
