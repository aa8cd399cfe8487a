"""Image files as model input for `builder run --input photo.png` or `--input images/`.

Each image is read as Keras's `keras.utils.load_img(path, color_mode=..., target_size=(H, W))`
reads it: converted to the model's channels (`L` for C = 1, `RGB` for C = 3), then resized
to (H, W) when its size differs, with Keras's default interpolation `nearest` (`bilinear`
on request), and kept as values 0-255 in the model's dtype (no scaling: a model that wants
[0, 1] starts with `Rescaling`-like arithmetic of its own). Needs Pillow (extra `images`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from builder.arrayfiles import open_regular
from builder.errors import DataError, missing_extra

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MODES = {1: "L", 3: "RGB"}
"""Channels of the model input → the Pillow mode an image is converted to."""

INTERPOLATIONS = ("nearest", "bilinear")


def is_image_input(path: str | os.PathLike[str]) -> bool:
    """True for a folder or a file whose name ends in .png, .jpg or .jpeg (any case)."""
    return os.path.isdir(path) or str(path).lower().endswith(IMAGE_SUFFIXES)


def image_files(path: str | os.PathLike[str]) -> list[Path]:
    """The file itself, or every image file of a folder (not its subfolders) in name order."""
    root = Path(path)
    if not root.is_dir():
        return [root]
    found = sorted(
        p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not found:
        raise DataError(
            f"{root}: not a regular file (a folder is read as images, and it holds no .png, "
            ".jpg or .jpeg file)"
        )
    return found


def load_images(
    path: str | os.PathLike[str],
    input_shape: tuple[int, ...],
    dtype: Any,
    interpolation: str = "nearest",
) -> tuple[np.ndarray, list[str]]:
    """(N, H, W, C) array of the images at `path` and their file names, in row order."""
    image_module = _pillow()
    if len(input_shape) != 3 or input_shape[2] not in MODES:
        raise DataError(
            "image input needs a model input of shape (H, W, 1) or (H, W, 3), got "
            f"{tuple(input_shape)}"
        )
    height, width, channels = input_shape
    files = image_files(path)
    out = np.empty((len(files), height, width, channels), dtype=dtype)
    for row, file in enumerate(files):
        out[row] = _read(image_module, file, (height, width), MODES[channels], interpolation)
    return out, [file.name for file in files]


def _read(image_module: Any, file: Path, size: tuple[int, int], mode: str, how: str) -> Any:
    """One image as an (H, W, C) float array; a DataError naming the file when unreadable."""
    try:
        with open_regular(file, DataError) as handle, image_module.open(handle) as image:
            image = image.convert(mode) if image.mode != mode else image
            if image.size != (size[1], size[0]):  # Pillow sizes are (width, height)
                resample = getattr(image_module.Resampling, how.upper())
                image = image.resize((size[1], size[0]), resample)
            pixels = np.asarray(image, dtype=np.float64)
    except FileNotFoundError:
        raise DataError(f"{file}: no such file") from None
    except (OSError, ValueError, image_module.DecompressionBombError) as error:
        # Pillow's UnidentifiedImageError is an OSError; a decompression bomb is refused
        raise DataError(f"{file}: cannot read the image: {error}") from None
    return pixels.reshape(size[0], size[1], -1)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise missing_extra("reading images", "images") from None
    return Image
