"""Issue 11, items 14, 15, 17 and 18: option values, layer arguments, config sizes and
names that are legal but hostile. Oracles: NumPy reductions and a naive convolution loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from builder.cli import cli
from builder.ops.conv import conv2d
from builder.ops.pooling import avg_pool2d, max_pool2d

ROOT = Path(__file__).resolve().parent.parent
SEED_CNN = str(ROOT / "configs" / "seed_cnn.yaml")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write(folder: Path, text: str, name: str = "m.yaml") -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------- item 14


@pytest.mark.parametrize("value", ["1e400", "4GiBberish", "2tons", "inf", "nan", "1e30", "4GiB4"])
def test_max_memory_overflow_or_junk_is_a_usage_error(value: str) -> None:
    result = invoke("run", SEED_CNN, "--random", "1", "--max-memory", value)
    assert result.exit_code == 2, result.output
    assert "--max-memory" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4GiB", 4 * 1024**3),
        ("512MB", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5k", 1536),
        ("2e6", 2_000_000),
    ],
)
def test_max_memory_sizes_still_parse(value: str, expected: int) -> None:
    from builder.cli import ByteSize

    assert ByteSize().convert(value, None, None) == expected


# --------------------------------------------------------------------------- item 15


def pooling_config(kind: str, pool: int, strides: int | None = None) -> str:
    stride = "" if strides is None else f", strides: {strides}"
    return f"input_shape: [5, 7, 3]\nlayers:\n  - {kind}: {{pool_size: {pool}{stride}, padding: same}}\n"


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
def test_huge_pool_size_with_same_padding_covers_the_whole_input(tmp_path: Path, kind: str) -> None:
    x = np.random.default_rng(0).normal(size=(4, 5, 7, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    config = write(tmp_path, pooling_config(kind, 10**12))
    result = invoke(
        "run", config, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 0, result.output
    # One window (out = ceil(5 / 10¹²) = 1) holding every real cell.
    expected = x.max(axis=(1, 2)) if kind == "MaxPooling2D" else x.mean(axis=(1, 2))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy")[:, 0, 0], expected, rtol=1e-5, atol=1e-7)


def test_huge_pool_size_with_stride_one_is_a_running_max_over_everything() -> None:
    x = np.random.default_rng(1).normal(size=(2, 4, 3, 2))
    y = max_pool2d(x, (10**12, 10**12), (1, 1), "same")
    # Every window of 10¹² cells centred near an output cell contains the whole 4×3 input.
    assert y.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(y, np.broadcast_to(x.max(axis=(1, 2))[:, None, None], y.shape))
    z = avg_pool2d(x, (10**12, 10**12), (1, 1), "same")
    np.testing.assert_allclose(z, np.broadcast_to(x.mean(axis=(1, 2))[:, None, None], z.shape))


def naive_conv(
    x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int], dilation: tuple[int, int]
) -> np.ndarray:
    """Keras `same` convolution by the definition: zero-pad explicitly, loop over outputs."""
    _, height, width, _ = x.shape
    kh, kw, _, filters = kernel.shape
    out_h, out_w = -(-height // strides[0]), -(-width // strides[1])
    pads = []
    for length, out, k, s, d in (
        (height, out_h, kh, strides[0], dilation[0]),
        (width, out_w, kw, strides[1], dilation[1]),
    ):
        total = max((out - 1) * s + d * (k - 1) + 1 - length, 0)
        pads.append((total // 2, total - total // 2))
    y = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for c in range(kw):
                    r = i * strides[0] + a * dilation[0] - pads[0][0]
                    q = j * strides[1] + c * dilation[1] - pads[1][0]
                    if 0 <= r < height and 0 <= q < width:
                        y[:, i, j] += x[:, r, q] @ kernel[a, c]
    return y


@pytest.mark.parametrize(
    ("shape", "kernel", "strides", "dilation"),
    [
        ((6, 5), (3, 3), (1, 1), (10**12, 10**12)),  # only the centre tap is ever real
        ((3, 3), (3, 3), (1, 1), (5, 5)),  # the two outer taps only read padding
        ((8, 8), (3, 3), (10**21, 10**21), (1, 1)),  # one output, the stride never applies
        ((7, 6), (3, 2), (2, 10**21), (3, 1)),
        ((9, 9), (5, 5), (2, 2), (2, 2)),  # an ordinary layer: nothing to trim
    ],
)
def test_conv_with_huge_stride_or_dilation_matches_the_definition(
    shape: tuple[int, int],
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, *shape, 3))
    w = rng.normal(size=(*kernel, 3, 4))
    y = conv2d(x, w, np.zeros(4), strides=strides, padding="same", dilation=dilation)
    np.testing.assert_allclose(y, naive_conv(x, w, strides, dilation), rtol=1e-10, atol=1e-12)


def test_conv_whose_taps_all_read_padding_gives_the_bias() -> None:
    x = np.ones((1, 1, 1, 2))  # 1×1 input, kernel 2 dilated 10: taps at −5 and +5
    y = conv2d(x, np.ones((2, 2, 2, 3)), np.arange(3.0), padding="same", dilation=(10, 10))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(3.0), (1, 1, 1, 3)))


@pytest.mark.parametrize(
    "layer",
    [
        "Conv2D: {filters: 2, kernel_size: 3, strides: 1000000000000000000000, padding: same}",
        "Conv2D: {filters: 2, kernel_size: 3, dilation_rate: 1000000000000, padding: same}",
        "MaxPooling2D: {pool_size: 2, strides: 1000000000000000000000, padding: same}",
        "AveragePooling2D: {pool_size: 1000000000000, padding: same}",
    ],
)
def test_configs_that_validate_also_run(tmp_path: Path, layer: str) -> None:
    config = write(tmp_path, f"input_shape: [8, 8, 2]\nlayers:\n  - {layer}\n")
    assert invoke("validate", config).exit_code == 0
    result = invoke("run", config, "--random", "2")
    assert result.exit_code == 0, (result.output, result.exception)


def test_layer_names_are_limited_to_255_characters(tmp_path: Path) -> None:
    ok = write(
        tmp_path, f"input_shape: [4]\nlayers:\n  - {{type: Dense, units: 2, name: {'d' * 255}}}\n"
    )
    assert invoke("init", ok, "-o", str(tmp_path / "w.npz")).exit_code == 0
    assert np.load(tmp_path / "w.npz")[f"{'d' * 255}/kernel"].shape == (4, 2)
    long = write(
        tmp_path,
        f"input_shape: [4]\nlayers:\n  - {{type: Dense, units: 2, name: {'d' * 100_000}}}\n",
    )
    result = invoke("init", long, "-o", str(tmp_path / "w2.npz"))
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"{long}:3:35: layers[0] (Dense) name: must be at most 255 characters long, got 100000\n"
    )
    schema = json.loads((ROOT / "schemas" / "model.schema.json").read_text())
    assert '"maxLength": 255' in json.dumps(schema)


# --------------------------------------------------------------------------- item 17


def test_a_100000_layer_config_is_refused_for_its_size(tmp_path: Path) -> None:
    config = write(tmp_path, "input_shape: [4]\nlayers:\n" + "  - relu\n" * 100_000)
    result = invoke("validate", config)
    assert result.exit_code == 1
    assert "the config is too large: more than 100,000 YAML values" in result.stderr
    assert "alias" not in result.stderr


# --------------------------------------------------------------------------- item 18


HOSTILE_NAME = 'evil\n| x | y |\n<script>alert("x")</script> *bold* _it_ \x1b[31m'


def test_text_summary_prints_a_hostile_model_name_literally(tmp_path: Path) -> None:
    config = write(
        tmp_path, f"name: {json.dumps(HOSTILE_NAME)}\ninput_shape: [4]\nlayers: [relu]\n"
    )
    result = invoke("summarize", config)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == 'Model: "evil\\n| x | y |\\n<script>alert("x")</script> *bold* _it_ \\x1b[31m"'
    assert "\x1b" not in result.stdout
    assert len(result.stdout.splitlines()) == 11  # the same lines as any one-layer model


def test_markdown_summary_escapes_a_hostile_model_name(tmp_path: Path) -> None:
    config = write(
        tmp_path, f"name: {json.dumps(HOSTILE_NAME)}\ninput_shape: [4]\nlayers: [relu]\n"
    )
    result = invoke("summarize", config, "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        '### Model: "evil\\\\n\\| x \\| y \\|\\\\n\\<script\\>alert("x")\\</script\\> '
        '\\*bold\\* \\_it\\_ \\\\x1b\\[31m"'
    )
    assert lines[2:5] == [
        "| Layer (type) | Output Shape | Param # | MACs |",
        "|---|---|---:|---:|",
        "| activation (Activation: relu) | (None, 4) | 0 | 0 |",
    ]


def test_markdown_table_cells_keep_their_columns() -> None:
    from builder.report import literal, markdown_row

    row = markdown_row(("a|b", "<b>x</b>", "line\nbreak", "conv2d_1"))
    assert row == "| a\\|b | \\<b\\>x\\</b\\> | line\\\\nbreak | conv2d_1 |"
    assert literal("a\tb") == "a\\tb"
