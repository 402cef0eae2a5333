"""Issue 9 fuzz finding: UINT64 values from 2**63 to 2**64-1 are valid, but numpy reads a JSON list
holding one as float64, so the request was refused as "values out of range for UINT64" (and read
as floats the values would have lost their low bits). They are now read exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.app import Service
from tests.models import identity_model
from tests.unit.functions.conftest import Client

BIG = [[0, 2**63], [2**64 - 1, 12345678901234567891]]


@pytest.fixture(scope="module")
def u64(tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(Service(str(identity_model(tmp_path_factory.mktemp("u64") / "u64.onnx", "UINT64"))))


def test_v2_upper_half_of_uint64_is_exact(u64: Client) -> None:
    answer = u64.infer("u64", {"inputs": [{"name": "x", "datatype": "UINT64", "shape": [2, 2], "data": BIG}]})
    assert answer.status == 200, answer.body
    assert answer.json()["outputs"][0]["data"] == [v for row in BIG for v in row]


def test_tf_serving_upper_half_of_uint64_is_exact(u64: Client) -> None:
    answer = u64.request("POST", "/v1/models/u64:predict", json.dumps({"instances": BIG}))
    assert answer.status == 200, answer.body
    assert answer.json()["predictions"] == BIG


@pytest.mark.parametrize(("data", "words"), [
    ([[0, 2**64]], "values out of range for UINT64"),
    ([[-1, 2**64 - 1]], "values out of range for UINT64"),
    ([[1.5, 2**64 - 1]], "expected non-negative integers for datatype UINT64"),
    ([["1", 2**64 - 1]], "expected non-negative integers for datatype UINT64"),
])
def test_what_is_not_a_uint64_is_still_refused(u64: Client, data: list, words: str) -> None:
    answer = u64.infer("u64", {"inputs": [{"name": "x", "datatype": "UINT64", "shape": [1, 2], "data": data}]})
    assert answer.status == 400 and words in answer.error, answer.body


@pytest.mark.parametrize("depth", [33, 40, 64])
def test_deep_lists_of_nulls_in_an_integer_tensor_are_a_400(u64: Client, depth: int) -> None:
    """The fuzzer's follow-up: `[[...[null]...]]` 33 deep made the exact re-reading iterate an array
    of more dimensions than numpy iterates (a 500 with a RuntimeError)."""
    data: object = None
    for _ in range(depth):
        data = [data]
    answer = u64.infer("u64", {"inputs": [{"name": "x", "datatype": "UINT64", "shape": [1, 2], "data": data}]})
    assert answer.status == 400, answer.body
