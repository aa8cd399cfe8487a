"""Streaming `.npy` input and output (builder/io.py), checked against np.save / np.load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from builder.errors import DataError
from builder.io import NpyReader, load_array, write_npy_streaming


def test_reader_slices_equal_the_saved_rows(tmp_path: Path) -> None:
    data = np.arange(7 * 3 * 2, dtype=np.float32).reshape(7, 3, 2)
    np.save(tmp_path / "x.npy", data)
    reader = load_array(tmp_path / "x.npy")
    assert isinstance(reader, NpyReader)
    assert reader.shape == (7, 3, 2) and reader.dtype == np.float32 and len(reader) == 7
    for start, stop in [(0, 7), (0, 3), (3, 6), (6, 9), (5, 5)]:
        assert np.array_equal(reader[start:stop], data[start:stop])
    assert np.array_equal(reader.read_all(), data)


def test_fortran_order_falls_back_to_a_map(tmp_path: Path) -> None:
    data = np.asfortranarray(np.arange(12.0).reshape(4, 3))
    np.save(tmp_path / "f.npy", data)
    assert np.array_equal(np.asarray(load_array(tmp_path / "f.npy")), data)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((10, 4), dtype=np.float64))
    (tmp_path / "x.npy").write_bytes((tmp_path / "x.npy").read_bytes()[:-8])
    with pytest.raises(DataError, match="truncated"):
        load_array(tmp_path / "x.npy")


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="objects"):
        load_array(tmp_path / "o.npy")


def test_streamed_output_equals_np_save(tmp_path: Path) -> None:
    data = np.random.default_rng(0).normal(size=(9, 2, 3)).astype(np.float32)
    parts = iter([data[:4], data[4:8], data[8:]])
    write_npy_streaming(tmp_path / "y.npy", data.shape, data.dtype, parts)
    assert np.array_equal(np.load(tmp_path / "y.npy"), data)
    assert [p.name for p in tmp_path.iterdir()] == ["y.npy"]


def test_a_failing_stream_leaves_no_file(tmp_path: Path) -> None:
    def parts():  # type: ignore[no-untyped-def]
        yield np.zeros((2, 3), dtype=np.float32)
        raise DataError("boom")

    with pytest.raises(DataError, match="boom"):
        write_npy_streaming(tmp_path / "y.npy", (4, 3), np.dtype(np.float32), parts())
    assert list(tmp_path.iterdir()) == []
