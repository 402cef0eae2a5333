"""Every handled bad input gets its status and a JSON error that says what was expected and what came;
the handler keeps answering afterwards."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest

from tests.unit.functions.conftest import Client


def good(rows: int = 1) -> dict:
    return {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [rows, 3], "data": [0.5] * (3 * rows)},
            {"name": "b", "datatype": "INT64", "shape": [rows, 3], "data": [1] * (3 * rows)},
        ]
    }


def with_input(name: str, **changes: object) -> dict:
    body = good()
    for tensor in body["inputs"]:
        if tensor["name"] == name:
            tensor.update(changes)
    return body


CASES = [
    # (id, method, path, body, headers, status, words in the error)
    ("non-json", "POST", "/v2/models/pair/infer", "this is not json", None, 400, ["not valid JSON"]),
    ("empty body", "POST", "/v2/models/pair/infer", "", None, 400, ["empty"]),
    ("json array", "POST", "/v2/models/pair/infer", "[1, 2]", None, 400, ["JSON object", "list"]),
    ("content type", "POST", "/v2/models/pair/infer", json.dumps(good()), {"Content-Type": "text/plain"}, 415, ["text/plain", "application/json"]),
    ("form content type", "POST", "/v1/models/pair:predict", "a=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, ["application/json"]),
    ("unknown model", "POST", "/v2/models/nope/infer", json.dumps(good()), None, 404, ["nope", "pair"]),
    ("unknown tf model", "GET", "/v1/models/nope", None, None, 404, ["nope"]),
    ("unknown route", "GET", "/v3/whatever", None, None, 404, ["/v3/whatever"]),
    ("wrong method", "GET", "/v2/models/pair/infer", None, None, 405, ["GET", "POST"]),
    ("wrong method tf", "PUT", "/v1/models/pair:predict", "{}", None, 405, ["PUT"]),
    ("regress not served", "POST", "/v1/models/pair:regress", "{}", None, 404, [":regress", ":predict", ":classify"]),
    ("missing input", "POST", "/v2/models/pair/infer", json.dumps({"inputs": good()["inputs"][:1]}), None, 400, ["missing input b", "INT64"]),
    ("unknown input", "POST", "/v2/models/pair/infer",
     json.dumps({"inputs": good()["inputs"] + [{"name": "c", "datatype": "FP32", "shape": [1], "data": [1]}]}), None, 400, ["unknown input 'c'", "a (FP32"]),
    ("duplicate input", "POST", "/v2/models/pair/infer", json.dumps({"inputs": good()["inputs"] + good()["inputs"][:1]}), None, 400, ["twice"]),
    ("wrong shape", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", shape=[1, 4], data=[1, 2, 3, 4])), None, 400, ["expected [-1, 3]", "got [1, 4]"]),
    ("wrong rank", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", shape=[3], data=[1, 2, 3])), None, 400, ["expected [-1, 3]", "got [3]"]),
    ("shape vs data", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", shape=[2, 3])), None, 400, ["6 elements", "data has 3"]),
    ("strings in fp32", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", data=["x", "y", "z"])), None, 400, ["expected numbers", "FP32", "strings"]),
    ("numeric strings in fp32", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", data=["1", "2", "3"])), None, 400, ["strings"]),
    ("null in fp32", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", data=[1, None, 3])), None, 400, ["FP32"]),
    ("floats in int64", "POST", "/v2/models/pair/infer", json.dumps(with_input("b", data=[1.5, 2, 3])), None, 400, ["integers", "INT64"]),
    ("wrong datatype", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", datatype="INT64")), None, 400, ["expected datatype FP32", "INT64"]),
    ("ragged", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", data=[[1, 2, 3], [4, 5]], shape=[2, 3])), None, 400, ["rectangular"]),
    ("bad shape type", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", shape="1x3")), None, 400, ["shape"]),
    ("no data", "POST", "/v2/models/pair/infer", json.dumps({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3]}, good()["inputs"][1]]}), None, 400, ["no 'data'"]),
    ("bad base64", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", data="not*base64")), None, 400, ["base64"]),
    ("base64 wrong size", "POST", "/v2/models/pair/infer", json.dumps(with_input("a", data=base64.b64encode(b"12345").decode())), None, 400, ["5 bytes", "FP32"]),
    ("empty batch", "POST", "/v2/models/pair/infer", json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [0, 3], "data": []}, {"name": "b", "datatype": "INT64", "shape": [0, 3], "data": []}]}), None, 400, ["empty"]),
    ("empty tf instances", "POST", "/v1/models/pair:predict", json.dumps({"instances": []}), None, 400, ["empty"]),
    ("no inputs", "POST", "/v2/models/pair/infer", json.dumps({"inputs": []}), None, 400, ["non-empty list"]),
    ("unknown output", "POST", "/v2/models/pair/infer", json.dumps({**good(), "outputs": [{"name": "zzz"}]}), None, 400, ["unknown output 'zzz'"]),
    ("tf both formats", "POST", "/v1/models/pair:predict", json.dumps({"instances": [1], "inputs": [1]}), None, 400, ["exactly one"]),
    ("tf missing input", "POST", "/v1/models/pair:predict", json.dumps({"instances": [{"a": [1, 2, 3]}]}), None, 400, ["missing input 'b'"]),
    ("tf unknown input", "POST", "/v1/models/pair:predict", json.dumps({"inputs": {"a": [[1, 2, 3]], "b": [[1, 2, 3]], "q": 1}}), None, 400, ["unknown input 'q'"]),
    ("binary no header", "POST", "/v2/models/pair/infer", "xxxx", {"Content-Type": "application/octet-stream"}, 400, ["Inference-Header-Content-Length"]),
    ("binary header too long", "POST", "/v2/models/pair/infer", "{}", {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": "99"}, 400, ["99", "2 bytes"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(pair: Client, case: tuple) -> None:
    _, method, path, body, headers, status, words = case
    answer = pair.request(method, path, body, headers=headers)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    message = answer.error
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Traceback" not in message
    # and the environment keeps answering
    assert pair.infer("pair", good()).status == 200


def test_nan_refused_unless_allowed(pair: Client) -> None:
    a = np.array([[np.nan, 1, 2]], dtype="<f4")
    body = with_input("a", data=base64.b64encode(a.tobytes()).decode())
    answer = pair.infer("pair", body)
    assert answer.status == 400 and "NaN" in answer.error


def test_json_overflow_to_infinity_refused(pair: Client) -> None:
    answer = pair.infer("pair", json.dumps(with_input("a", data=[1e999, 1, 2])))
    assert answer.status == 400


def test_body_over_six_megabytes_is_413(pair: Client) -> None:
    body = json.dumps(with_input("a", data=[0.123456789] * 3)) + " " * (6 * 1024 * 1024)
    answer = pair.infer("pair", body)
    assert answer.status == 413 and "6 MB" in answer.error
    b64 = pair.infer("pair", body.encode(), b64=True)
    assert b64.status == 413


def test_batch_over_the_cap_is_413(pair: Client) -> None:
    answer = pair.infer("pair", good(rows=65))  # the fixture caps at 64
    assert answer.status == 413 and "65" in answer.error and "64" in answer.error
    assert pair.infer("pair", good(rows=64)).status == 200


def test_deep_nesting_is_refused_fast(pair: Client) -> None:
    body = "[" * 50_000 + "]" * 50_000
    started = time.perf_counter()
    answer = pair.infer("pair", '{"inputs": ' + body + "}")
    assert time.perf_counter() - started < 1.0
    assert answer.status == 400
    nested = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": json.loads("[" * 500 + "1" + "]" * 500)}]}
    assert pair.infer("pair", nested).status == 400


def test_model_failure_is_500_without_traceback(tmp_path) -> None:
    from functions.app import Service
    from tests.models import two_input_folder

    # a batch mismatch between a and b passes the per-input checks and fails inside onnxruntime
    client = Client(Service(str(two_input_folder(tmp_path))))
    body = {"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [2, 3], "data": [1] * 6},
        {"name": "b", "datatype": "INT64", "shape": [3, 3], "data": [1] * 9},
    ]}
    answer = client.infer("pair", body)
    assert answer.status in (400, 500)
    assert "Traceback" not in answer.error and "File \"" not in answer.error
    assert client.infer("pair", good()).status == 200


def test_base64_body_marked_but_invalid(pair: Client) -> None:
    from tests.unit.functions.conftest import rest_event

    event = rest_event("POST", "/v2/models/pair/infer", "@@@not base64@@@")
    event["isBase64Encoded"] = True
    raw = pair.call(event)
    assert raw["statusCode"] == 400 and "base64" in json.loads(raw["body"])["error"]


def test_non_object_event_is_refused(pair: Client) -> None:
    raw = pair.call(["not", "an", "object"])
    assert raw["statusCode"] == 400
