"""Class labels where the protocols have them (issue 13): Triton's classification extension in
KServe v2 and TF Serving's `:classify`; default answers unchanged (functions/classes.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from functions.app import Service
from functions.classes import top_k
from functions.errors import BadRequest
from tests.unit.functions.conftest import Client

REPO = Path(__file__).resolve().parents[3]
IRIS = REPO / "examples" / "iris" / "model"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
LABELS = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def iris() -> Client:
    return Client(Service(str(IRIS)))


def _infer(rows: list[list[float]], outputs: list[dict]) -> dict:
    return {"inputs": [{"name": "X", "datatype": "FP32", "shape": [len(rows), 4], "data": rows}], "outputs": outputs}


def _probabilities(iris: Client) -> np.ndarray:
    answer = iris.infer("iris", _infer(ROWS, [{"name": "probabilities"}]))
    return np.array(answer.json()["outputs"][0]["data"], np.float32).reshape(3, 3)


def test_v2_classification_answers_tritons_strings(iris: Client) -> None:
    scores = _probabilities(iris)
    answer = iris.infer("iris", _infer(ROWS, [{"name": "probabilities", "parameters": {"classification": 2}},
                                              {"name": "label"}]))
    assert answer.status == 200, answer.body
    classes, label = answer.json()["outputs"]
    assert (classes["datatype"], classes["shape"]) == ("BYTES", [3, 2])
    assert label["datatype"] == "INT64" and label["data"] == [0, 2, 1]  # the other output is as it was
    for row, pair in zip(scores, np.array(classes["data"]).reshape(3, 2)):
        order = np.argsort(-row)[:2]
        assert [s.split(":")[1:] for s in pair] == [[str(i), LABELS[i]] for i in order]
        assert [float(s.split(":")[0]) for s in pair] == pytest.approx(row[order], abs=1e-6)


def test_v2_classification_count_is_capped_at_the_classes_and_binary_works(iris: Client) -> None:
    answer = iris.infer("iris", _infer(ROWS[:1], [{"name": "probabilities",
                                                   "parameters": {"classification": 10, "binary_data": True}}]))
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/octet-stream"
    size = int(answer.headers["Inference-Header-Content-Length"])
    raw = answer.body[size:]
    strings, pos = [], 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "little")
        strings.append(raw[pos + 4:pos + 4 + n].decode())
        pos += 4 + n
    assert [s.split(":", 2)[2] for s in strings] == ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize("params,words", [
    ({"classification": 0}, "'classification' must be a positive integer"),
    ({"classification": True}, "'classification' must be a positive integer"),
    ({"classification": "2"}, "'classification' must be a positive integer"),
])
def test_v2_classification_refusals(iris: Client, params: dict, words: str) -> None:
    answer = iris.infer("iris", _infer(ROWS, [{"name": "probabilities", "parameters": params}]))
    assert answer.status == 400 and words in answer.error


def test_v2_classification_of_a_batch_of_values_is_refused(iris: Client) -> None:
    answer = iris.infer("iris", _infer(ROWS, [{"name": "label", "parameters": {"classification": 1}}]))
    assert answer.status == 400 and "output label (INT64 [-1]) has no class dimension" in answer.error


def test_top_k_without_labels_and_with_integers() -> None:
    got = top_k(np.array([[1, 5, 10, 4]], np.int32), 2, None, "x")
    assert got.tolist() == [["10:2", "5:1"]]  # the example of Triton's documentation
    ties = top_k(np.array([0.5, 0.5, 0.25], np.float32), 3, None, "x")
    assert ties.tolist() == ["0.500000:0", "0.500000:1", "0.250000:2"]
    with pytest.raises(BadRequest):
        top_k(np.array(["a"], dtype=object), 1, None, "x")


def test_tf_classify(iris: Client) -> None:
    scores = _probabilities(iris)
    answer = iris.request("POST", "/v1/models/iris:classify", {"examples": [{"X": row} for row in ROWS]})
    assert answer.status == 200, answer.body
    results = answer.json()["results"]
    assert [[label for label, _ in r] for r in results] == [LABELS] * 3  # every class, in the model's order
    assert np.array([[score for _, score in r] for r in results]) == pytest.approx(scores, abs=1e-6)


def test_tf_classify_context_and_versions(pair: Client) -> None:
    from functions.tfserving import version_number

    number = version_number(pair.service.need_model())
    answer = pair.request("POST", f"/v1/models/pair/versions/{number}:classify",
                          {"context": {"b": [1, 2, 3]}, "examples": [{"a": [0.0, 0.0, 1.0]}]})
    assert answer.status == 200, answer.body
    assert answer.json() == {"results": [[["", 1.0], ["", 2.0], ["", 4.0]]]}  # no labels: "" as TF Serving


@pytest.mark.parametrize("body,words", [
    ({"examples": []}, "'examples' must be a non-empty list"),
    ({"examples": [[5.1, 3.5, 1.4, 0.2]]}, "examples[0] must be an object keyed by feature"),
    ({"examples": [{"X": ROWS[0]}], "context": {"X": ROWS[0]}}, "feature 'X' is also in 'context'"),
    ({"examples": [{"X": ROWS[0]}], "context": []}, "'context' must be an object"),
    ({"examples": [{"X": ROWS[0]}], "instances": []}, "unknown key 'instances'"),
    ({"examples": [{"X": ROWS[0]}], "signature_name": "other"}, "not found in signature def"),
    ({"examples": [{"Y": ROWS[0]}]}, "examples[0]: unknown input 'Y'"),
])
def test_tf_classify_refusals(iris: Client, body: dict, words: str) -> None:
    answer = iris.request("POST", "/v1/models/iris:classify", body)
    assert answer.status == 400 and words in answer.error, answer.body


def test_tf_classify_without_a_scores_output(tmp_path: Path) -> None:
    from tests.models import identity_model

    identity_model(tmp_path / "ints.onnx", "INT32")
    client = Client(Service(str(tmp_path / "ints.onnx")))
    answer = client.request("POST", "/v1/models/ints:classify", {"examples": [{"x": [1, 2]}]})
    assert answer.status == 400 and "':classify' needs an output of class scores" in answer.error


def test_tf_classify_parses_as_classification_response(iris: Client) -> None:
    pytest.importorskip("tensorflow_serving.apis.classification_pb2",
                        reason="pip install --no-deps tensorflow-serving-api==2.21.0")
    from google.protobuf import json_format
    from tensorflow_serving.apis import classification_pb2

    results = iris.request("POST", "/v1/models/iris:classify", {"examples": [{"X": r} for r in ROWS]}).json()["results"]
    # The REST form is ClassificationResponse's result with each class as [label, score]
    proto = json_format.ParseDict(
        {"result": {"classifications": [{"classes": [{"label": label, "score": score} for label, score in r]}
                                        for r in results]}},
        classification_pb2.ClassificationResponse())
    assert [c.label for c in proto.result.classifications[1].classes] == LABELS
