"""Shape arithmetic shared by shape inference and the kernels (pure functions).

Conventions follow TensorFlow/Keras for one spatial axis of length `length`, a window of
`kernel` cells spread by `dilation`, moved by `stride`:

- effective window: e = dilation·(kernel − 1) + 1
- `valid`: out = floor((length − e) / stride) + 1  (no padding; may be < 1)
- `same`:  out = ceil(length / stride); total pad = max((out − 1)·stride + e − length, 0),
  split as (floor(total/2), total − floor(total/2)): the extra cell goes bottom/right.
"""

from __future__ import annotations

from collections.abc import Sequence

from builder.errors import ShapeError


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


def spatial_output_shape(
    spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int] | None = None,
    *,
    field: str = "kernel_size",
) -> tuple[int, ...]:
    """Output length along each spatial axis of a windowed layer (convolution, pooling).

    Shape: (L1, ..., Lk) -> (L1', ..., Lk'), each by `conv_output_length`. Raises ShapeError
    blaming `field` when a `valid` window does not fit an axis (an empty output).
    """
    lengths = []
    for axis, length in enumerate(spatial):
        spread = 1 if dilation is None else dilation[axis]
        out = conv_output_length(length, window[axis], strides[axis], padding, spread)
        if out < 1:
            reach = effective_kernel(window[axis], spread)
            raise ShapeError(
                f"the {padding!r} output would be empty: the {field} window reaches {reach} "
                f"cells but the input is only {length} wide (spatial input {tuple(spatial)}, "
                f"padding {padding!r}). Received: {field}={tuple(window)}",
                field=field,
            )
        lengths.append(out)
    return tuple(lengths)
