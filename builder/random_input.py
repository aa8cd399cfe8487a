"""`builder run --random N`: standard-normal inputs drawn chunk by chunk, never all at once.

    x[i] ~ N(0, 1)^shape,  rows grouped in blocks b = i // R of R rows;
    block b of input k is drawn from Generator(PCG64(SeedSequence([seed, k, b])))

R depends only on the per-sample shape (about 2^16 values per block, at least one row), so
the same seed gives the same rows whatever the batch size or the rows asked for: a chunk
draws only the blocks it overlaps. Values are drawn in the model's dtype (float32 draws
are NumPy's float32 ziggurat, not float64 values rounded), so no float64 copy exists.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BLOCK_VALUES = 2**16
"""Values per drawn block (256 KiB of float32): the only memory beyond the rows returned."""


class RandomInput:
    """N standard-normal samples of `sample_shape`, sliced like an array (`x[a:b]`).

    Row i is a pure function of (seed, input index, i): see the module docstring.
    """

    def __init__(
        self, count: int, sample_shape: tuple[int, ...], dtype: Any, seed: int, index: int = 0
    ) -> None:
        self.shape = (count, *sample_shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self.seed, self.index = seed, index
        self.row_values = math.prod(sample_shape)
        self.block_rows = max(1, BLOCK_VALUES // max(self.row_values, 1))
        self._last: tuple[int, np.ndarray] | None = None  # a block shared by two chunks

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def scratch_bytes(self) -> int:
        """Bytes of the block kept between slices (and a new one while a slice is filled)."""
        return 2 * self.block_rows * self.row_values * self.dtype.itemsize

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a random input is read by contiguous row slices x[a:b]")
        start, stop, _ = rows.indices(self.shape[0])
        stop = max(start, stop)
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(stop - start, self.row_values)
        for block in range(start // self.block_rows, -(-stop // self.block_rows)):
            first = block * self.block_rows
            drawn = self._block(block)
            lo, hi = max(start, first), min(stop, first + len(drawn))
            flat[lo - start : hi - start] = drawn[lo - first : hi - first]
        return out

    def _block(self, block: int) -> np.ndarray:
        """Rows [block·R, block·R + R) (fewer in the last block), shape (rows, row_values)."""
        if self._last is not None and self._last[0] == block:
            return self._last[1]
        first = block * self.block_rows
        count = min(self.block_rows, self.shape[0] - first)
        rng = np.random.default_rng([self.seed, self.index, block])
        draw_dtype = self.dtype if self.dtype in (np.float32, np.float64) else np.float64
        values = rng.standard_normal((count, self.row_values), dtype=draw_dtype)
        self._last = (block, values.astype(self.dtype, copy=False))
        return self._last[1]


def random_inputs(
    shapes: dict[str, tuple[int, ...]], count: int, dtype: Any, seed: int
) -> dict[str, RandomInput]:
    """One lazy source per input name; input k draws its own stream (SeedSequence [seed, k])."""
    return {
        name: RandomInput(count, shape, dtype, seed, index)
        for index, (name, shape) in enumerate(shapes.items())
    }
