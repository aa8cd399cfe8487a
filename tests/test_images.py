"""`builder run --input photo.png | folder/` (issue 12 item 19). Images are made here with
Pillow; the model is a bare Flatten, so its output is the pixels themselves, checked against
values computed by hand (nearest resize replicates pixels; L = ITU-R 601-2 luma)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from builder.cli import cli

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def flatten_model(tmp_path: Path, shape: str) -> str:
    path = tmp_path / "flat.yaml"
    path.write_text(f"input_shape: {shape}\nlayers: [Flatten]\n")
    return str(path)


def image(path: Path, pixels: list[list[tuple[int, int, int]]]) -> Path:
    picture = Image.new("RGB", (len(pixels[0]), len(pixels)))
    for y, row in enumerate(pixels):
        for x, value in enumerate(row):
            picture.putpixel((x, y), value)
    picture.save(path)
    return path


def test_rgb_image_resized_nearest_as_keras_load_img(tmp_path: Path) -> None:
    png = image(tmp_path / "photo.png", [[RED, GREEN], [BLUE, WHITE]])
    out = tmp_path / "y.npy"
    result = invoke(
        "run", flatten_model(tmp_path, "[4, 4, 3]"), "--input", str(png), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ["  [0] photo.png"]
    r, g, b, w = [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]
    expected = [  # each pixel of the 2x2 image becomes a 2x2 block of the 4x4 input
        r, r, g, g,
        r, r, g, g,
        b, b, w, w,
        b, b, w, w,
    ]  # fmt: skip
    y = np.load(out)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.array(expected, dtype=np.float32).reshape(1, 48))


def test_grayscale_model_converts_to_luma(tmp_path: Path) -> None:
    png = image(tmp_path / "c.png", [[RED, GREEN], [BLUE, WHITE]])
    out = tmp_path / "y.npy"
    result = invoke(
        "run", flatten_model(tmp_path, "[2, 2, 1]"), "--input", str(png), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    # Pillow's L = (19595 R + 38470 G + 7471 B + 32768) >> 16, i.e. 0.299 R + 0.587 G + 0.114 B
    # 255·0.299 = 76.2, 255·0.587 = 149.7 → 150, 255·0.114 = 29.1, white stays 255
    np.testing.assert_array_equal(np.load(out), [[76, 150, 29, 255]])


def test_bilinear_on_request(tmp_path: Path) -> None:
    png = image(tmp_path / "flat.png", [[(10, 20, 30)] * 3] * 3)
    result = invoke(
        "run", flatten_model(tmp_path, "[2, 5, 3]"), "--input", str(png), "--interpolation", "bilinear",
        "--output", str(tmp_path / "y.npy"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), [[10, 20, 30] * 10])  # uniform stays


def test_folder_in_name_order_one_row_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    image(folder / "b.png", [[WHITE]])
    image(folder / "a.PNG", [[BLUE]])
    image(folder / "c.png", [[RED]])
    (folder / "notes.txt").write_text("not an image")
    result = invoke("run", flatten_model(tmp_path, "[1, 1, 3]"), "--input", str(folder))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "output: shape (3, 3), dtype float32",
        "  [0] a.PNG [  0.,   0., 255.]",
        "  [1] b.png [255., 255., 255.]",
        "  [2] c.png [255.,   0.,   0.]",
    ]


@pytest.mark.parametrize(
    "shape, message",
    [
        (
            "[4, 4, 2]",
            "image input needs a model input of shape (H, W, 1) or (H, W, 3), got (4, 4, 2)",
        ),
        ("[16]", "image input needs a model input of shape (H, W, 1) or (H, W, 3), got (16,)"),
    ],
)
def test_models_that_take_no_image(tmp_path: Path, shape: str, message: str) -> None:
    png = image(tmp_path / "p.png", [[RED]])
    result = invoke("run", flatten_model(tmp_path, shape), "--input", str(png))
    assert result.exit_code == 1
    assert result.stderr == message + "\n"


def test_empty_folder_and_unreadable_image(tmp_path: Path) -> None:
    model = flatten_model(tmp_path, "[1, 1, 3]")
    (tmp_path / "empty").mkdir()
    result = invoke("run", model, "--input", str(tmp_path / "empty"))
    assert (
        result.stderr
        == f"{tmp_path / 'empty'}: not a regular file (a folder is read as images, and it holds no .png, .jpg or .jpeg file)\n"
    )
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    result = invoke("run", model, "--input", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{bad}: cannot read the image: ")
    assert "Traceback" not in result.output


def test_without_pillow_one_line_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = image(tmp_path / "p.png", [[RED]])
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` raises ImportError
    result = invoke("run", flatten_model(tmp_path, "[1, 1, 3]"), "--input", str(png))
    assert result.exit_code == 1
    assert result.stderr == (
        "reading images needs the 'images' extra: pip install \"yaml-model-builder[images]\"\n"
    )


def test_images_over_the_memory_limit_are_refused_before_reading(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(4):
        image(folder / f"{k}.png", [[RED]])
    model = flatten_model(tmp_path, "[64, 64, 3]")
    result = invoke("run", model, "--input", str(folder), "--max-memory", "150KB")
    assert result.exit_code == 1
    # 4 · 64·64·3·4 bytes = 196,608 bytes = 192.00 KB; one sample (96 KB of work) fits
    assert result.stderr == (
        f"{folder}: the images need 192.00 KB of input, over the memory limit of 150.00 KB "
        "(raise it with --max-memory)\n"
    )
