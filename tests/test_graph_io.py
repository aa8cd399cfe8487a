"""Several named inputs and outputs (SPEC 8), layers that lead to no output, and `.npz` output.

Numbers are checked against the network computed by hand with NumPy, layer by layer, from
weights the test chooses itself (written to a weights file and loaded), never against
`Model.predict`. Parameter counts and byte sizes are written out as formulas.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError

import builder
from builder.cli import cli
from builder.config import parse, parse_text
from builder.errors import ConfigError, DataError
from builder.spec.model import ModelSpec

ROOT = Path(__file__).resolve().parent.parent

TWO_IN_TWO_OUT = """\
dtype: float64
inputs: {a: [4], b: [3]}
outputs: [head1, head2]
layers:
  - Dense: {units: 2, activation: relu, inputs: [a], name: da}
  - Dense: {units: 2, inputs: [b], name: db}
  - Add: {inputs: [da, db], name: sum}
  - Dense: {units: 3, activation: softmax, name: head1}
  - Dense: {units: 1, inputs: [db], name: head2}
"""

WEIGHT_SHAPES = {
    "da/kernel": (4, 2),
    "da/bias": (2,),
    "db/kernel": (3, 2),
    "db/bias": (2,),
    "head1/kernel": (2, 3),
    "head1/bias": (3,),
    "head2/kernel": (2, 1),
    "head2/bias": (1,),
}


def chosen_weights(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: rng.uniform(-1, 1, shape) for key, shape in WEIGHT_SHAPES.items()}


def by_hand(w: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """The two-input network of TWO_IN_TWO_OUT, layer by layer (Keras: x @ kernel + bias)."""
    da = np.maximum(a @ w["da/kernel"] + w["da/bias"], 0.0)
    db = b @ w["db/kernel"] + w["db/bias"]
    total = da + db
    logits = total @ w["head1/kernel"] + w["head1/bias"]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    head2 = db @ w["head2/kernel"] + w["head2/bias"]
    return {"head1": exp / exp.sum(axis=1, keepdims=True), "head2": head2}


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def weights_file(tmp_path: Path, weights: dict[str, np.ndarray]) -> str:
    path = tmp_path / "w.npz"
    np.savez(path, **weights)  # type: ignore[arg-type]
    return str(path)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def error_lines(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        builder.load(textwrap.dedent(text))
    return str(caught.value).splitlines()


# --------------------------------------------------------------------------- Python API


def test_two_inputs_two_outputs_match_the_network_by_hand(tmp_path: Path) -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    weights = chosen_weights()
    model.load_weights(weights_file(tmp_path, weights))
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    expected = by_hand(weights, a, b)
    y = model.predict({"a": a, "b": b})
    assert list(y) == ["head1", "head2"]
    for name in expected:
        np.testing.assert_allclose(y[name], expected[name], rtol=1e-12, atol=1e-14)
    # in chunks of 2 and called directly: the same numbers
    chunked = model.predict({"b": b, "a": a}, batch_size=2)
    for name in expected:
        np.testing.assert_allclose(chunked[name], expected[name], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model({"a": a, "b": b})["head2"], expected["head2"], rtol=1e-12)


def test_out_receives_one_array_per_output(tmp_path: Path) -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    weights = chosen_weights(3)
    model.load_weights(weights_file(tmp_path, weights))
    a, b = np.ones((3, 4)), np.full((3, 3), -0.5)
    out = {"head1": np.zeros((3, 3)), "head2": np.zeros((3, 1))}
    assert model.predict({"a": a, "b": b}, batch_size=1, out=out) is out
    expected = by_hand(weights, a, b)
    np.testing.assert_allclose(out["head1"], expected["head1"], rtol=1e-12)
    np.testing.assert_allclose(out["head2"], expected["head2"], rtol=1e-12)


def test_shapes_and_params_of_a_two_input_model() -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    assert model.input_shapes == {"a": (4,), "b": (3,)}
    assert model.output_shapes == {"head1": (3,), "head2": (1,)}
    assert model.count_params() == (4 * 2 + 2) + (3 * 2 + 2) + (2 * 3 + 3) + (2 * 1 + 1)
    assert model.output_bytes(10) == 10 * (3 + 1) * 8
    with pytest.raises(ValueError, match="2 inputs"):
        _ = model.input_shape
    with pytest.raises(ValueError, match="2 outputs"):
        _ = model.output_shape


def test_one_named_input_and_one_output_stay_plain_arrays() -> None:
    model = builder.load(
        """
dtype: float64
inputs: {features: [3]}
layers:
  - Dense: {units: 2, use_bias: false, kernel_initializer: ones}
"""
    )
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    expected = np.array([[6.0, 6.0], [3.0, 3.0]])  # each unit sums the features
    assert model.input_shape == (3,)
    np.testing.assert_array_equal(model.predict(x), expected)
    np.testing.assert_array_equal(model.predict({"features": x}), expected)
    np.testing.assert_array_equal(model.predict(x[0]), expected[:1])  # one sample


def test_each_input_may_be_one_sample_without_the_batch_axis(tmp_path: Path) -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    weights = chosen_weights(4)
    model.load_weights(weights_file(tmp_path, weights))
    a, b = np.arange(4.0), np.arange(3.0) - 1
    y = model.predict({"a": a, "b": b})
    expected = by_hand(weights, a[None], b[None])
    assert y["head1"].shape == (1, 3) and y["head2"].shape == (1, 1)
    np.testing.assert_allclose(y["head2"], expected["head2"], rtol=1e-12)


def test_missing_and_extra_input_names_are_listed_in_one_error() -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    with pytest.raises(DataError) as caught:
        model.predict({"a": np.zeros((1, 4)), "bee": np.zeros((1, 3)), "c": np.zeros(1)})
    assert str(caught.value) == "the inputs are 'a', 'b': missing 'b'; unexpected 'bee', 'c'"


def test_inputs_must_share_the_batch_size_and_their_shapes() -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    with pytest.raises(DataError) as caught:
        model.predict({"a": np.zeros((2, 4)), "b": np.zeros((3, 3))})
    assert str(caught.value) == (
        "the inputs must have the same number of samples: 'a' has 2, 'b' has 3"
    )
    with pytest.raises(DataError) as caught:
        model.predict({"a": np.zeros((2, 5)), "b": np.zeros((2, 3))})
    assert (
        str(caught.value)
        == "input 'a' must have shape (None, 4) (or (4,) for one sample), got (2, 5)"
    )
    with pytest.raises(DataError, match=r"2 inputs: give a dict \{'a': array, 'b': array\}"):
        model.predict(np.zeros((2, 4)))


def test_an_output_read_by_max_pooling_keeps_its_activation() -> None:
    # relu commutes with max, so the plan may run it after the pooling; not when the
    # relu'd array is itself an output (the caller reads it as it is).
    model = builder.load(
        """
dtype: float64
input_shape: [4, 4, 1]
outputs: [conv, pool]
layers:
  - Conv2D: {filters: 1, kernel_size: 1, activation: relu, use_bias: false, kernel_initializer: ones, name: conv}
  - MaxPooling2D: {pool_size: 2, name: pool}
"""
    )
    x = np.arange(-8.0, 8.0).reshape(1, 4, 4, 1)
    y = model.predict(x)
    np.testing.assert_array_equal(y["conv"], np.maximum(x, 0))
    expected_pool = np.maximum(x, 0).reshape(2, 2, 2, 2).max(axis=(1, 3)).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(y["pool"], expected_pool)


def test_an_output_read_by_a_later_layer_is_not_overwritten() -> None:
    # `act` could run in place on its input; that input is an output, so it must not.
    model = builder.load(
        """
dtype: float64
input_shape: [3]
outputs: [linear, act]
layers:
  - Dense: {units: 1, use_bias: false, kernel_initializer: ones, name: linear}
  - Activation: {activation: relu, name: act}
"""
    )
    y = model.predict(np.array([[-1.0, 2.0, -4.0], [1.0, 2.0, 3.0]]))  # sums: -3 and 6
    np.testing.assert_array_equal(y["linear"], [[-3.0], [6.0]])
    np.testing.assert_array_equal(y["act"], [[0.0], [6.0]])


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "input_shape: [3]\ninputs: {a: [3]}\nlayers: [Flatten]\n",
            "<string>:2:9: inputs: give either input_shape (one input) or inputs (named inputs), not both",
            id="both",
        ),
        pytest.param(
            "inputs: {a: [3], b: [2]}\nlayers:\n  - Dense: {units: 2, name: b}\n",
            "<string>:3:29: layers[0] (Dense) name: 'b' is already the name of a model input (line 1)",
            id="layer-named-like-an-input",
        ),
        pytest.param(
            "inputs: {2d: [3]}\nlayers: [Flatten]\n",
            "<string>:1:10: inputs 2d: must match ^[A-Za-z_][A-Za-z0-9_.-]*$ (letters, digits, _ . -), got '2d' (a string)",
            id="input-name-pattern",
        ),
        pytest.param(
            "inputs: {a: [0]}\nlayers: [Flatten]\n",
            "<string>:1:14: inputs a[0]: must be a positive integer, got 0",
            id="input-shape-zero",
        ),
        pytest.param(
            "inputs: {}\nlayers: [Flatten]\n",
            "<string>:1:9: inputs: must have at least 1 item(s)",
            id="no-inputs",
        ),
        pytest.param(
            "input_shape: [3]\noutputs: []\nlayers: [Flatten]\n",
            "<string>:2:10: outputs: must have at least 1 item(s)",
            id="no-outputs",
        ),
    ],
)
def test_input_declaration_errors_have_positions(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(text)
    assert str(caught.value).splitlines() == [expected]


def test_graph_errors_about_inputs_and_outputs_have_positions() -> None:
    lines = error_lines(
        """\
        inputs: {image: [4, 4, 1], meta: [2]}
        outputs: [head, dense_typo, meta, head]
        layers:
          - Flatten
          - Dense: {units: 2, inputs: [imgae], name: head}
        """
    )
    assert lines == [
        "<string>:4:5: layers[0] (Flatten): the model has 2 inputs (image, meta): say which "
        "this layer reads, e.g. inputs: [image]",
        "<string>:5:32: layers[1] (Dense) inputs: unknown layer 'imgae'; did you mean 'image'?",
        "<string>:2:17: outputs: unknown layer 'dense_typo'",
        "<string>:2:29: outputs: 'meta' is a model input, not a layer",
        "<string>:2:35: outputs: 'head' is listed twice",
    ]


def test_reading_input_when_the_inputs_are_named_says_their_names() -> None:
    lines = error_lines(
        """\
        inputs: {image: [3], meta: [2]}
        layers:
          - Dense: {units: 2, inputs: [input]}
        """
    )
    assert lines == [
        "<string>:3:32: layers[0] (Dense) inputs: unknown layer 'input': the model inputs "
        "are named 'image', 'meta' (top-level inputs)"
    ]


def test_an_input_that_leads_to_no_output_is_a_warning() -> None:
    model = builder.load("inputs: {a: [3], b: [2]}\nlayers:\n  - Dense: {units: 2, inputs: [a]}\n")
    assert [str(w) for w in model.graph.warnings] == [
        "<string>:1:21: inputs b: warning: input 'b' leads to no output (it is still required)"
    ]
    y = model.predict({"a": np.zeros((2, 3)), "b": np.zeros((2, 2))})
    assert y.shape == (2, 2)


def test_out_must_be_a_dict_when_there_are_several_outputs() -> None:
    model = builder.load(TWO_IN_TWO_OUT)
    with pytest.raises(ValueError, match="2 outputs: give out as a dict"):
        model.predict({"a": np.zeros((1, 4)), "b": np.zeros((1, 3))}, out=np.zeros((1, 3)))


def test_unknown_output_gets_a_did_you_mean() -> None:
    lines = error_lines(
        """\
        input_shape: [3]
        outputs: [head_b]
        layers:
          - Dense: {units: 2, name: head_a}
          - Dense: {units: 2, name: tail, inputs: [input]}
        """
    )
    assert lines == ["<string>:2:11: outputs: unknown layer 'head_b'; did you mean 'head_a'?"]


def test_outputs_may_be_one_name_and_auto_names_skip_input_names() -> None:
    spec = parse_text("inputs: {dense: [3]}\noutputs: dense_1\nlayers:\n  - Dense: {units: 2}\n")
    assert spec.outputs == ["dense_1"]
    assert spec.layer_names == ["dense_1"]  # `dense` is the input's name


def test_a_spec_built_in_python_needs_exactly_one_input_declaration() -> None:
    layers = [{"type": "Flatten"}]
    with pytest.raises(ValidationError, match="input_shape: required field is missing"):
        ModelSpec.model_validate({"layers": layers})
    with pytest.raises(ValidationError, match="not both"):
        ModelSpec.model_validate({"input_shape": [2], "inputs": {"a": [2]}, "layers": layers})
    with pytest.raises(ValidationError, match="layer 'a' has the name of a model input"):
        ModelSpec.model_validate(
            {"inputs": {"a": [2]}, "layers": [{"type": "Flatten", "name": "a"}]}
        )
    assert ModelSpec.model_validate({"inputs": {"a": [2]}, "layers": layers}).input_shapes == {
        "a": (2,)
    }


# --------------------------------------------------------------------------- unused layers


SIDE_BRANCH = """\
input_shape: [8]
layers:
  - Dense: {units: 4, name: trunk}
  - Dense: {units: 100, name: side_a}
  - Dense: {units: 50, name: side_b}
  - Dense: {units: 2, inputs: [trunk], name: head}
"""


def test_layers_leading_to_no_output_are_left_out_with_one_warning() -> None:
    model = builder.load(SIDE_BRANCH)
    assert [node.name for node in model.nodes] == ["trunk", "head"]
    assert [step.node.name for step in model.plan.steps] == ["trunk", "head"]
    assert model.count_params() == (8 * 4 + 4) + (4 * 2 + 2)
    (warning,) = model.graph.warnings
    assert str(warning) == (
        "<string>:5:5: layers[2] (Dense): warning: the output of 'side_b' is never used; "
        "left out with 'side_a'"
    )
    report = model.summary()
    assert report.total_params == 46 and report.total_macs == 8 * 4 + 4 * 2
    # activations: the input (8) + trunk (4) + head (2), float32
    assert report.activations_bytes == (8 + 4 + 2) * 4
    assert "side_a" not in str(report) and "side_b" not in str(report)
    assert set(model.weights) == {"trunk/kernel", "trunk/bias", "head/kernel", "head/bias"}


def test_layers_after_the_named_outputs_are_left_out() -> None:
    model = builder.load(
        """\
input_shape: [3]
outputs: [first]
layers:
  - Dense: {units: 2, name: first}
  - Dense: {units: 5, name: second}
"""
    )
    assert [node.name for node in model.nodes] == ["first"]
    assert model.count_params() == 3 * 2 + 2
    (warning,) = model.graph.warnings
    assert warning.message == "warning: the output of 'second' is never used; left out"


def test_cli_summarize_counts_only_the_used_layers(tmp_path: Path) -> None:
    result = invoke("summarize", write(tmp_path, SIDE_BRANCH), "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [layer["name"] for layer in document["layers"]] == ["trunk", "head"]
    assert document["total_params"] == 46
    assert "never used" in result.stderr and result.stderr.count("warning") == 1


# --------------------------------------------------------------------------- summary, graph


def test_summary_shows_every_input_and_output(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_IN_TWO_OUT)
    text = invoke("summarize", path).stdout.splitlines()
    assert text[4].split() == ["a", "(InputLayer)", "(None,", "4)", "0", "0", "-"]
    assert text[5].split() == ["b", "(InputLayer)", "(None,", "3)", "0", "0", "-"]
    assert "Outputs: head1 (None, 3), head2 (None, 1)" in text
    markdown = invoke("summarize", path, "--format", "markdown").stdout
    assert "| a (InputLayer) | (None, 4) | 0 | 0 | - |" in markdown
    document = json.loads(invoke("summarize", path, "--format", "json").stdout)
    assert document["input_shape"] == [[None, 4], [None, 3]]
    assert document["inputs"] == [
        {"name": "a", "shape": [None, 4]},
        {"name": "b", "shape": [None, 3]},
    ]
    assert document["outputs"] == [
        {"name": "head1", "shape": [None, 3]},
        {"name": "head2", "shape": [None, 1]},
    ]
    assert document["total_params"] == 10 + 8 + 9 + 3


def test_diagrams_show_every_input_and_mark_the_outputs(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_IN_TWO_OUT)
    dot = invoke("graph", path, "--format", "dot").stdout
    assert '"a" [label="a\\nInputLayer\\n(None, 4)"];' in dot
    assert '"b" [label="b\\nInputLayer\\n(None, 3)"];' in dot
    assert '"head2" [label="head2\\nDense\\n(None, 1)\\noutput"];' in dot
    assert '"b" -> "db";' in dot and '"db" -> "head2";' in dot
    mermaid = invoke("graph", path).stdout
    assert 'head1["head1<br/>Dense + softmax<br/>(None, 3)<br/>output"]' in mermaid


# --------------------------------------------------------------------------- builder run


def test_cli_run_reads_an_npz_per_input_and_writes_an_npz_per_output(tmp_path: Path) -> None:
    config = write(tmp_path, TWO_IN_TWO_OUT)
    weights = chosen_weights(5)
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(7, 3))
    np.savez(tmp_path / "x.npz", b=b, a=a)
    out = tmp_path / "y.npz"
    result = invoke(
        "run", config, "--input", str(tmp_path / "x.npz"), "--weights",
        weights_file(tmp_path, weights), "--output", str(out), "--batch-size", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{out}: 'head1' wrote (7, 3) float64",
        f"{out}: 'head2' wrote (7, 1) float64",
    ]
    expected = by_hand(weights, a, b)
    with np.load(out) as archive:
        assert sorted(archive.keys()) == ["head1", "head2"]
        for name in expected:
            np.testing.assert_allclose(archive[name], expected[name], rtol=1e-12, atol=1e-14)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.yaml", "w.npz", "x.npz", "y.npz"]


def test_cli_run_lists_missing_and_extra_npz_names_in_one_error(tmp_path: Path) -> None:
    config = write(tmp_path, TWO_IN_TWO_OUT)
    x = tmp_path / "x.npz"
    np.savez(x, a=np.zeros((1, 4)), c=np.zeros((1, 3)))
    result = invoke("run", config, "--input", str(x))
    assert result.exit_code == 1
    assert result.stderr == f"{x}: the inputs are 'a', 'b': missing 'b'; unexpected 'c'\n"
    np.save(tmp_path / "x.npy", np.zeros((1, 4)))
    result = invoke("run", config, "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 1
    assert "give an .npz holding one array per input name" in result.stderr


def test_cli_run_random_makes_each_input_and_previews_each_output(tmp_path: Path) -> None:
    result = invoke("run", write(tmp_path, TWO_IN_TWO_OUT), "--random", "4")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "output 'head1': shape (4, 3), dtype float64"
    assert "output 'head2': shape (4, 1), dtype float64" in lines
    assert lines[lines.index("output 'head2': shape (4, 1), dtype float64") - 1].startswith(
        "predicted class per sample: "
    )


def test_cli_run_several_outputs_to_npy_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(
        "run", write(tmp_path, TWO_IN_TWO_OUT), "--random", "1", "--output", str(tmp_path / "y.npy")
    )
    assert result.exit_code == 2
    assert "the model has 2 outputs (head1, head2): use --output Y.npz" in result.stderr
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("name", ["y.txt", "y", "y.npy.bak"])
def test_cli_run_output_suffix_other_than_npy_npz_is_a_usage_error(
    tmp_path: Path, name: str
) -> None:
    config = str(ROOT / "configs" / "seed_cnn.yaml")
    result = invoke("run", config, "--random", "1", "--output", str(tmp_path / name))
    assert result.exit_code == 2
    assert "--output must end in .npy or .npz" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_run_npz_output_of_one_output_is_keyed_by_its_layer(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """\
        dtype: float64
        input_shape: [2]
        layers:
          - Dense: {units: 2, name: scores}
        """,
    )
    weights = {
        "scores/kernel": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "scores/bias": np.array([0.5, -0.5]),
    }
    x = tmp_path / "x.npy"
    np.save(x, np.array([[1.0, 1.0], [2.0, -1.0]]))
    out = tmp_path / "y.npz"
    result = invoke(
        "run", config, "--input", str(x), "--weights", weights_file(tmp_path, weights),
        "--output", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with np.load(out) as archive:
        assert list(archive.keys()) == ["scores"]
        # [1, 1] @ k + b = [4.5, 5.5]; [2, -1] @ k + b = [-0.5, -0.5]
        np.testing.assert_array_equal(archive["scores"], [[4.5, 5.5], [-0.5, -0.5]])


def test_the_two_heads_example_validates_and_runs(tmp_path: Path) -> None:
    config = str(ROOT / "configs" / "two_heads.yaml")
    spec = parse(config)
    assert spec.input_shapes == {"image": (32, 32, 3), "meta": (8,)}
    out = tmp_path / "y.npz"
    result = invoke("run", config, "--random", "3", "--output", str(out))
    assert result.exit_code == 0, result.output
    with np.load(out) as archive:
        assert archive["head_a"].shape == (3, 3) and archive["head_b"].shape == (3, 1)
        np.testing.assert_allclose(archive["head_a"].sum(axis=1), 1.0, rtol=1e-6)  # softmax
        assert ((archive["head_b"] > 0) & (archive["head_b"] < 1)).all()  # sigmoid
    # params: conv 3·3·3·8+8, conv 3·3·8·16+16, dense 8·16+16, heads 32·3+3 and 32·1+1
    expected = (27 * 8 + 8) + (72 * 16 + 16) + (8 * 16 + 16) + (32 * 3 + 3) + (32 + 1)
    assert builder.load(config).count_params() == expected


def test_the_json_schema_wants_exactly_one_input_declaration() -> None:
    import jsonschema
    import yaml

    schema = json.loads((ROOT / "schemas" / "model.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    two_heads = yaml.safe_load((ROOT / "configs" / "two_heads.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(two_heads)) == []
    layers = ["Flatten"]
    assert not validator.is_valid({"layers": layers})
    assert not validator.is_valid({"input_shape": [2], "inputs": {"a": [2]}, "layers": layers})
    assert validator.is_valid({"inputs": {"a": [2]}, "outputs": "flatten", "layers": layers})


def _conv_valid_relu(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """relu of a stride-1 'valid' convolution, one output pixel at a time."""
    n, h, w, _ = x.shape
    kh, kw, _, filters = kernel.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, filters))
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            patch = x[:, i : i + kh, j : j + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2])) + bias
    return np.maximum(out, 0.0)


def test_the_two_heads_example_matches_the_network_by_hand(tmp_path: Path) -> None:
    config = str(ROOT / "configs" / "two_heads.yaml")
    text = (ROOT / "configs" / "two_heads.yaml").read_text(encoding="utf-8")
    model = builder.load(write(tmp_path, "dtype: float64\n" + text))
    rng = np.random.default_rng(7)
    weights = {key: rng.uniform(-0.5, 0.5, spec.shape) for key, spec in model.weight_specs()}
    model.load_weights(weights_file(tmp_path, weights))
    image, meta = rng.normal(size=(2, 32, 32, 3)), rng.normal(size=(2, 8))
    w = weights
    conv = _conv_valid_relu(image, w["conv2d/kernel"], w["conv2d/bias"])  # (2, 30, 30, 8)
    pooled = conv.reshape(2, 15, 2, 15, 2, 8).max(axis=(2, 4))
    conv_1 = _conv_valid_relu(pooled, w["conv2d_1/kernel"], w["conv2d_1/bias"])  # (2, 13, 13, 16)
    image_features = conv_1.mean(axis=(1, 2))
    meta_features = np.maximum(meta @ w["meta_features/kernel"] + w["meta_features/bias"], 0)
    features = np.concatenate([image_features, meta_features], axis=1)
    logits = features @ w["head_a/kernel"] + w["head_a/bias"]
    head_a = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    head_b = 1 / (1 + np.exp(-(features @ w["head_b/kernel"] + w["head_b/bias"])))
    y = model.predict({"image": image, "meta": meta})
    np.testing.assert_allclose(y["head_a"], head_a, rtol=1e-10)
    np.testing.assert_allclose(y["head_b"], head_b, rtol=1e-10)
    assert parse(config).outputs == ["head_a", "head_b"]
