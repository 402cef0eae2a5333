"""TorchServe's routes (functions/torchserve.py): /ping, describe-model, /predictions in its body forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.app import Service
from tests.unit.functions.conftest import Client

REPO = Path(__file__).resolve().parents[3]
IRIS = REPO / "examples" / "iris" / "model"
ROW = [5.1, 3.5, 1.4, 0.2]
ROW2 = [6.7, 3.0, 5.2, 2.3]


@pytest.fixture(scope="module")
def iris() -> Client:
    return Client(Service(str(IRIS)))


def test_ping(iris: Client, tmp_path: Path) -> None:
    assert (iris.request("GET", "/ping").status, iris.request("GET", "/ping").json()) == (200, {"status": "Healthy"})
    broken = Client(Service(str(tmp_path / "missing")))
    answer = broken.request("GET", "/ping")
    assert answer.status == 500
    assert answer.json()["status"] == "Unhealthy" and "no model at" in answer.json()["error"]


def test_describe_model(iris: Client) -> None:
    version = iris.service.need_model().version
    for path in ("/models/iris", f"/models/iris/{version}"):
        answer = iris.request("GET", path)
        assert answer.status == 200
        (entry,) = answer.json()
        assert (entry["modelName"], entry["modelVersion"], entry["modelUrl"]) == ("iris", version, "model.onnx")
        (worker,) = entry["workers"]
        assert worker["status"] == "READY" and worker["memoryUsage"] > 10_000_000 and worker["startTime"].endswith("Z")
    assert iris.request("GET", "/models/iris/1.0").status == 404
    assert iris.request("GET", "/models/other").status == 404


@pytest.mark.parametrize("body", [ROW, {"data": ROW}, {"X": ROW}, {"data": {"X": ROW}}])
def test_one_example_answers_one_prediction(iris: Client, body: object) -> None:
    answer = iris.request("POST", "/predictions/iris", body)
    assert answer.status == 200, answer.body
    got = answer.json()
    assert got["label"] == 0 and len(got["probabilities"]) == 3


@pytest.mark.parametrize("body", [[ROW, ROW2], {"data": [ROW, ROW2]}, {"instances": [ROW, ROW2]}, {"X": [ROW, ROW2]},
                                  {"instances": [{"X": ROW}, {"X": ROW2}]}])
def test_a_batch_answers_one_prediction_per_row(iris: Client, body: object) -> None:
    version = iris.service.need_model().version
    for path in ("/predictions/iris", f"/predictions/iris/{version}"):
        answer = iris.request("POST", path, body)
        assert answer.status == 200, answer.body
        assert [p["label"] for p in answer.json()] == [0, 2]


def test_multi_input_model(pair: Client) -> None:
    one = pair.request("POST", "/predictions/pair", {"a": [1.0, 2.0, 3.0], "b": [1, 2, 3]})
    assert one.status == 200, one.body
    assert one.json() == {"total": [2.0, 4.0, 6.0], "doubled": [2, 4, 6]}
    batch = pair.request("POST", "/predictions/pair", {"data": {"a": [[1.0, 2.0, 3.0]] * 2, "b": [[1, 2, 3]] * 2}})
    assert batch.status == 200 and batch.json() == [{"total": [2.0, 4.0, 6.0], "doubled": [2, 4, 6]}] * 2


@pytest.mark.parametrize("path,body,status,words", [
    ("/predictions/iris", {"Y": ROW}, 400, "unknown input 'Y'"),
    ("/predictions/iris", "[1, 2", 400, "the body is not valid JSON"),
    ("/predictions/iris", "", 400, "the body is empty"),
    ("/predictions/iris", [[1, 2]], 400, "wrong shape"),
    ("/predictions/iris/abc", ROW, 404, "unknown version 'abc'"),
    ("/predictions/iris/a/b", ROW, 404, "no route"),
    ("/predictions/other", ROW, 404, "unknown model 'other'"),
])
def test_refusals(iris: Client, path: str, body: object, status: int, words: str) -> None:
    answer = iris.request("POST", path, body)
    assert answer.status == status and words in answer.error, answer.body


def test_multi_input_refusals(pair: Client) -> None:
    mixed = pair.request("POST", "/predictions/pair", {"a": [1.0, 2.0, 3.0], "b": [[1, 2, 3]]})
    assert mixed.status == 400 and "some inputs are given as one example" in mixed.error
    bare = pair.request("POST", "/predictions/pair", [[1.0, 2.0, 3.0]])
    assert bare.status == 400 and "several inputs" in bare.error
    missing = pair.request("POST", "/predictions/pair", {"a": [1.0, 2.0, 3.0]})
    assert missing.status == 400 and "missing input 'b'" in missing.error


def test_methods_and_media_type(iris: Client) -> None:
    wrong = iris.request("GET", "/predictions/iris")
    assert wrong.status == 405 and wrong.headers["Allow"] == "POST"
    assert iris.request("POST", "/ping").status == 405
    text = iris.request("POST", "/predictions/iris", "5.1", headers={"Content-Type": "text/plain"})
    assert text.status == 415
