"""Shape arithmetic shared by shape inference and the kernels (pure functions).

Conventions follow TensorFlow/Keras for one spatial axis of length `length`, a window of
`kernel` cells spread by `dilation`, moved by `stride`:

- effective window: e = dilation·(kernel − 1) + 1
- `valid`: out = floor((length − e) / stride) + 1  (no padding; may be < 1)
- `same`:  out = ceil(length / stride); total pad = max((out − 1)·stride + e − length, 0),
  split as (floor(total/2), total − floor(total/2)): the extra cell goes bottom/right.
"""

from __future__ import annotations


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Cells covered by a window of `kernel` taps spaced `dilation` apart."""
    return dilation * (kernel - 1) + 1


def conv_output_length(
    length: int, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int:
    """Output length along one axis; `valid` may return a value < 1 (the caller refuses it)."""
    if padding == "same":
        return -(-length // stride)
    if padding == "valid":
        return (length - effective_kernel(kernel, dilation)) // stride + 1
    raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero cells that TensorFlow's `same` padding adds along one axis."""
    out = conv_output_length(length, kernel, stride, "same", dilation)
    total = max((out - 1) * stride + effective_kernel(kernel, dilation) - length, 0)
    return total // 2, total - total // 2


def padding_amounts(
    length: int, kernel: int, stride: int, padding: str, dilation: int = 1
) -> tuple[int, int]:
    """(before, after) padding for `padding` in {valid, same}."""
    if padding == "same":
        return same_padding(length, kernel, stride, dilation)
    return 0, 0
