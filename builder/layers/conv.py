"""Conv2D: 2-D convolution over (H, W, C) inputs, channels_last."""

from __future__ import annotations

import numpy as np

from builder.layers.activation import WithActivation
from builder.layers.base import Params, Shape, ShapeError, WeightSpec, require_rank
from builder.ops.conv import conv2d, conv2d_scratch
from builder.ops.shapes import spatial_output_shape
from builder.spec.layers import Conv2DSpec


class Conv2D(WithActivation[Conv2DSpec]):
    """y = activation(conv(x, kernel) + bias).

    Shape: (N, H, W, C) → (N, H', W', filters), kernel (kh, kw, C/groups, filters).
    H' = floor((H − d·(kh − 1) − 1)/s) + 1 for `valid`, ceil(H/s) for `same`
    (TensorFlow padding: the odd extra cell goes bottom/right). Params:
    kh·kw·(C/groups)·filters (+ filters with bias). MACs: H'·W'·filters·kh·kw·C/groups.
    """

    def linear_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "Conv2D")
        s = self.spec
        if input_shape[-1] % s.groups:
            raise ShapeError(
                f"the input's {input_shape[-1]} channels must be divisible by groups={s.groups}",
                field="groups",
            )
        height, width = spatial_output_shape(
            input_shape[:2], s.kernel_size, s.strides, s.padding, s.dilation_rate
        )
        return (height, width, s.filters)

    def scratch_elements(self, input_shape: Shape) -> int:
        """Per sample: the zero-padded input copy, when there is padding or groups > 1
        (`builder.ops.conv.conv2d_scratch`)."""
        return self._scratch(input_shape)[0]

    def scratch_fixed_elements(self, input_shape: Shape) -> int:
        """Per call, whatever the chunk size: the im2col patch block (about 4 MiB) and the
        kernel with its bias row."""
        return self._scratch(input_shape)[1]

    def _scratch(self, input_shape: Shape) -> tuple[int, int]:
        s = self.spec
        kernel = (*s.kernel_size, input_shape[-1] // s.groups, s.filters)
        return conv2d_scratch(
            input_shape, kernel, s.strides, s.padding, s.dilation_rate, s.groups, s.use_bias
        )

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        kernel = (*s.kernel_size, input_shape[-1] // s.groups, s.filters)
        found = [WeightSpec("kernel", kernel, s.kernel_initializer)]
        if s.use_bias:
            found.append(WeightSpec("bias", (s.filters,), s.bias_initializer))
        return found

    def macs(self, input_shape: Shape) -> int:
        height, width, filters = self.linear_shape(input_shape)
        kh, kw = self.spec.kernel_size
        return height * width * filters * kh * kw * (input_shape[-1] // self.spec.groups)

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        """conv(x, kernel) + bias, before the inline activation."""
        s = self.spec
        return conv2d(
            x,
            params["kernel"],
            params.get("bias"),
            strides=s.strides,
            padding=s.padding,
            dilation=s.dilation_rate,
            groups=s.groups,
        )
