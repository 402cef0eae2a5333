"""Issue 9 fuzz finding: a body with a byte that is not UTF-8 was refused as "str is not valid
UTF-8: surrogates not allowed: line 1 column 1 (char 0)" (orjson's words, at char 0 wherever the
byte was). The binary request's JSON header now names the byte and its offset."""

from __future__ import annotations

import json

import orjson
import pytest

from functions.tensors import json_error
from tests.unit.functions.conftest import Client


def _error(raw: bytes) -> str:
    with pytest.raises(orjson.JSONDecodeError) as caught:
        orjson.loads(raw)
    return json_error(raw, caught.value)


def test_the_bad_byte_is_named() -> None:
    assert _error(b'{"inputs": "\xb0"}') == r"not UTF-8: byte 12 is b'\xb0'"


def test_other_errors_keep_orjson_words() -> None:
    assert _error(b'{"inputs": ').startswith("unexpected end of data")


def test_binary_header_with_a_bad_byte(pair: Client) -> None:
    header = json.dumps({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3],
                                     "parameters": {"binary_data_size": 12}}]}).encode().replace(b'"a"', b'"\xff"')
    answer = pair.request("POST", "/v2/models/pair/infer", header + bytes(12), b64=True,
                          headers={"Content-Type": "application/octet-stream",
                                   "Inference-Header-Content-Length": str(len(header))})
    assert answer.status == 400
    assert answer.error == ("the JSON header of the binary request is not valid JSON (not UTF-8: byte 22 is "
                            "b'\\xff')")
