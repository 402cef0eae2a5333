"""KServe v2 and TF Serving answers equal onnxruntime's own, over every way tensors arrive."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from functions.app import Service
from functions.tensors import DATATYPE_TO_DTYPE, Limits
from tests.models import identity_model, sample_pair
from tests.unit.functions.conftest import EVENTS, Client


def v2_body(a: np.ndarray, b: np.ndarray, **extra: object) -> dict:
    return {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": list(a.shape), "data": a.ravel().tolist()},
            {"name": "b", "datatype": "INT64", "shape": list(b.shape), "data": b.tolist()},  # nested
        ],
        **extra,
    }


def expected(session: ort.InferenceSession, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    total, doubled = session.run(None, {"a": a, "b": b})
    return {"total": total, "doubled": doubled}


def test_v2_infer_two_inputs_of_different_dtypes(pair: Client, pair_session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=5)
    answer = pair.infer("pair", v2_body(a, b, id="req-7"))
    assert answer.status == 200, answer.body
    doc = answer.json()
    assert doc["model_name"] == "pair" and doc["id"] == "req-7"
    want = expected(pair_session, a, b)
    outputs = {o["name"]: o for o in doc["outputs"]}
    assert outputs["total"]["datatype"] == "FP32" and outputs["total"]["shape"] == [5, 3]
    assert outputs["doubled"]["datatype"] == "INT64"
    np.testing.assert_allclose(np.array(outputs["total"]["data"]).reshape(5, 3), want["total"], rtol=1e-6, atol=1e-6)
    assert np.array_equal(np.array(outputs["doubled"]["data"]).reshape(5, 3), want["doubled"])


def test_v2_output_selection(pair: Client, pair_session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=2)
    doc = pair.infer("pair", v2_body(a, b, outputs=[{"name": "doubled"}])).json()
    assert [o["name"] for o in doc["outputs"]] == ["doubled"]
    assert doc["outputs"][0]["data"] == expected(pair_session, a, b)["doubled"].ravel().tolist()


def test_v2_base64_raw_bytes(pair: Client, pair_session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=3)
    body = {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [3, 3], "data": base64.b64encode(a.tobytes()).decode()},
            {"name": "b", "datatype": "INT64", "shape": [3, 3], "data": base64.b64encode(b.astype("<i8").tobytes()).decode()},
        ]
    }
    doc = pair.infer("pair", body).json()
    total = np.array(doc["outputs"][0]["data"], dtype=np.float32).reshape(3, 3)
    np.testing.assert_allclose(total, expected(pair_session, a, b)["total"], rtol=1e-6)


def binary_request(a: np.ndarray, b: np.ndarray, **extra: object) -> tuple[bytes, dict[str, str]]:
    raw_a, raw_b = a.astype("<f4").tobytes(), b.astype("<i8").tobytes()
    header = json.dumps({
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": list(a.shape), "parameters": {"binary_data_size": len(raw_a)}},
            {"name": "b", "datatype": "INT64", "shape": list(b.shape), "parameters": {"binary_data_size": len(raw_b)}},
        ],
        **extra,
    }).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return header + raw_a + raw_b, headers


def test_v2_binary_tensor_extension_in_and_out(pair: Client, pair_session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=4)
    body, headers = binary_request(a, b, parameters={"binary_data_output": True})
    answer = pair.infer("pair", body, headers=headers, b64=True)
    assert answer.status == 200, answer.body
    size = int(answer.headers["Inference-Header-Content-Length"])
    doc = json.loads(answer.body[:size])
    rest = answer.body[size:]
    want = expected(pair_session, a, b)
    offset = 0
    for out in doc["outputs"]:
        n = out["parameters"]["binary_data_size"]
        arr = np.frombuffer(rest[offset : offset + n], dtype=DATATYPE_TO_DTYPE[out["datatype"]]).reshape(out["shape"])
        offset += n
        np.testing.assert_array_equal(arr, want[out["name"]])
    assert offset == len(rest)


def test_v2_binary_input_json_output(pair: Client, pair_session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=2)
    body, headers = binary_request(a, b)
    doc = pair.infer("pair", body, headers=headers, b64=True).json()
    assert doc["outputs"][1]["data"] == expected(pair_session, a, b)["doubled"].ravel().tolist()


def test_tf_serving_rows_and_columns(pair: Client, pair_session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=3)
    want = expected(pair_session, a, b)
    rows = [{"a": a[i].tolist(), "b": b[i].tolist()} for i in range(3)]
    doc = pair.request("POST", "/v1/models/pair:predict", {"instances": rows}).json()
    assert len(doc["predictions"]) == 3
    for i, pred in enumerate(doc["predictions"]):
        np.testing.assert_allclose(pred["total"], want["total"][i], rtol=1e-6)
        assert pred["doubled"] == want["doubled"][i].tolist()
    doc = pair.request("POST", "/v1/models/pair:predict", {"inputs": {"a": a.tolist(), "b": b.tolist()}}).json()
    np.testing.assert_allclose(doc["outputs"]["total"], want["total"], rtol=1e-6)
    assert doc["outputs"]["doubled"] == want["doubled"].tolist()


@pytest.mark.parametrize("datatype", sorted(DATATYPE_TO_DTYPE))
def test_every_datatype_round_trips(tmp_path: Path, datatype: str) -> None:
    client = Client(Service(str(identity_model(tmp_path / "id.onnx", datatype))))
    dtype = DATATYPE_TO_DTYPE[datatype]
    values = np.array([[0, 1], [1, 0]], dtype=dtype) if datatype == "BOOL" else np.array([[1, 2], [3, 127]], dtype=dtype)
    doc = client.infer("id", {"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 2], "data": values.ravel().tolist()}]}).json()
    assert doc["outputs"][0]["datatype"] == datatype
    assert np.array_equal(np.array(doc["outputs"][0]["data"], dtype=dtype).reshape(2, 2), values)
    raw = values.tobytes()
    header = json.dumps({"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 2], "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    answer = client.infer("id", header + raw, b64=True, headers={
        "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
    assert answer.status == 200, answer.body
    assert answer.body[int(answer.headers["Inference-Header-Content-Length"]):] == raw


def test_bytes_tensors(tmp_path: Path) -> None:
    client = Client(Service(str(identity_model(tmp_path / "words.onnx", "BYTES"))))
    doc = client.infer("words", {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": ["héllo", "onnx"]}]}).json()
    assert doc["outputs"][0] == {"name": "y", "datatype": "BYTES", "shape": [1, 2], "data": ["héllo", "onnx"]}


def test_metadata_and_health_routes(pair: Client) -> None:
    meta = pair.request("GET", "/v2/models/pair").json()
    assert meta["inputs"] == [{"name": "a", "datatype": "FP32", "shape": [-1, 3]}, {"name": "b", "datatype": "INT64", "shape": [-1, 3]}]
    version = meta["versions"][0]
    assert pair.request("GET", f"/v2/models/pair/versions/{version}").status == 200
    assert pair.request("GET", "/v2/models/pair/versions/0").status == 404
    assert pair.request("GET", "/v2/health/live").json() == {"live": True}
    assert pair.request("GET", "/v2/health/ready").json() == {"ready": True}
    assert pair.request("GET", "/v2/models/pair/ready").status == 200
    status = pair.request("GET", "/v1/models/pair").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    tf_meta = pair.request("GET", "/v1/models/pair/metadata").json()
    assert set(tf_meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]) == {"a", "b"}


def test_openapi_document_lists_the_routes(pair: Client) -> None:
    doc = pair.request("GET", "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/v2/models/pair/infer", "/v1/models/pair:predict", "/v2/health/ready"} <= set(doc["paths"])
    assert "post" in doc["paths"]["/v2/models/pair/infer"]


@pytest.mark.parametrize("event_file", ["apigw_rest.json", "http_api.json", "function_url.json"])
def test_event_formats(pair: Client, event_file: str) -> None:
    raw = pair.call(json.loads((EVENTS / event_file).read_text()))
    assert raw["statusCode"] == 200, raw["body"]
    doc = json.loads(raw["body"])
    if "outputs" in doc:  # v2
        assert doc["outputs"][1]["data"] == [20, 40, 60, 80, 100, 120]
    else:  # TF rows
        assert [p["doubled"] for p in doc["predictions"]] == [[20, 40, 60], [80, 100, 120]]


def test_direct_invoke_answers_plain_json(pair: Client) -> None:
    a, b = sample_pair(rows=1)
    doc = pair.call(v2_body(a, b))
    assert doc["outputs"][1]["data"] == (b * 2).ravel().tolist()
    tf = pair.call({"instances": [{"a": a[0].tolist(), "b": b[0].tolist()}]})
    assert tf["predictions"][0]["doubled"] == (b[0] * 2).tolist()
    bad = pair.call({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]})
    assert bad["statusCode"] == 400 and "missing input b" in bad["error"]


def test_bundled_example_answers_like_onnxruntime() -> None:
    folder = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model"
    client = Client(Service(str(folder), Limits({})))
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = manifest["sample"]["inputs"]["X"]
    doc = client.request("POST", "/v1/models/iris:predict", {"instances": rows}).json()
    assert [p["label"] for p in doc["predictions"]] == manifest["sample"]["outputs"]["label"]
