"""The smoke test compares the manifest's expected outputs; it never pretends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployer.deploy.smoke import sample_request, smoke_test

MANIFEST = json.loads((Path(__file__).resolve().parents[3] / "examples/iris/model/manifest.json").read_text())


def answering(outputs: dict[str, Any], status: int = 200) -> Any:
    def send(method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        assert (method, path) == ("POST", "/v2/models/iris/infer")
        return status, json.dumps({"outputs": [{"name": k, "data": v} for k, v in outputs.items()]}).encode()

    return send


def expected() -> dict[str, Any]:
    out = MANIFEST["sample"]["outputs"]
    return {"label": list(out["label"]), "probabilities": [x for row in out["probabilities"] for x in row]}


def test_the_request_is_the_sample_as_v2_json() -> None:
    body = json.loads(sample_request(MANIFEST) or b"")
    (tensor,) = body["inputs"]
    assert (tensor["name"], tensor["datatype"], tensor["shape"]) == ("X", "FP32", [3, 4])
    assert len(tensor["data"]) == 12


def test_matching_outputs_pass() -> None:
    result = smoke_test(answering(expected()), MANIFEST)
    assert result.status == "passed" and result.checked == ("label", "probabilities")


def test_a_difference_fails_and_says_where() -> None:
    wrong = expected()
    wrong["probabilities"][4] += 0.5
    wrong["label"][2] = 1
    result = smoke_test(answering(wrong), MANIFEST)
    assert result.status == "failed"
    assert "label[2]: expected 0, got 1" in result.reason and "probabilities[4]" in result.reason


def test_tiny_float_noise_passes() -> None:
    close = expected()
    close["probabilities"][0] += 1e-7
    assert smoke_test(answering(close), MANIFEST).status == "passed"


def test_an_http_error_fails_with_the_body() -> None:
    result = smoke_test(lambda *a: (503, b'{"error": "model not loaded"}'), MANIFEST)
    assert result.status == "failed" and "503" in result.reason and "model not loaded" in result.reason


def test_no_sample_is_skipped_not_passed() -> None:
    result = smoke_test(answering({}), {**MANIFEST, "sample": None})
    assert result.status == "skipped" and "no sample" in result.reason
