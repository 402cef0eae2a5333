"""Answers over Lambda's 6 MB response limit are a 413 that says the size, the limit and what to do,
never a function error (which API Gateway turns into a 502 and Lambda into a reset environment).

Sizes are checked against what the runtime really sends: the proxy response serialized by
awslambdaric's own encoder (the one of the python3.12+ runtimes).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from awslambdaric.lambda_runtime_marshaller import to_json
from onnx import TensorProto, helper

from functions.app import Service
from functions.http import MAX_RESPONSE_BYTES, json_response
from functions.errors import ResponseTooLarge
from tests.unit.functions.conftest import Client, Context


@pytest.fixture(autouse=True)
def python312_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    # awslambdaric writes UTF-8 (ensure_ascii=False) on the python3.12+ runtimes, which the image uses
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")


def fill_model(path: Path, value: float) -> Path:
    """y = a float32 tensor of the shape given in `shape` (INT64 [2]), every element `value`."""
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["y"],
                          value=helper.make_tensor("value", TensorProto.FLOAT, [1], [value]))],
        "fill",
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["R", "C"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def zeros(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(Service(str(fill_model(tmp_path_factory.mktemp("zeros") / "fill.onnx", 0.0))))


def ask(rows: int, cols: int, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "shape", "datatype": "INT64", "shape": [2], "data": [rows, cols]}], **extra}


def sent_bytes(response: dict[str, Any]) -> int:
    """The invocation's response payload, as the Lambda runtime serializes it."""
    return len(to_json(response).encode())


def test_a_json_answer_over_the_limit_is_413_with_size_limit_and_advice(zeros: Client) -> None:
    answer = zeros.infer("fill", ask(2000, 1000))  # 2M float32 zeros: ~8 MB of JSON
    assert answer.status == 413
    message = answer.error
    assert "6,291,456" in message and "smaller batch" in message and "binary_data_output" in message
    size = int(message.split("would be ")[1].split(" bytes")[0].replace(",", ""))
    assert size > MAX_RESPONSE_BYTES
    assert zeros.infer("fill", ask(2, 3)).status == 200  # the environment keeps answering


def test_a_json_answer_under_the_limit_goes_out_and_fits(zeros: Client) -> None:
    raw = zeros.call(zeros_event(1000, 1000))  # ~4 MB of JSON
    assert raw["statusCode"] == 200
    assert MAX_RESPONSE_BYTES // 2 < sent_bytes(raw) <= MAX_RESPONSE_BYTES
    assert json.loads(raw["body"])["outputs"][0]["shape"] == [1000, 1000]


def zeros_event(rows: int, cols: int, **extra: Any) -> dict[str, Any]:
    from tests.unit.functions.conftest import rest_event

    return rest_event("POST", "/v2/models/fill/infer", json.dumps(ask(rows, cols, **extra)))


def test_a_binary_answer_is_measured_base64_encoded(zeros: Client) -> None:
    binary = {"parameters": {"binary_data_output": True}}
    # 1.2M float32: 4.8 MB raw fits, but its base64 (6.4 MB) does not
    refused = zeros.infer("fill", ask(1200, 1000, **binary))
    assert refused.status == 413 and "6,291,456" in refused.error and "base64" in refused.error
    assert "smaller batch" in refused.error
    raw = zeros.call(zeros_event(1100, 1000, **binary))  # 4.4 MB raw, 5.9 MB in base64
    assert raw["statusCode"] == 200 and raw["isBase64Encoded"] is True
    assert sent_bytes(raw) <= MAX_RESPONSE_BYTES
    header = int(raw["headers"]["Inference-Header-Content-Length"])
    assert len(base64.b64decode(raw["body"])) == header + 4_400_000


def test_a_direct_invoke_is_measured_as_the_runtime_reserializes_it(zeros: Client) -> None:
    # orjson writes "0.0,"; the runtime writes "0.0, ": 5.2 MB from orjson go out as 6.5 MB
    refused = zeros.service.handler(ask(1300, 1000), Context())
    assert sent_bytes({"outputs": [{"data": [0.0] * 1_300_000}]}) > MAX_RESPONSE_BYTES  # it would not have fit
    assert refused["statusCode"] == 413 and "6,291,456" in refused["error"] and "direct" in refused["error"]
    fits = zeros.service.handler(ask(1200, 1000), Context())
    assert "statusCode" not in fits and fits["outputs"][0]["shape"] == [1200, 1000]
    assert MAX_RESPONSE_BYTES * 0.9 < sent_bytes(fits) <= MAX_RESPONSE_BYTES
    assert zeros.service.handler(ask(2, 3), Context())["outputs"][0]["data"] == [0.0] * 6


def test_json_escaping_is_counted() -> None:
    # 1.6M double quotes: orjson writes 3.2 MB (under the limit), the proxy response carries 6.4 MB
    with pytest.raises(ResponseTooLarge) as refused:
        json_response(200, {"text": '"' * 1_600_000}, direct=False)
    assert "6,291,456" in refused.value.message
    plain = json_response(200, {"text": "a" * 6_000_000}, direct=False)  # no escapes: fits
    assert sent_bytes(plain) <= MAX_RESPONSE_BYTES
    over = {"text": "a" * 6_291_456}
    with pytest.raises(ResponseTooLarge):
        json_response(200, over, direct=False)


def test_a_huge_request_id_echoed_back_is_413_not_a_function_error(zeros: Client) -> None:
    answer = zeros.infer("fill", ask(2, 3, id="\\" * 2_000_000))  # each backslash goes out as 4 bytes
    assert answer.status == 413 and "6,291,456" in answer.error
