"""TF Serving predict requests as TF Serving answers them (issue 13 #4, #5, #6): one prediction per
instance or a 400, `{"b64": ...}` values decoded, unknown signature names refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from functions.app import Service
from tests.models import OPSET, identity_model
from tests.unit.functions.conftest import Client


def _b64(text: str | bytes) -> dict[str, str]:
    raw = text.encode() if isinstance(text, str) else text
    return {"b64": base64.b64encode(raw).decode()}


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(Service(str(identity_model(tmp_path_factory.mktemp("w") / "words.onnx", "BYTES", ["N"]))))


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory) -> Client:
    """x: string [N] → n = Shape(x) (INT64 [1]), y = x: an output without one row per instance."""
    graph = helper.make_graph(
        [helper.make_node("Shape", ["x"], ["n"]), helper.make_node("Identity", ["x"], ["y"])],
        "counter",
        [helper.make_tensor_value_info("x", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("n", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("y", TensorProto.STRING, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("c") / "counter.onnx"
    onnx.save(model, path)
    return Client(Service(str(path)))


def predict(client: Client, body: Any, name: str) -> Any:
    return client.request("POST", f"/v1/models/{name}:predict", json.dumps(body))


def test_every_instance_gets_its_prediction(words: Client) -> None:
    answer = predict(words, {"instances": ["a", "bb", "ccc"]}, "words")
    assert answer.status == 200 and answer.json() == {"predictions": ["a", "bb", "ccc"]}


def test_an_output_without_a_row_per_instance_is_a_400(counter: Client) -> None:
    answer = predict(counter, {"instances": ["a", "bb", "ccc"]}, "counter")
    assert answer.status == 400
    assert "output 'n' has batch size 1 but the request has 3 instances" in answer.error
    assert "'inputs'" in answer.error  # the way out: the columnar format answers it whole
    columns = predict(counter, {"inputs": ["a", "bb", "ccc"]}, "counter")
    assert columns.status == 200 and columns.json() == {"outputs": {"n": [3], "y": ["a", "bb", "ccc"]}}
    one = predict(counter, {"instances": ["a"]}, "counter")  # one instance, one row: a valid answer
    assert one.status == 200 and one.json() == {"predictions": [{"n": 1, "y": "a"}]}


def test_b64_values_are_decoded_to_text(words: Client) -> None:
    answer = predict(words, {"instances": [_b64("héllo"), "plain", _b64(b"")]}, "words")
    assert answer.status == 200 and answer.json() == {"predictions": ["héllo", "plain", ""]}
    named = predict(words, {"instances": [{"x": _b64("named")}]}, "words")
    assert named.status == 200 and named.json() == {"predictions": ["named"]}
    columns = predict(words, {"inputs": {"x": [_b64("col"), "umn"]}}, "words")
    assert columns.status == 200 and columns.json() == {"outputs": ["col", "umn"]}
    unpadded = predict(words, {"instances": [{"b64": "aGk"}]}, "words")  # "hi" without its padding
    assert unpadded.status == 200 and unpadded.json() == {"predictions": ["hi"]}


def test_b64_grid_is_decoded_at_every_level(tmp_path: Path) -> None:
    grid = Client(Service(str(identity_model(tmp_path / "grid.onnx", "BYTES", ["N", 2]))))
    answer = predict(grid, {"instances": [[_b64("a"), "b"], ["c", _b64("d")]]}, "grid")
    assert answer.status == 200 and answer.json() == {"predictions": [["a", "b"], ["c", "d"]]}


@pytest.mark.parametrize(("value", "words_in_error"), [
    ({"b64": "not base64!"}, ["element [1]", "not valid base64"]),
    (_b64(b"\xff\xfe"), ["element [1]", "not UTF-8", "byte 0"]),
    ({"b64": 12}, ["element [1]", "base64 string"]),
])
def test_invalid_b64_is_a_400_naming_the_element(words: Client, value: Any, words_in_error: list[str]) -> None:
    answer = predict(words, {"instances": ["ok", value]}, "words")
    assert answer.status == 400, answer.body
    for text in words_in_error:
        assert text in answer.error


@pytest.mark.parametrize("signature", [None, "", "serving_default"])
def test_default_signature_names_are_accepted(words: Client, signature: str | None) -> None:
    body: dict[str, Any] = {"instances": ["a"]}
    if signature is not None:
        body["signature_name"] = signature
    answer = predict(words, body, "words")
    assert answer.status == 200 and answer.json() == {"predictions": ["a"]}


@pytest.mark.parametrize("signature", ["classify", "Serving_Default", 3])
def test_unknown_signature_name_is_a_400(words: Client, signature: Any) -> None:
    answer = predict(words, {"signature_name": signature, "instances": ["a"]}, "words")
    assert answer.status == 400
    assert "not found in signature def" in answer.error and "serving_default" in answer.error
