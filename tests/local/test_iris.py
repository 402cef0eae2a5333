"""The real handler (`functions.app.handler`) serving the bundled iris model through the local loop.

Every prediction is checked against onnxruntime's own run of the same file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from deployer.local import LocalEndpoint
from tests.local.conftest import IRIS, Recorder

pytestmark = pytest.mark.local

ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 5.1, 1.8], [4.9, 2.4, 3.3, 1.0]],
    dtype=np.float32,
)
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def iris_output() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def iris(iris_output: Recorder) -> Iterator[LocalEndpoint]:
    with LocalEndpoint(IRIS, output=iris_output) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(IRIS / "model.onnx"), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"X": ROWS})
    return {"label": label, "probabilities": probabilities}


def outputs_of(answer: dict[str, Any]) -> dict[str, np.ndarray]:
    return {out["name"]: np.array(out["data"]).reshape(out["shape"]) for out in answer["outputs"]}


def test_v2_infer_matches_onnxruntime(iris: LocalEndpoint, expected: dict[str, np.ndarray]) -> None:
    request = {"inputs": [{"name": "X", "datatype": "FP32", "shape": list(ROWS.shape), "data": ROWS.ravel().tolist()}]}
    response = iris.request("POST", "/v2/models/iris/infer", json.dumps(request).encode(), JSON)
    assert response.status == 200, response.body
    assert response.headers["content-type"] == "application/json"
    got = outputs_of(response.json())
    np.testing.assert_array_equal(got["label"], expected["label"])
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], rtol=1e-6, atol=1e-7)


def test_v2_binary_tensors_travel_base64_both_ways(iris: LocalEndpoint, expected: dict[str, np.ndarray]) -> None:
    raw = ROWS.tobytes()
    header = json.dumps({
        "inputs": [{"name": "X", "datatype": "FP32", "shape": list(ROWS.shape),
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }).encode()  # fmt: skip
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    response = iris.request("POST", "/v2/models/iris/infer", header + raw, headers)
    assert response.status == 200, response.body
    size = int(response.headers["inference-header-content-length"])
    answer = json.loads(response.body[:size])
    (entry,) = answer["outputs"]
    assert entry["parameters"]["binary_data_size"] == expected["probabilities"].nbytes
    probabilities = np.frombuffer(response.body[size:], dtype=np.float32).reshape(entry["shape"])
    np.testing.assert_array_equal(probabilities, expected["probabilities"])


def test_tf_serving_predict_matches_onnxruntime(iris: LocalEndpoint, expected: dict[str, np.ndarray]) -> None:
    response = iris.request("POST", "/v1/models/iris:predict", json.dumps({"instances": ROWS.tolist()}).encode(), JSON)
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    assert [row["label"] for row in predictions] == expected["label"].tolist()
    np.testing.assert_allclose([row["probabilities"] for row in predictions], expected["probabilities"], rtol=1e-6)


def test_metadata_and_health(iris: LocalEndpoint) -> None:
    metadata = iris.request("GET", "/v2/models/iris")
    assert metadata.status == 200
    assert metadata.json()["name"] == "iris"
    assert [i["name"] for i in metadata.json()["inputs"]] == ["X"]
    assert iris.request("GET", "/v2/health/ready").status == 200


def test_handler_errors_keep_their_status(iris: LocalEndpoint) -> None:
    response = iris.request("POST", "/v2/models/iris/infer", b'{"inputs": "nope"}', JSON)
    assert 400 <= response.status < 500
    assert "error" in response.json()
    assert iris.request("GET", "/v2/models/other").status == 404


def test_emf_metrics_reach_the_output(iris: LocalEndpoint, iris_output: Recorder) -> None:
    iris.request("GET", "/v2/health/live")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any('"_aws"' in line for line in iris_output.lines):
        time.sleep(0.01)
    metrics = [json.loads(line) for line in iris_output.lines if line.startswith('{"_aws"')]
    assert metrics, iris_output.lines[-20:]
    assert any("ColdStart" in m for m in metrics)
    assert all(m["_aws"]["CloudWatchMetrics"] for m in metrics)
