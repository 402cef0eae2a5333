"""Issue 13 #12: NaN / Infinity / -Infinity tokens in JSON bodies, with and without ALLOW_NAN.

orjson refuses the tokens; before, a client that sent them (Python's json.dumps writes them) got
"not valid JSON" whatever ALLOW_NAN said. Now: read with ALLOW_NAN, refused by name without.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from functions.app import Service
from functions.tensors import NOT_NONFINITE, Limits, loads_nonfinite
from tests.unit.functions.conftest import Client

REPO = Path(__file__).resolve().parents[3]
IRIS = REPO / "examples" / "iris" / "model"


@pytest.fixture(scope="module")
def nan_pair(pair_dir: Path) -> Client:
    return Client(Service(str(pair_dir), Limits({"ALLOW_NAN": "true"})))


def _v2(a: list[float]) -> str:
    body = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": a},
                       {"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
    return json.dumps(body)  # writes NaN, Infinity, -Infinity as bare tokens


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_v2_tokens_are_read_with_allow_nan(nan_pair: Client, value: float) -> None:
    answer = nan_pair.infer("pair", _v2([1.0, value, 2.0]))
    assert answer.status == 200, answer.body
    total = answer.json()["outputs"][0]["data"]
    assert total[0] == 2.0 and total[2] == 5.0
    middle = total[1]  # orjson writes non-finite floats as null
    assert middle is None


@pytest.mark.parametrize("value,token", [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_v2_tokens_are_refused_by_name_without_allow_nan(pair: Client, value: float, token: str) -> None:
    answer = pair.infer("pair", _v2([1.0, value, 2.0]))
    assert answer.status == 400
    assert answer.error.startswith("NaN is not accepted (set ALLOW_NAN=true")
    assert answer.error.endswith(f"an inference request holds {token}; send finite numbers")


def test_tf_serving_tokens(pair: Client, nan_pair: Client) -> None:
    body = json.dumps({"instances": [{"a": [math.nan, 1.0, 2.0], "b": [1, 2, 3]}]})
    refused = pair.request("POST", "/v1/models/pair:predict", body)
    assert refused.status == 400 and refused.error.startswith("NaN is not accepted")
    read = nan_pair.request("POST", "/v1/models/pair:predict", body)
    assert read.status == 200, read.body
    assert read.json()["predictions"][0]["total"] == [None, 3.0, 5.0]


def test_binary_header_tokens(pair: Client, nan_pair: Client) -> None:
    header = _v2([math.nan, 0.0, 0.0]).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    refused = pair.request("POST", "/v2/models/pair/infer", header, headers=headers, b64=True)
    assert refused.status == 400 and "the JSON header of the binary request holds NaN" in refused.error
    read = nan_pair.request("POST", "/v2/models/pair/infer", header, headers=headers, b64=True)
    assert read.status == 200, read.body


def test_a_token_inside_a_string_of_invalid_json_keeps_the_parser_message(pair: Client) -> None:
    answer = pair.infer("pair", '{"inputs": "NaN" ')
    assert answer.status == 400 and answer.error.startswith("the body is not valid JSON")
    assert loads_nonfinite(b'{"x": "Infinity"', True, "x") is NOT_NONFINITE
    assert loads_nonfinite(b'[1, 2', True, "x") is NOT_NONFINITE


def test_integer_inputs_still_refuse_nan(nan_pair: Client) -> None:
    body = ('{"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]},'
            '{"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, NaN, 3]}]}')
    answer = nan_pair.infer("pair", body)
    assert answer.status == 400 and "input 'b': expected integers" in answer.error


def test_fast_path_never_reaches_the_stdlib_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body orjson parses never calls loads_nonfinite: the retry costs valid requests nothing."""
    import functions.inference as inference

    calls: list[bytes] = []
    monkeypatch.setattr(inference, "loads_nonfinite", lambda *a: calls.append(a[0]) or NOT_NONFINITE)
    service = Client(Service(str(IRIS)))
    body = {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}
    assert service.infer("iris", body).status == 200
    assert service.infer("iris", "{bad").status == 400
    assert calls == [b"{bad"]
    assert np.isnan(loads_nonfinite(b"[NaN]", True, "x")[0])
