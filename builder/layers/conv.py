"""Convolutions, channels_last: Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose
over (H, W, C) inputs, and Conv1D over (steps, C).

MACs (multiply-accumulates per sample) count one per kernel tap that meets an input cell
in the computation as done, padding cells included (as for Conv2D): output cells × taps
× input channels per output; a bias add is not counted."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from builder.layers.activation import WithActivation
from builder.layers.base import Params, Shape, ShapeError, WeightSpec, require_rank
from builder.ops.conv import conv2d, conv2d_scratch
from builder.ops.depthwise import depthwise_conv2d, separable_conv2d
from builder.ops.sequence import conv1d
from builder.ops.shapes import effective_kernel, padding_amounts, spatial_output_shape
from builder.ops.transpose import conv2d_transpose, deconv_crop, deconv_output_length
from builder.spec.layers import (
    Conv1DSpec,
    Conv2DSpec,
    Conv2DTransposeSpec,
    DepthwiseConv2DSpec,
    SeparableConv2DSpec,
)


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

    folds_affine: ClassVar[bool] = True
    """Output channel f depends only on kernel[..., f] and bias[f]: an affine map per
    channel after it (BatchNormalization) folds into the kernel and bias (builder.fusion)."""

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


_Windowed = DepthwiseConv2DSpec | SeparableConv2DSpec


def _padded_elements(input_shape: Shape, kernel: tuple[int, int], spec: _Windowed) -> int:
    """Elements of the zero-padded input copy a `same` depthwise convolution makes (0 when
    nothing is padded: the kernel then reads the input in place)."""
    height, width, channels = input_shape
    pads = [
        padding_amounts(length, k, s, spec.padding, d)
        for length, k, s, d in zip(
            (height, width), kernel, spec.strides, spec.dilation_rate, strict=True
        )
    ]
    if pads == [(0, 0), (0, 0)]:
        return 0
    return (height + sum(pads[0])) * (width + sum(pads[1])) * channels


class DepthwiseConv2D(WithActivation[DepthwiseConv2DSpec]):
    """y[n, i, j, c·m + q] = activation(b[c·m + q] + Σ_{a,b} xp[n, i·sh + a·dh, j·sw + b·dw, c]
    ·kernel[a, b, c, q]): every input channel c with its own m = depth_multiplier filters.

    Shape: (N, H, W, C) → (N, H', W', C·m), H' and W' as Conv2D. Weights: `kernel`
    (kh, kw, C, m) (Keras 3's name; Keras 2 called it `depthwise_kernel`), `bias` (C·m,).
    Params: kh·kw·C·m (+ C·m). MACs: H'·W'·C·m·kh·kw.
    """

    def linear_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "DepthwiseConv2D")
        s = self.spec
        height, width = spatial_output_shape(
            input_shape[:2], s.kernel_size, s.strides, s.padding, s.dilation_rate
        )
        return (height, width, input_shape[-1] * s.depth_multiplier)

    def scratch_elements(self, input_shape: Shape) -> int:
        """The padded input copy (`same`); the einsum writes straight into the output."""
        self.linear_shape(input_shape)
        return _padded_elements(input_shape, self.spec.kernel_size, self.spec)

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        kernel = (*s.kernel_size, input_shape[-1], s.depth_multiplier)
        found = [WeightSpec("kernel", kernel, s.depthwise_initializer)]
        if s.use_bias:
            found.append(
                WeightSpec("bias", (input_shape[-1] * s.depth_multiplier,), s.bias_initializer)
            )
        return found

    def macs(self, input_shape: Shape) -> int:
        height, width, channels = self.linear_shape(input_shape)
        kh, kw = self.spec.kernel_size
        return height * width * channels * kh * kw

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        s = self.spec
        return depthwise_conv2d(
            x, params["kernel"], params.get("bias"), s.strides, s.padding, s.dilation_rate
        )


class SeparableConv2D(WithActivation[SeparableConv2DSpec]):
    """z = activation(conv1x1(depthwise(x, depthwise_kernel), pointwise_kernel) + bias): a
    depthwise convolution (strides, padding, dilation; no bias) then a 1×1 convolution.

    Shape: (N, H, W, C) → (N, H', W', filters), H' and W' as Conv2D. Weights:
    `depthwise_kernel` (kh, kw, C, m), `pointwise_kernel` (1, 1, C·m, filters), `bias`
    (filters,). Params: kh·kw·C·m + C·m·filters (+ filters).
    MACs: H'·W'·C·m·kh·kw (depthwise) + H'·W'·C·m·filters (pointwise).
    """

    def linear_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "SeparableConv2D")
        s = self.spec
        height, width = spatial_output_shape(
            input_shape[:2], s.kernel_size, s.strides, s.padding, s.dilation_rate
        )
        return (height, width, s.filters)

    def scratch_elements(self, input_shape: Shape) -> int:
        """The depthwise stage's output (H'·W'·C·m) and the padded input copy (`same`)."""
        height, width, _ = self.linear_shape(input_shape)
        inner = height * width * input_shape[-1] * self.spec.depth_multiplier
        return inner + _padded_elements(input_shape, self.spec.kernel_size, self.spec)

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        inner = input_shape[-1] * s.depth_multiplier
        found = [
            WeightSpec(
                "depthwise_kernel",
                (*s.kernel_size, input_shape[-1], s.depth_multiplier),
                s.depthwise_initializer,
            ),
            WeightSpec("pointwise_kernel", (1, 1, inner, s.filters), s.pointwise_initializer),
        ]
        if s.use_bias:
            found.append(WeightSpec("bias", (s.filters,), s.bias_initializer))
        return found

    def macs(self, input_shape: Shape) -> int:
        height, width, filters = self.linear_shape(input_shape)
        kh, kw = self.spec.kernel_size
        inner = input_shape[-1] * self.spec.depth_multiplier
        return height * width * inner * (kh * kw + filters)

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        s = self.spec
        return separable_conv2d(
            x,
            params["depthwise_kernel"],
            params["pointwise_kernel"],
            params.get("bias"),
            s.strides,
            s.padding,
            s.dilation_rate,
        )


class Conv2DTranspose(WithActivation[Conv2DTransposeSpec]):
    """y = activation(conv_transpose(x, kernel) + bias), the gradient of a Conv2D from
    `filters` to C channels with respect to its input:
    y[n, p, q, f] = b[f] + Σ_{i·sh + a·dh = p + top, j·sw + b·dw = q + left, c}
    x[n, i, j, c]·kernel[a, b, f, c].

    Shape: (N, H, W, C) → (N, H', W', filters); with e = d·(k − 1) + 1, `valid`:
    H' = (H − 1)·s + max(e, s) (no output_padding) or (H − 1)·s + e + p; `same`: H·s (no
    output_padding) or (H − 1)·s + e mod 2 + p (Keras 3's `deconv_output_length`); likewise
    W'. Weights: `kernel` (kh, kw, filters, C), `bias` (filters,). Params:
    kh·kw·filters·C (+ filters). MACs: H·W·C·kh·kw·filters (every input cell meets every
    tap and filter once; the cells later cropped by `same` are counted too).
    """

    def _geometry(self, input_shape: Shape) -> tuple[list[int], list[int]]:
        """(output lengths, full lengths) per spatial axis."""
        s = self.spec
        pads = (None, None) if s.output_padding is None else s.output_padding
        outs, fulls = [], []
        for axis, length in enumerate(input_shape[:2]):
            k, st, d, p = s.kernel_size[axis], s.strides[axis], s.dilation_rate[axis], pads[axis]
            out = deconv_output_length(length, k, st, s.padding, p, d)
            crop = deconv_crop(k, st, s.padding, p, d)
            outs.append(out)
            fulls.append(max((length - 1) * st + effective_kernel(k, d), crop + out))
        return outs, fulls

    def linear_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 3, "Conv2DTranspose")
        (height, width), _ = self._geometry(input_shape)
        if height < 1 or width < 1:
            raise ShapeError(
                f"the transposed convolution output would be empty ({height}×{width}) for the "
                f"input {input_shape[:2]}. Received: output_padding={self.spec.output_padding}",
                field="output_padding",
            )
        return (height, width, self.spec.filters)

    def scratch_elements(self, input_shape: Shape) -> int:
        """The GEMM's tap contributions (H·W·kh·kw·filters) and the uncropped output."""
        _, (full_h, full_w) = self._geometry(input_shape)
        kh, kw = self.spec.kernel_size
        taps = input_shape[0] * input_shape[1] * kh * kw * self.spec.filters
        return taps + full_h * full_w * self.spec.filters

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        kernel = (*s.kernel_size, s.filters, input_shape[-1])
        found = [WeightSpec("kernel", kernel, s.kernel_initializer)]
        if s.use_bias:
            found.append(WeightSpec("bias", (s.filters,), s.bias_initializer))
        return found

    def macs(self, input_shape: Shape) -> int:
        self.linear_shape(input_shape)
        kh, kw = self.spec.kernel_size
        return math.prod(input_shape) * kh * kw * self.spec.filters

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        s = self.spec
        return conv2d_transpose(
            x,
            params["kernel"],
            params.get("bias"),
            s.strides,
            s.padding,
            s.output_padding,
            s.dilation_rate,
        )


class Conv1D(WithActivation[Conv1DSpec]):
    """y[n, t, f] = activation(b[f] + Σ_{a,k} xp[n, t·s + a·d, g·Cg + k]·kernel[a, k, f]),
    Cg = C/groups; xp is x padded by TensorFlow's `same` rule, or by d·(k − 1) zero steps
    in front for `causal` (step t then sees only steps ≤ t·s).

    Shape: (N, T, C) → (N, T', filters), T' = floor((T − d·(k − 1) − 1)/s) + 1 (`valid`),
    ceil(T/s) (`same`, `causal`). Weights: `kernel` (k, C/groups, filters), `bias`
    (filters,). Params: k·(C/groups)·filters (+ filters). MACs: T'·filters·k·C/groups.
    """

    def linear_shape(self, input_shape: Shape) -> Shape:
        require_rank(input_shape, 2, "Conv1D")
        s = self.spec
        if input_shape[-1] % s.groups:
            raise ShapeError(
                f"the input's {input_shape[-1]} channels must be divisible by groups={s.groups}",
                field="groups",
            )
        if s.padding == "causal":
            steps = -(-input_shape[0] // s.strides)
        else:
            (steps,) = spatial_output_shape(
                input_shape[:1], (s.kernel_size,), (s.strides,), s.padding, (s.dilation_rate,)
            )
        return (steps, s.filters)

    def scratch_elements(self, input_shape: Shape) -> int:
        """As Conv2D's (the im2col patch matrix and a padded input copy), plus the copy with
        d·(k − 1) zero steps in front that `causal` makes first."""
        steps, _ = self.linear_shape(input_shape)
        s = self.spec
        patch = s.kernel_size * input_shape[-1] // s.groups
        front = effective_kernel(s.kernel_size, s.dilation_rate) - 1
        padded = (input_shape[0] + front) * input_shape[-1] if s.padding == "causal" else 0
        return steps * patch + math.prod(input_shape) + padded

    def linear_weights(self, input_shape: Shape) -> list[WeightSpec]:
        s = self.spec
        kernel = (s.kernel_size, input_shape[-1] // s.groups, s.filters)
        found = [WeightSpec("kernel", kernel, s.kernel_initializer)]
        if s.use_bias:
            found.append(WeightSpec("bias", (s.filters,), s.bias_initializer))
        return found

    def macs(self, input_shape: Shape) -> int:
        steps, filters = self.linear_shape(input_shape)
        return steps * filters * self.spec.kernel_size * (input_shape[-1] // self.spec.groups)

    def linear(self, x: np.ndarray, params: Params) -> np.ndarray:
        s = self.spec
        return conv1d(
            x,
            params["kernel"],
            params.get("bias"),
            s.strides,
            s.padding,
            s.dilation_rate,
            s.groups,
        )
