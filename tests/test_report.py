"""Tests for builder.report: the summary as text, Markdown and JSON, and `builder summarize`.

Expected shapes, parameter counts, MACs and sizes are computed here by hand from the
Keras formulas (Conv2D params kh·kw·C·F + F, MACs H'·W'·F·kh·kw·C; Dense params in·units +
units, MACs in·units per position), never by calling the code under test. The golden files
in tests/golden/ are checked against those hand-computed rows as well as against the code.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from builder.cli import cli
from builder.config import parse
from builder.model import Model
from builder.report import SummaryReport, readable_count, summarize
from builder.sizes import format_bytes as readable_bytes

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"

# (title, per-sample output shape, params, MACs): by hand, input 28x28x1, float32.
SEED_ROWS = [
    ("conv2d (Conv2D)", (26, 26, 32), 3 * 3 * 1 * 32 + 32, 26 * 26 * 32 * 3 * 3 * 1),
    ("leaky_re_lu (LeakyReLU)", (26, 26, 32), 0, 0),
    ("max_pooling2d (MaxPooling2D)", (13, 13, 32), 0, 0),
    ("conv2d_1 (Conv2D)", (11, 11, 64), 3 * 3 * 32 * 64 + 64, 11 * 11 * 64 * 3 * 3 * 32),
    ("leaky_re_lu_1 (LeakyReLU)", (11, 11, 64), 0, 0),
    ("max_pooling2d_1 (MaxPooling2D)", (5, 5, 64), 0, 0),
    ("conv2d_2 (Conv2D)", (3, 3, 64), 3 * 3 * 64 * 64 + 64, 3 * 3 * 64 * 3 * 3 * 64),
    ("leaky_re_lu_2 (LeakyReLU)", (3, 3, 64), 0, 0),
]
MNIST_ROWS = [
    ("conv2d (Conv2D + relu)", (26, 26, 32), 3 * 3 * 1 * 32 + 32, 26 * 26 * 32 * 3 * 3 * 1),
    ("max_pooling2d (MaxPooling2D)", (13, 13, 32), 0, 0),
    ("conv2d_1 (Conv2D + relu)", (11, 11, 64), 3 * 3 * 32 * 64 + 64, 11 * 11 * 64 * 3 * 3 * 32),
    ("max_pooling2d_1 (MaxPooling2D)", (5, 5, 64), 0, 0),
    ("flatten (Flatten)", (1600,), 0, 0),
    ("dropout (Dropout)", (1600,), 0, 0),
    ("dense (Dense + softmax)", (10,), 1600 * 10 + 10, 1600 * 10),
]
CASES = {"seed_cnn": SEED_ROWS, "mnist_convnet": MNIST_ROWS}


def report_of(config: str | Path, batch_size: int = 1) -> SummaryReport:
    return summarize(Model.from_spec(parse(config)).graph, batch_size=batch_size)


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


def shape_text(shape: tuple[int, ...]) -> str:
    return "(None, " + ", ".join(map(str, shape)) + ")"


# --------------------------------------------------------------------------- the hand numbers


def test_hand_totals_match_the_spec() -> None:
    assert [row[1] for row in SEED_ROWS[::3]] == [(26, 26, 32), (11, 11, 64), (3, 3, 64)]
    assert [row[2] for row in SEED_ROWS if row[2]] == [320, 18_496, 36_928]
    assert sum(row[2] for row in SEED_ROWS) == 55_744
    assert SEED_ROWS[0][3] == 194_688
    assert sum(row[2] for row in MNIST_ROWS) == 34_826


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0.00 B"),
        (1000, "1000.00 B"),
        (55_744 * 4, "217.75 KB"),
        (3 * 1024**2, "3.00 MB"),
        (40_000_400_000, "37.25 GB"),
        (5 * 1024**4, "5.00 TB"),
        (2048 * 1024**4, "2048.00 TB"),
    ],
)
def test_readable_bytes_is_keras_base_1024(count: int, expected: str) -> None:
    assert readable_bytes(count) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, ""),
        (999, ""),
        (1000, " (1.00 K)"),
        (2_756_736, " (2.76 M)"),
        (10**10, " (10.00 G)"),
        (3 * 10**12, " (3.00 T)"),
    ],
)
def test_readable_count_is_base_1000(count: int, expected: str) -> None:
    assert readable_count(count) == expected


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_text_rows_are_the_hand_computed_ones(name: str) -> None:
    lines = golden(f"{name}.txt").splitlines()
    rule = next(k for k, line in enumerate(lines) if line.startswith("="))
    rows = lines[rule + 1 :]
    for line, (title, shape, params, macs) in zip(rows, CASES[name], strict=False):
        assert line.split() == [
            *title.split(),
            *shape_text(shape).split(),
            f"{params:,}",
            f"{macs:,}",
        ]
    assert rows[len(CASES[name])].startswith("=")


def test_golden_text_seed_totals_by_hand() -> None:
    text = golden("seed_cnn.txt")
    activations = 28 * 28 * 1 + sum(math.prod(shape) for _, shape, _, _ in SEED_ROWS)
    assert activations == 67_696
    assert text.endswith(
        "Total params: 55,744 (217.75 KB)\n"  # 55,744 · 4 B = 222,976 B = 217.75 KB
        "Trainable params: 55,744 (217.75 KB)\n"
        "Non-trainable params: 0 (0.00 B)\n"
        "Total MACs: 2,756,736 (2.76 M)\n"  # 194,688 + 2,230,272 + 331,776
        "Memory (batch size 1): weights 217.75 KB, largest activation 84.50 KB, "  # 26·26·32·4 B
        "all activations 264.44 KB\n"  # 67,696 · 4 B = 270,784 B
    )


def test_golden_text_mnist_totals_by_hand() -> None:
    text = golden("mnist_convnet.txt")
    assert 28 * 28 + sum(math.prod(shape) for _, shape, _, _ in MNIST_ROWS) == 40_378
    assert text.endswith(
        "Total params: 34,826 (136.04 KB)\n"  # 139,304 B
        "Trainable params: 34,826 (136.04 KB)\n"
        "Non-trainable params: 0 (0.00 B)\n"
        "Total MACs: 2,440,960 (2.44 M)\n"  # 194,688 + 2,230,272 + 16,000
        "Memory (batch size 1): weights 136.04 KB, largest activation 84.50 KB, "
        "all activations 157.73 KB\n"  # 40,378 · 4 B = 161,512 B
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_json_is_the_hand_computed_document(name: str) -> None:
    rows = CASES[name]
    document = json.loads(golden(f"{name}.json"))
    assert list(document) == [
        "name",
        "input_shape",
        "dtype",
        "layers",
        "total_params",
        "trainable_params",
        "non_trainable_params",
        "total_macs",
        "batch_size",
        "batch_macs",
        "memory",
        "inputs",
        "outputs",
    ]
    assert document["name"] == name
    assert document["input_shape"] == [None, 28, 28, 1]
    assert document["inputs"] == [{"name": "input", "shape": [None, 28, 28, 1]}]
    last_title, last_shape = rows[-1][:2]
    assert document["outputs"] == [{"name": last_title.split()[0], "shape": [None, *last_shape]}]
    assert document["dtype"] == "float32"
    previous = "input"
    for layer, (title, shape, params, macs) in zip(document["layers"], rows, strict=True):
        assert list(layer) == [
            "name",
            "type",
            "output_shape",
            "params",
            "trainable_params",
            "macs",
            "activation",
            "inputs",
        ]
        assert title == f"{layer['name']} ({layer['type']})" or title.startswith(
            f"{layer['name']} ({layer['type']} + {layer['activation']})"
        )
        assert (
            layer["output_shape"],
            layer["params"],
            layer["trainable_params"],
            layer["macs"],
        ) == ([None, *shape], params, params, macs)
        assert layer["inputs"] == [previous]
        previous = layer["name"]
    total = sum(row[2] for row in rows)
    sizes = [28 * 28, *(math.prod(row[1]) for row in rows)]
    assert document["total_params"] == document["trainable_params"] == total
    assert document["non_trainable_params"] == 0
    assert document["total_macs"] == sum(row[3] for row in rows)
    assert document["batch_size"] == 1
    assert document["batch_macs"] == sum(row[3] for row in rows)
    assert document["memory"] == {
        "weights_bytes": 4 * total,
        "largest_activation_bytes": 4 * max(sizes),
        "activations_bytes": 4 * sum(sizes),
    }


def test_golden_markdown_rows_by_hand() -> None:
    lines = golden("seed_cnn.md").splitlines()
    assert lines[:4] == [
        '### Model: "seed_cnn"',
        "",
        "| Layer (type) | Output Shape | Param # | MACs |",
        "|---|---|---:|---:|",
    ]
    for line, (title, shape, params, macs) in zip(lines[4:], SEED_ROWS, strict=False):
        assert line == f"| {title} | {shape_text(shape)} | {params:,} | {macs:,} |"
    totals = golden("seed_cnn.txt").splitlines()[-5:]
    assert lines[4 + len(SEED_ROWS) :] == ["", *(f"- {line}" for line in totals)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_equals_the_golden_files(name: str) -> None:
    report = report_of(ROOT / "configs" / f"{name}.yaml")
    assert str(report) == golden(f"{name}.txt")
    assert report.to_markdown() == golden(f"{name}.md")
    assert report.to_json() == golden(f"{name}.json")


def test_text_layout_is_keras_like() -> None:
    lines = golden("seed_cnn.txt").splitlines()
    width = len(lines[1])
    assert lines[0] == 'Model: "seed_cnn"'
    assert lines[1] == "_" * width and lines[3] == "=" * width
    # columns as wide as their widest cell (30, 18, 7, 9), three spaces apart, numbers right-aligned
    assert (
        lines[2]
        == " Layer (type)" + " " * 21 + "Output Shape" + " " * 9 + "Param #" + " " * 8 + "MACs"
    )
    assert width == 1 + 30 + 3 + 18 + 3 + 7 + 3 + 9
    assert max(len(line) for line in lines[2:12]) == width  # the rule spans the widest row
    assert all(line == line.rstrip() for line in lines)


def test_model_summary_is_the_report() -> None:
    model = Model.from_spec(parse(ROOT / "configs" / "seed_cnn.yaml"))
    assert str(model.summary()) == golden("seed_cnn.txt")


# --------------------------------------------------------------------------- layers


def one_layer(input_shape: list[int], layer: str, dtype: str = "float32") -> SummaryReport:
    return report_of(f"name: t\ninput_shape: {input_shape}\ndtype: {dtype}\nlayers:\n  - {layer}\n")


def test_batch_normalization_shows_non_trainable_params() -> None:
    report = one_layer([8, 8, 3], "BatchNormalization")
    # gamma, beta trainable (3 + 3), moving_mean, moving_variance not (3 + 3)
    assert (report.total_params, report.trainable_params, report.non_trainable_params) == (12, 6, 6)
    layer = report.to_dict()["layers"][0]
    assert (layer["params"], layer["trainable_params"]) == (12, 6)
    assert "Non-trainable params: 6 (24.00 B)\n" in str(report)
    assert "Trainable params: 6 (24.00 B)\n" in str(report)


def test_batch_normalization_without_center_in_float64() -> None:
    report = one_layer([4, 5], "BatchNormalization: {center: false, axis: 1}", dtype="float64")
    assert (report.total_params, report.trainable_params, report.non_trainable_params) == (12, 4, 8)
    assert "Total params: 12 (96.00 B)\n" in str(report)  # 8 bytes each


@pytest.mark.parametrize(
    ("shared_axes", "params"),
    [(None, 6 * 5 * 4), ([1, 2], 1 * 1 * 4), ([3], 6 * 5 * 1), ([1, 2, 3], 1)],
)
def test_prelu_params_are_the_input_size_over_shared_axes(
    shared_axes: list[int] | None, params: int
) -> None:
    argument = "PReLU" if shared_axes is None else f"PReLU: {{shared_axes: {shared_axes}}}"
    report = one_layer([6, 5, 4], argument)
    assert report.total_params == report.trainable_params == params
    assert report.layers[0].output_shape == (6, 5, 4)
    assert f" p_re_lu (PReLU)   (None, 6, 5, 4)   {params:>7,}      0\n" in str(report)


def test_dense_on_a_3d_input() -> None:
    report = one_layer([5, 7, 3], "Dense: {units: 4}")
    row = report.layers[0]
    assert (row.output_shape, row.params, row.macs) == ((5, 7, 4), 3 * 4 + 4, 5 * 7 * 3 * 4)
    assert " dense (Dense)   (None, 5, 7, 4)        16    420\n" in str(report)


def test_inline_activations_show_in_the_row_and_json() -> None:
    report = report_of(
        "input_shape: [6, 6, 2]\nlayers:\n"
        "  - Conv2D: {filters: 2, kernel_size: 3, activation: {LeakyReLU: {alpha: 0.05}}}\n"
        "  - Activation: {activation: tanh}\n"
        "  - Flatten\n"
        "  - Dense: {units: 3, activation: softmax}\n"
    )
    text = str(report)
    assert " conv2d (Conv2D + LeakyReLU) " in text
    assert " activation (Activation: tanh) " in text
    assert " dense (Dense + softmax) " in text
    labels = [layer["activation"] for layer in report.to_dict()["layers"]]
    assert labels == ["LeakyReLU", "tanh", None, "softmax"]  # Flatten has no activation argument


def test_batch_size_scales_activation_memory_only() -> None:
    report = report_of(ROOT / "configs" / "seed_cnn.yaml", batch_size=32)
    assert report.to_dict()["memory"] == {
        "weights_bytes": 55_744 * 4,
        "largest_activation_bytes": 32 * 26 * 26 * 32 * 4,
        "activations_bytes": 32 * 67_696 * 4,
    }
    memory = "Memory (batch size 32): weights 217.75 KB, largest activation 2.64 MB, all activations 8.26 MB"
    assert memory in str(report)  # 2,768,896 B and 8,665,088 B


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        report_of(ROOT / "configs" / "seed_cnn.yaml", batch_size=0)


def test_ten_billion_parameters_summarise_without_allocating() -> None:
    model = Model.from_spec(
        parse("name: huge\ninput_shape: [100000]\nlayers:\n  - Dense: {units: 100000}\n")
    )
    tracemalloc.start()
    try:
        report = summarize(model.graph)
        text, document = str(report), report.to_json()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024**2
    assert report.total_params == 100_000 * 100_000 + 100_000 == 10_000_100_000
    assert json.loads(document)["total_macs"] == 10**10
    assert "Total params: 10,000,100,000 (37.25 GB)\n" in text  # 40,000,400,000 B
    assert "Total MACs: 10,000,000,000 (10.00 G)\n" in text
    assert model._weights is None  # nothing was initialised


# --------------------------------------------------------------------------- graphs

GRAPH = """\
name: residual
input_shape: [8, 8, 3]
layers:
  - Conv2D: {filters: 4, kernel_size: 3, padding: same}
  - Conv2D: {filters: 4, kernel_size: 3, padding: same, activation: relu}
  - Add: {inputs: [conv2d, conv2d_1]}
  - Flatten
  - Dense: {units: 2}
"""


def test_graph_model_has_connected_to_column() -> None:
    report = report_of(GRAPH)
    conv1, conv2 = 3 * 3 * 3 * 4 + 4, 3 * 3 * 4 * 4 + 4  # 112, 148
    dense = 8 * 8 * 4 * 2 + 2  # 514
    # columns 24, 15, 7, 5 and 16 wide, three spaces apart: 1 + 63 + 4·3 = 80 characters
    assert (
        str(report)
        == (
            'Model: "residual"\n'
            + "_" * 80
            + "\n"
            + " Layer (type)               Output Shape      Param #    MACs   Connected to\n"
            + "=" * 80
            + "\n"
            + " input (InputLayer)         (None, 8, 8, 3)         0       0   -\n"
            + f" conv2d (Conv2D)            (None, 8, 8, 4)       {conv1}   6,912   input\n"
            + f" conv2d_1 (Conv2D + relu)   (None, 8, 8, 4)       {conv2}   9,216   conv2d\n"
            + " add (Add)                  (None, 8, 8, 4)         0       0   conv2d, conv2d_1\n"
            + " flatten (Flatten)          (None, 256)             0       0   add\n"
            + f" dense (Dense)              (None, 2)             {dense}     512   flatten\n"
            + "=" * 80
            + "\n"
            "Total params: 774 (3.02 KB)\n"  # 112 + 148 + 514 = 774; 3,096 B
            "Trainable params: 774 (3.02 KB)\n"
            "Non-trainable params: 0 (0.00 B)\n"
            "Total MACs: 16,640 (16.64 K)\n"  # 8·8·4·27 + 8·8·4·36 + 256·2
            "Memory (batch size 1): weights 3.02 KB, largest activation 1.00 KB, all activations 4.76 KB\n"
        )
    )  # activations: 192 + 4·256 + 2 = 1,218 elements = 4,872 B; largest 256·4 B


def test_graph_markdown_and_json_connections() -> None:
    report = report_of(GRAPH)
    markdown = report.to_markdown()
    header = (
        "| Layer (type) | Output Shape | Param # | MACs | Connected to |\n|---|---|---:|---:|---|\n"
    )
    assert header in markdown
    assert "| add (Add) | (None, 8, 8, 4) | 0 | 0 | conv2d, conv2d_1 |\n" in markdown
    layers = report.to_dict()["layers"]
    assert [layer["inputs"] for layer in layers] == [
        ["input"],
        ["conv2d"],
        ["conv2d", "conv2d_1"],
        ["add"],
        ["flatten"],
    ]


def test_sequential_model_has_no_connected_to_column() -> None:
    report = report_of(ROOT / "configs" / "seed_cnn.yaml")
    assert "Connected to" not in str(report)
    assert "Connected to" not in report.to_markdown()
    assert "InputLayer" not in str(report)


# --------------------------------------------------------------------------- command line


def invoke(*args: str) -> Result:
    """`builder summarize ARGS` run in-process."""
    return CliRunner().invoke(cli, ["summarize", *args])


def test_cli_text_is_the_golden_text() -> None:
    result = invoke(str(ROOT / "configs" / "seed_cnn.yaml"))
    assert result.exit_code == 0, result.output
    assert result.stdout == golden("seed_cnn.txt")


def test_cli_json_parses() -> None:
    result = invoke(
        str(ROOT / "configs" / "mnist_convnet.yaml"), "--format", "json", "--batch-size", "4"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["total_params"] == 34_826
    assert document["batch_size"] == 4
    assert document["memory"]["activations_bytes"] == 4 * 40_378 * 4


def test_cli_markdown() -> None:
    result = invoke(str(ROOT / "configs" / "seed_cnn.yaml"), "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout == golden("seed_cnn.md")


def test_cli_rejects_a_zero_batch_size() -> None:
    result = invoke(str(ROOT / "configs" / "seed_cnn.yaml"), "--batch-size", "0")
    assert result.exit_code == 2


BAD = """\
name: bad
input_shape: [28, 28, 1]
layers:
  - Dropout: {rate: 0.1}
  - ReLU
  - LeakyReLU
  - ELU
  - Dropout: {rate: 0.2}
  - Activation: {activation: relu}
  - BatchNormalization
  - Conv2D: {filters: 8, kernel_size: 30}
"""


def test_cli_shape_error_reports_the_layer_position(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD, encoding="utf-8")
    result = invoke(str(config))
    assert result.exit_code == 1
    assert result.stdout == ""
    # layers[7] is on line 11; its kernel_size value `30` starts at column 39
    assert result.stderr.startswith(f"{config}:11:39: layers[7] (Conv2D) kernel_size: ")
    assert "30" in result.stderr and "Traceback" not in result.stderr
