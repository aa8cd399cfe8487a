"""Speed of the issue-13 kernels on the shapes of real networks, and of the alternative that
`builder/ops/depthwise.py` rejected (a loop over the kh·kw taps with broadcast
multiply-accumulate, per band of output rows).

    python benchmarks/bench_kernels.py [--repeat N]

Prints the median ms of each kernel call at float32 and float64. Nothing here is collected
by pytest; it needs only NumPy and builder.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from builder.ops.depthwise import depthwise_conv2d  # noqa: E402
from builder.ops.normalization import layer_norm  # noqa: E402
from builder.ops.resize import upsample2d  # noqa: E402
from builder.ops.shapes import conv_output_length, padding_amounts  # noqa: E402
from builder.ops.transpose import conv2d_transpose  # noqa: E402


def depthwise_tap_loop(x, kernel, stride, band_bytes=2**20):
    """The rejected alternative: Σ over taps of a strided slice × w[a, b], per row band."""
    kh, kw, channels, m = kernel.shape
    n, height, width, _ = x.shape
    out_h = conv_output_length(height, kh, stride, "same")
    out_w = conv_output_length(width, kw, stride, "same")
    x = np.pad(
        x,
        (
            (0, 0),
            padding_amounts(height, kh, stride, "same"),
            padding_amounts(width, kw, stride, "same"),
            (0, 0),
        ),
    )
    out = np.empty((n, out_h, out_w, channels, m), dtype=x.dtype)
    rows = max(1, band_bytes // (out_w * channels * m * x.itemsize))
    scratch = np.empty((rows, out_w, channels, m), dtype=x.dtype)
    for i in range(n):
        for top in range(0, out_h, rows):
            band = min(rows, out_h - top)
            target, temp = out[i, top : top + band], scratch[:band]
            for tap, (a, b) in enumerate(np.ndindex(kh, kw)):
                r0 = top * stride + a
                view = x[
                    i,
                    r0 : r0 + (band - 1) * stride + 1 : stride,
                    b : b + (out_w - 1) * stride + 1 : stride,
                    :,
                    None,
                ]
                if tap == 0:
                    np.multiply(view, kernel[a, b], out=target)
                else:
                    np.multiply(view, kernel[a, b], out=temp)
                    target += temp
    return out.reshape(n, out_h, out_w, channels * m)


def median_ms(repeat, function, *args):
    function(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        print(f"--- {np.dtype(dtype).name}")
        for label, shape, k, m, s in [
            ("MobileNet 56x56x128 3x3 s1", (8, 56, 56, 128), 3, 1, 1),
            ("MobileNet 56x56x128 3x3 s2", (8, 56, 56, 128), 3, 1, 2),
            ("MobileNetV2 112x112x32 3x3 s1", (8, 112, 112, 32), 3, 1, 1),
            ("ConvNeXt 56x56x96 7x7 s1", (8, 56, 56, 96), 7, 1, 1),
            ("m=2 28x28x256 3x3 s1", (8, 28, 28, 256), 3, 2, 1),
        ]:
            x = rng.standard_normal(shape).astype(dtype)
            kernel = rng.standard_normal((k, k, shape[3], m)).astype(dtype)
            ours = median_ms(repeat, depthwise_conv2d, x, kernel, None, (s, s), "same")
            loop = median_ms(repeat, depthwise_tap_loop, x, kernel, s)
            print(f"depthwise {label:32s} einsum {ours:7.1f} ms   tap loop {loop:7.1f} ms")
        for label, shape, k, s, f in [
            ("U-Net 32x32x128 -> 64, 2x2 s2", (8, 32, 32, 128), 2, 2, 64),
            ("U-Net 32x32x128 -> 64, 3x3 s2 same", (8, 32, 32, 128), 3, 2, 64),
        ]:
            x = rng.standard_normal(shape).astype(dtype)
            kernel = rng.standard_normal((k, k, f, shape[3])).astype(dtype)
            ms = median_ms(repeat, conv2d_transpose, x, kernel, None, (s, s), "same")
            print(f"conv2d_transpose {label:35s} {ms:7.1f} ms")
        x = rng.standard_normal((8, 32, 32, 64)).astype(dtype)
        for interpolation in ("nearest", "bilinear"):
            ms = median_ms(repeat, upsample2d, x, (2, 2), interpolation)
            print(f"upsample2d 32x32x64 x2 {interpolation:9s} {ms:7.1f} ms")
        x = rng.standard_normal((8, 56, 56, 96)).astype(dtype)
        gamma, beta = np.ones(96, dtype), np.zeros(96, dtype)
        ms = median_ms(repeat, layer_norm, x, (-1,), gamma, beta, 1e-6)
        print(f"layer_norm 56x56x96 over channels   {ms:7.1f} ms")


if __name__ == "__main__":
    main()
