"""`push --golden FILE`: checked against the model's signature with a clear error; compared row by row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deployer.deploy.golden import read_golden, with_golden
from deployer.errors import ConfigError
from functions import golden as gold

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model"
MANIFEST = json.loads((EXAMPLE / "manifest.json").read_text())


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "golden.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ("{not json", ("not valid JSON",)),
        ([1, 2], ("JSON object",)),
        ({"inputs": {"X": [ROW]}, "outputs": {"label": [0]}, "colour": 1}, ("unknown key 'colour'",)),
        ({"inputs": {"x": [ROW]}, "outputs": {"label": [0]}}, ("unknown input 'x'", "X")),
        ({"inputs": {"X": [[1.0, 2.0]]}, "outputs": {"label": [0]}}, ("shape [1, 2]", "dimension 1 must be 4")),
        ({"inputs": {"X": ROW}, "outputs": {"label": [0]}}, ("shape [4]", "rank 2")),
        ({"inputs": {"X": [ROW, ROW]}, "outputs": {"label": [0]}}, ("output 'label' has 1 rows but the inputs have 2",)),
        ({"inputs": {"X": [ROW]}, "outputs": {"labels": [0]}}, ("unknown output 'labels'",)),
        ({"inputs": {"X": [ROW]}, "compare": "nearby"}, ("'compare' must be",)),
        ({"inputs": {"X": [ROW]}, "compare": "live", "outputs": {"label": [0]}}, ("leave 'outputs' out",)),
        ({"inputs": {"X": [ROW]}, "outputs": {"label": [0]}, "tolerance": {"label": {"atol": -1}}}, ("number >= 0",)),
        ({"inputs": {}, "outputs": {"label": [0]}}, ("'inputs' must map",)),
    ],
)
def test_bad_golden_files_are_refused_clearly(tmp_path: Path, doc: Any, words: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as caught:
        read_golden(_write(tmp_path, doc), MANIFEST)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    assert str(tmp_path / "golden.json") in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        read_golden(tmp_path / "nope.json", MANIFEST)


def test_golden_copy_is_stable_and_leaves_the_folder_alone(tmp_path: Path) -> None:
    golden = read_golden(_write(tmp_path, {"inputs": {"X": [ROW]}, "outputs": {"label": [0]}}), MANIFEST)
    first = with_golden(EXAMPLE, golden, tmp_path / "build")
    second = with_golden(EXAMPLE, golden, tmp_path / "build")
    assert first == second and (first / "golden.json").is_file() and (first / "model.onnx").is_file()
    assert not (EXAMPLE / "golden.json").exists()
    assert gold.load_golden(first)["outputs"] == {"label": [0]}


def test_check_reports_rows_and_by_how_much() -> None:
    golden = {"inputs": {"X": [ROW, ROW]}, "outputs": {"label": [0, 1], "probabilities": [[0.9, 0.1], [0.2, 0.8]]},
              "tolerance": {"probabilities": {"atol": 0.01, "rtol": 0}}}
    answer = {"label": [0, 2], "probabilities": [[0.9, 0.1], [0.5, 0.5]]}
    differences = gold.check(golden, answer)
    assert [(d.output, d.row) for d in differences] == [("label", 1), ("probabilities", 1)]
    text = gold.describe(differences, 2)
    assert "2 of 2 golden row(s) differ" in text and "row 1 of probabilities" in text and "off by 0.3" in text
    assert gold.check(golden, {"label": [0, 1], "probabilities": [[0.905, 0.1], [0.2, 0.8]]}) == []


def test_live_comparison_and_manifest_default() -> None:
    golden = gold.load_golden(EXAMPLE)
    assert golden is not None and golden["source"] == "the manifest's sample"
    live = {"inputs": golden["inputs"], "compare": "live"}
    assert gold.check(live, {"label": [0, 0, 0]}, {"label": [0, 0, 0]}) == []
    assert [d.row for d in gold.check(live, {"label": [0, 1, 0]}, {"label": [0, 0, 0]})] == [1]
    body = json.loads(gold.request_body(golden, MANIFEST))
    assert body["inputs"][0]["shape"] == [3, 4] and body["inputs"][0]["datatype"] == "FP32"
