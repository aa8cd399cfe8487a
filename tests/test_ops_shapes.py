"""Shape arithmetic against hand-computed cases and a brute-force count of window positions."""

from __future__ import annotations

import itertools

import pytest

from builder.errors import ShapeError
from builder.ops.shapes import (
    conv_output_length,
    effective_kernel,
    padding_amounts,
    same_padding,
    spatial_output_shape,
)


def brute_valid_length(length: int, kernel: int, stride: int, dilation: int) -> int:
    """How many window starts 0, s, 2s, ... keep every tap inside the input."""
    reach = dilation * (kernel - 1)
    return sum(1 for start in range(0, length, stride) if start + reach < length)


@pytest.mark.parametrize(
    ("length", "kernel", "stride", "dilation"),
    list(itertools.product([1, 2, 5, 7, 28], [1, 2, 3, 5], [1, 2, 3], [1, 2, 3])),
)
def test_valid_length_counts_the_window_positions(length, kernel, stride, dilation) -> None:
    got = conv_output_length(length, kernel, stride, "valid", dilation)
    assert max(got, 0) == brute_valid_length(length, kernel, stride, dilation)


@pytest.mark.parametrize(
    ("length", "kernel", "stride", "dilation", "pads"),
    [
        (28, 3, 1, 1, (1, 1)),  # 3x3 'same': one cell each side
        (28, 2, 2, 1, (0, 0)),  # fits exactly
        (7, 3, 2, 1, (1, 1)),  # out 4: (4-1)*2 + 3 - 7 = 2
        (6, 3, 2, 1, (0, 1)),  # out 3: (3-1)*2 + 3 - 6 = 1, the odd cell goes after
        (224, 7, 2, 1, (2, 3)),  # ResNet's stem: out 112, total 5
        (5, 3, 1, 2, (2, 2)),  # dilated 3 taps reach 5 cells
        (1, 5, 1, 1, (2, 2)),
    ],
)
def test_same_padding_by_hand(length, kernel, stride, dilation, pads) -> None:
    assert same_padding(length, kernel, stride, dilation) == pads
    assert padding_amounts(length, kernel, stride, "same", dilation) == pads
    out = conv_output_length(length, kernel, stride, "same", dilation)
    assert out == -(-length // stride)
    # the padded input holds exactly the windows of the 'same' output
    padded = length + sum(pads)
    assert conv_output_length(padded, kernel, stride, "valid", dilation) == out


def test_valid_has_no_padding_and_effective_kernel() -> None:
    assert padding_amounts(9, 3, 2, "valid") == (0, 0)
    assert effective_kernel(3, 1) == 3 and effective_kernel(3, 4) == 9
    with pytest.raises(ValueError, match="padding"):
        conv_output_length(5, 3, 1, "causal")


def test_spatial_output_shape_per_axis() -> None:
    assert spatial_output_shape((28, 20), (3, 5), (1, 2), "valid") == (26, 8)
    assert spatial_output_shape((28, 20), (3, 5), (2, 2), "same") == (14, 10)
    assert spatial_output_shape((9, 9), (3, 3), (1, 1), "valid", (4, 1)) == (1, 7)


def test_spatial_output_shape_blames_the_field() -> None:
    with pytest.raises(ShapeError) as caught:
        spatial_output_shape((5, 5), (3, 3), (1, 1), "valid", (3, 3))
    assert caught.value.field == "kernel_size"
    assert "reaches 7 cells" in str(caught.value) and "only 5 wide" in str(caught.value)
    with pytest.raises(ShapeError) as caught:
        spatial_output_shape((4, 3), (2, 5), (2, 2), "valid", field="pool_size")
    assert caught.value.field == "pool_size"
    assert "Received: pool_size=(2, 5)" in str(caught.value)
