"""Issue 9 (High 2, Medium 3-5, Low 14): hostile tensors are 400s naming what was wrong, never a
crash of the runtime, a 500, or a model fed Python reprs."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from functions.app import Service
from tests.models import identity_model, two_input_folder
from tests.unit.functions.conftest import Client

ROOT = Path(__file__).resolve().parents[3]


def _deep(depth: int, leaf: Any = "x") -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> Client:
    path = identity_model(tmp_path_factory.mktemp("words") / "words.onnx", "BYTES", ["N"])
    return Client(Service(str(path)))


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Client:
    path = identity_model(tmp_path_factory.mktemp("grid") / "grid.onnx", "BYTES")  # [N, 2]
    return Client(Service(str(path)))


def test_deeply_nested_string_element_is_a_400_in_a_real_process(tmp_path: Path) -> None:
    """The segfault of the adversarial run: the handler runs in a child process that must survive."""
    model = identity_model(tmp_path / "words.onnx", "BYTES", ["N"])
    script = f"""
import json, sys
from functions.app import Service
from tests.unit.functions.conftest import Client
client = Client(Service({str(model)!r}))
deep = "x"
for _ in range(900):
    deep = [deep]
answers = [client.request("POST", "/v1/models/words:predict", json.dumps({{"instances": ["x", deep]}})),
           client.infer("words", json.dumps({{"inputs": [{{"name": "x", "datatype": "BYTES", "shape": [2],
                                                              "data": ["x", deep]}}]}}))]
print(json.dumps([[a.status, a.error] for a in answers]))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for status, error in json.loads(done.stdout.splitlines()[-1]):
        assert status == 400, error
        assert "[1]" in error and "list" in error, error


@pytest.mark.parametrize(
    ("data", "words_expected"),
    [
        (["a", None], ("element [1]", "null", "JSON strings")),
        (["a", 3], ("element [1]", "number 3",)),
        (["a", {"k": 1}], ("element [1]", "object",)),
        (["a", True], ("element [1]", "boolean",)),
        ([["a"], "b"], ("deeper than the input's rank 1",)),
        (["a", ["b"]], ("element [1]", "a list of 1")),
        (_deep(5), ("deeper than the input's rank 1",)),
    ],
)
def test_v2_string_elements_must_be_strings(words: Client, data: Any, words_expected: tuple[str, ...]) -> None:
    answer = words.infer("words", {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2], "data": data}]})
    assert answer.status == 400, answer.body
    for word in words_expected:
        assert word in answer.error, answer.error


def test_nested_strings_of_the_right_rank_are_accepted(grid: Client) -> None:
    body = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2, 2], "data": [["a", "b"], ["c", "d"]]}]}
    doc = grid.infer("grid", body).json()
    assert doc["outputs"][0]["data"] == ["a", "b", "c", "d"]
    flat = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2, 2], "data": ["a", "b", "c", "d"]}]}
    assert grid.infer("grid", flat).json()["outputs"][0]["shape"] == [2, 2]
    ragged = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2, 2], "data": [["a", "b"], ["c"]]}]}
    answer = grid.infer("grid", ragged)
    assert answer.status == 400 and "rectangular" in answer.error and "element [1]" in answer.error
    bad = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": [[["a"], ["b"]]]}]}
    answer = grid.infer("grid", bad)
    assert answer.status == 400 and "deeper than the input's rank 2" in answer.error


@pytest.mark.parametrize("instances", [["a", None], ["a", 1.5], ["a", {"b64": "not base64!"}], ["a", ["b"]]])
def test_tf_serving_string_instances(words: Client, instances: list[Any]) -> None:
    answer = words.request("POST", "/v1/models/words:predict", {"instances": instances})
    assert answer.status == 400 and "element [1]" in answer.error, answer.body


def test_binary_strings_reach_the_model_as_text(words: Client) -> None:
    raw = b"".join(struct.pack("<I", len(w)) + w for w in ("héllo".encode(), b"abc"))
    header = json.dumps({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    answer = words.infer("words", header + raw, b64=True, headers={
        "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
    assert answer.status == 200, answer.body
    assert answer.json()["outputs"][0]["data"] == ["héllo", "abc"]  # not "b'abc'"
    bad = struct.pack("<I", 2) + b"\xff\xfe"
    header = json.dumps({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1],
                                     "parameters": {"binary_data_size": len(bad)}}]}).encode()
    answer = words.infer("words", header + bad, b64=True, headers={
        "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
    assert answer.status == 400 and "not valid UTF-8" in answer.error


@pytest.mark.parametrize("field", ["datatype", "name", "shape", "id"])
def test_deeply_nested_fields_are_described_not_echoed(tmp_path: Path, field: str) -> None:
    client = Client(Service(str(two_input_folder(tmp_path / "pair"))))
    tensor: dict[str, Any] = {"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}
    body: dict[str, Any] = {"inputs": [tensor]}
    if field == "id":
        body["id"] = _deep(900)
    else:
        tensor[field] = _deep(900)
    answer = client.infer("pair", body)
    assert answer.status == 400, answer.body
    assert "list of 1" in answer.error and len(answer.error) < 400, answer.error


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(Service(str(two_input_folder(tmp_path_factory.mktemp("pair") / "pair"))))


@pytest.mark.parametrize("rows", [(2, 3), (1, 2), (3, 1)])
def test_inputs_sharing_a_dimension_must_agree(pair: Client, rows: tuple[int, int]) -> None:
    a = np.ones((rows[0], 3), np.float32)
    b = np.ones((rows[1], 3), np.int64)
    v2 = {"inputs": [{"name": "a", "datatype": "FP32", "shape": list(a.shape), "data": a.ravel().tolist()},
                     {"name": "b", "datatype": "INT64", "shape": list(b.shape), "data": b.ravel().tolist()}]}
    answer = pair.infer("pair", v2)
    assert answer.status == 400, answer.body
    assert "share the dimension 'N'" in answer.error and f"{rows[0]} and {rows[1]}" in answer.error
    tf = pair.request("POST", "/v1/models/pair:predict", {"inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert tf.status == 400 and "share the dimension 'N'" in tf.error


@pytest.mark.parametrize("shape", [[-1, 3], [1, -3], [2**62, 2**62], [1] * 40, [1.0, 3], [True, 3]])
def test_bad_shapes_are_400(pair: Client, shape: list[Any]) -> None:
    body = {"inputs": [{"name": "a", "datatype": "FP32", "shape": shape, "data": [1, 2, 3]},
                       {"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
    answer = pair.infer("pair", body)
    assert answer.status == 400 and "'shape' must be a list of non-negative integers" in answer.error, answer.body


@pytest.mark.parametrize("value", ["9223372036854775808", "18446744073709551616", "-9223372036854775809"])
def test_out_of_range_int64_says_so(pair: Client, value: str) -> None:
    body = ('{"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]},'
            '{"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, ' + value + ']}]}')
    answer = pair.infer("pair", body)
    assert answer.status == 400 and "out of range for INT64" in answer.error, answer.body


@pytest.mark.parametrize("data", [[False, 0, 0], [1, True, 3], [[0.5, 1.0, False]]])
def test_booleans_are_not_numbers(pair: Client, data: list[Any]) -> None:
    """Issue 13 #10: numpy folds [false, 0, 0] into integers; the element is named instead."""
    flat = data[0] if isinstance(data[0], list) else data
    body = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": flat},
                       {"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
    answer = pair.infer("pair", body)
    assert answer.status == 400 and "is a boolean" in answer.error, answer.body
    tf = pair.request("POST", "/v1/models/pair:predict", {"inputs": {"a": [[1.0, 2.0, 3.0]], "b": [flat]}})
    assert tf.status == 400 and "is a boolean" in tf.error and "INT64" in tf.error, tf.body


def test_true_in_a_string_does_not_refuse_numbers(pair: Client) -> None:
    body = {"id": "true-false", "inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [0, 1, 2]},
                                           {"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 0, 1]}]}
    assert pair.infer("pair", body).status == 200


def test_a_boolean_deep_in_a_large_body_is_found(pair: Client) -> None:
    """Bodies over 8 KB take the single-byte pre-check: it must still see the boolean."""
    rows = [[0.5, 1.5, 2.5] for _ in range(1000)]
    rows[777][1] = False  # type: ignore[call-overload]
    body = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1000, 3], "data": rows},
                       {"name": "b", "datatype": "INT64", "shape": [1000, 3], "data": [[1, 2, 3]] * 1000}]}
    answer = pair.infer("pair", body)
    assert answer.status == 400 and "element [777][1] is a boolean" in answer.error, answer.body
