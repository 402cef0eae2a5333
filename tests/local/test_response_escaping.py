"""A large non-ASCII answer is a 413 from the handler, never the runtime's ResponseSizeTooLarge.

awslambdaric writes non-ASCII as \\uXXXX escapes unless the runtime is python3.12+ (its Encoder
reads AWS_EXECUTION_ENV), so 1.1 M characters of "é" are 6.6 MB on the wire although 2.2 MB as
UTF-8. Found by the fuzz tier (words model, seed 4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.local import LocalEndpoint
from tests.models import identity_model, write_manifest

pytestmark = pytest.mark.local


def test_large_non_ascii_answer_is_413_and_the_runtime_keeps_running(tmp_path: Path) -> None:
    folder = tmp_path / "words"
    identity_model(folder / "model.onnx", "BYTES", ["N", 2])
    spec = [{"name": "x", "datatype": "BYTES", "shape": [-1, 2]}]
    write_manifest(folder, "words", spec, [{"name": "y", "datatype": "BYTES", "shape": [-1, 2]}])
    body = json.dumps({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": ["é" * 1_100_000, "x"]}]},
                      ensure_ascii=False).encode()  # fmt: skip
    with LocalEndpoint(folder) as endpoint:
        answer = endpoint.request("POST", "/v2/models/words/infer", body, {"Content-Type": "application/json"})
        assert answer.status == 413, answer.body[:300]
        assert "over" in answer.json()["error"]
        small = json.dumps({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": ["é", "x"]}]}).encode()
        again = endpoint.request("POST", "/v2/models/words/infer", small, {"Content-Type": "application/json"})
        assert again.status == 200 and again.json()["outputs"][0]["data"] == ["é", "x"]
        assert sum("Runtime exited" in line for line in endpoint.recent_output(200)) == 0
