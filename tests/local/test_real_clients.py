"""Real clients against the real local runtime (issue 13): tritonclient[http] for KServe v2, TF
Serving's protos for its answers, plain HTTP for TorchServe's routes.

The served models are built here with onnx.helper: `alltypes` has one input and one output per
datatype (y_T = x_T, all [N, 2], sharing N), so one request carries every datatype at once, and
through several inputs and outputs; iris (the bundled example) has class labels. Each is served by
`LocalEndpoint` (emulator, runtime client, gateway on loopback), as `serve` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import helper

from deployer.local import LocalEndpoint
from tests.local.conftest import IRIS, Recorder
from tests.models import ONNX_TYPES, _save, write_manifest

pytestmark = pytest.mark.local

httpclient = pytest.importorskip("tritonclient.http", reason="pip install 'tritonclient[http]' (the test extra)")
from tritonclient.utils import InferenceServerException  # noqa: E402

DATATYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
             "FP16", "FP32", "FP64", "BYTES"]
LABELS = ["setosa", "versicolor", "virginica"]
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)


def alltypes_folder(folder: Path) -> Path:
    """x_<T> → y_<T> (Identity) for every datatype T, shape [N, 2], with a manifest (a content hash)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [f"x_{dt.lower()}"], [f"y_{dt.lower()}"]) for dt in DATATYPES],
        "alltypes",
        [helper.make_tensor_value_info(f"x_{dt.lower()}", ONNX_TYPES[dt], ["N", 2]) for dt in DATATYPES],
        [helper.make_tensor_value_info(f"y_{dt.lower()}", ONNX_TYPES[dt], ["N", 2]) for dt in DATATYPES],
    )
    _save(graph, folder / "model.onnx")
    specs = [{"name": f"x_{dt.lower()}", "datatype": dt, "shape": ["N", 2]} for dt in DATATYPES]
    outs = [{"name": f"y_{dt.lower()}", "datatype": dt, "shape": ["N", 2]} for dt in DATATYPES]
    write_manifest(folder, "alltypes", specs, outs)
    return folder


def sample(datatype: str) -> np.ndarray:
    """Two rows of `datatype` that reach its range's ends (and non-ASCII text for BYTES)."""
    if datatype == "BYTES":
        return np.array([["hello", "wörld"], ["", "a:b"]], dtype=object)
    if datatype == "BOOL":
        return np.array([[True, False], [False, True]])
    dtype = np.dtype(httpclient.triton_to_np_dtype(datatype))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array([[info.min, info.max], [0, 1]], dtype)
    return np.array([[0.5, -1.25], [float(np.finfo(dtype).max), 3.0]], dtype)


@pytest.fixture(scope="module")
def alltypes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    folder = alltypes_folder(tmp_path_factory.mktemp("alltypes"))
    with LocalEndpoint(folder, output=Recorder()) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def iris() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(IRIS, output=Recorder()) as endpoint:
        yield endpoint


def client(endpoint: LocalEndpoint) -> Any:
    return httpclient.InferenceServerClient(url=f"127.0.0.1:{endpoint.port}", network_timeout=30)


def version_of(endpoint: LocalEndpoint, name: str) -> str:
    return json.loads(endpoint.request("GET", f"/v2/models/{name}").body)["versions"][0]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_every_datatype_through_tritonclient(alltypes: LocalEndpoint, binary: bool) -> None:
    triton = client(alltypes)
    inputs = []
    for dt in DATATYPES:
        item = httpclient.InferInput(f"x_{dt.lower()}", [2, 2], dt)
        item.set_data_from_numpy(sample(dt), binary_data=binary)
        inputs.append(item)
    outputs = [httpclient.InferRequestedOutput(f"y_{dt.lower()}", binary_data=binary) for dt in DATATYPES]
    result = triton.infer("alltypes", inputs, outputs=outputs)
    for dt in DATATYPES:
        got = result.as_numpy(f"y_{dt.lower()}")
        want = sample(dt)
        assert got.shape == (2, 2), dt
        if dt == "BYTES":  # binary answers are bytes, JSON answers text: the same strings either way
            assert [[x.decode() if isinstance(x, bytes) else x for x in row] for row in got] == want.tolist()
        else:
            assert got.dtype == want.dtype, dt
            np.testing.assert_array_equal(got, want, err_msg=dt)
    answer = result.get_response()
    assert answer["model_name"] == "alltypes" and answer["model_version"] == version_of(alltypes, "alltypes")


def test_versioned_routes_and_metadata(alltypes: LocalEndpoint) -> None:
    triton = client(alltypes)
    version = version_of(alltypes, "alltypes")
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("alltypes", model_version=version)
    server = triton.get_server_metadata()
    assert server["name"] == "onnx-lambda-deployer" and {"binary_tensor_data", "classification"} <= set(server["extensions"])
    meta = triton.get_model_metadata("alltypes", model_version=version)
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        (f"x_{dt.lower()}", dt, [-1, 2]) for dt in DATATYPES]
    item = httpclient.InferInput("x_int32", [1, 2], "INT32")
    item.set_data_from_numpy(np.array([[1, 2]], np.int32))
    others = []
    for dt in DATATYPES:
        if dt != "INT32":
            other = httpclient.InferInput(f"x_{dt.lower()}", [1, 2], dt)
            other.set_data_from_numpy(sample(dt)[:1])
            others.append(other)
    wanted = [httpclient.InferRequestedOutput("y_int32")]
    result = triton.infer("alltypes", [item, *others], model_version=version, outputs=wanted)
    np.testing.assert_array_equal(result.as_numpy("y_int32"), [[1, 2]])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["y_int32"]  # only what was asked
    with pytest.raises(InferenceServerException, match="unknown version"):
        triton.infer("alltypes", [item, *others], model_version="0000", outputs=wanted)


def test_gzip_requests(alltypes: LocalEndpoint) -> None:
    triton = client(alltypes)
    inputs = []
    for dt in DATATYPES:
        item = httpclient.InferInput(f"x_{dt.lower()}", [2, 2], dt)
        item.set_data_from_numpy(sample(dt), binary_data=True)
        inputs.append(item)
    result = triton.infer("alltypes", inputs, outputs=[httpclient.InferRequestedOutput("y_fp64")],
                          request_compression_algorithm="gzip")
    np.testing.assert_array_equal(result.as_numpy("y_fp64"), sample("FP64"))


def test_errors_reach_tritonclient_as_messages(alltypes: LocalEndpoint) -> None:
    item = httpclient.InferInput("x_fp32", [2, 2], "FP64")  # the wrong datatype for x_fp32
    item.set_data_from_numpy(sample("FP64"))
    with pytest.raises(InferenceServerException, match="expected datatype FP32, got 'FP64'"):
        client(alltypes).infer("alltypes", [item])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_classification_through_tritonclient(iris: LocalEndpoint, binary: bool) -> None:
    triton = client(iris)
    item = httpclient.InferInput("X", list(ROWS.shape), "FP32")
    item.set_data_from_numpy(ROWS, binary_data=binary)
    plain = triton.infer("iris", [item]).as_numpy("probabilities")
    result = triton.infer("iris", [item], outputs=[
        httpclient.InferRequestedOutput("probabilities", binary_data=binary, class_count=2),
        httpclient.InferRequestedOutput("label", binary_data=binary)])
    classes = result.as_numpy("probabilities")
    assert classes.shape == (2, 2)
    for scores, top in zip(plain, classes):
        parts = [(x.decode() if isinstance(x, bytes) else x).split(":") for x in top]
        order = np.argsort(-scores)[:2]
        assert [(int(i), label) for _, i, label in parts] == [(int(i), LABELS[i]) for i in order]
        assert [float(v) for v, _, _ in parts] == pytest.approx(scores[order], abs=1e-6)
    np.testing.assert_array_equal(result.as_numpy("label"), [0, 2])  # unasked outputs unchanged


# TF Serving: answers parsed with its own protos (tensorflow-serving-api, installed --no-deps by ./dev).
def _tf() -> Any:
    pytest.importorskip("tensorflow_serving.apis.classification_pb2",
                        reason="pip install --no-deps tensorflow-serving-api==2.21.0")
    from google.protobuf import json_format
    from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,  # noqa: F401
                                         get_model_status_pb2)

    return json_format, classification_pb2, get_model_metadata_pb2, get_model_status_pb2


def test_tf_serving_answers_parse_with_its_protos(iris: LocalEndpoint) -> None:
    json_format, classification_pb2, metadata_pb2, status_pb2 = _tf()
    status = json_format.Parse(iris.request("GET", "/v1/models/iris").body, status_pb2.GetModelStatusResponse())
    (entry,) = status.model_version_status
    number = entry.version
    assert entry.state == status_pb2.ModelVersionStatus.AVAILABLE
    answer = iris.request("GET", f"/v1/models/iris/versions/{number}/metadata")
    metadata = json_format.Parse(answer.body, metadata_pb2.GetModelMetadataResponse())
    assert metadata.model_spec.name == "iris" and metadata.model_spec.version.value == number

    body = json.dumps({"signature_name": "serving_default", "examples": [{"X": row} for row in ROWS.tolist()]})
    answer = iris.request("POST", f"/v1/models/iris/versions/{number}:classify", body.encode(),
                          {"Content-Type": "application/json"})
    assert answer.status == 200, answer.body
    results = json.loads(answer.body)["results"]
    response = json_format.ParseDict(
        {"result": {"classifications": [{"classes": [{"label": label, "score": score} for label, score in r]}
                                        for r in results]}},
        classification_pb2.ClassificationResponse())
    assert [[c.label for c in k.classes] for k in response.result.classifications] == [LABELS, LABELS]
    best = [max(k.classes, key=lambda c: c.score).label for k in response.result.classifications]
    assert best == ["setosa", "virginica"]

    predict = iris.request("POST", "/v1/models/iris:predict", json.dumps({"instances": ROWS.tolist()}).encode(),
                           {"Content-Type": "application/json"})
    assert [p["label"] for p in json.loads(predict.body)["predictions"]] == [0, 2]


def test_torchserve_routes(iris: LocalEndpoint) -> None:
    headers = {"Content-Type": "application/json"}
    assert json.loads(iris.request("GET", "/ping").body) == {"status": "Healthy"}
    (described,) = json.loads(iris.request("GET", "/models/iris").body)
    version = described["modelVersion"]
    assert described["modelName"] == "iris" and described["workers"][0]["status"] == "READY"
    one = iris.request("POST", "/predictions/iris", json.dumps(ROWS[0].tolist()).encode(), headers)
    assert one.status == 200 and json.loads(one.body)["label"] == 0
    batch = iris.request("POST", f"/predictions/iris/{version}", json.dumps({"data": ROWS.tolist()}).encode(), headers)
    assert [p["label"] for p in json.loads(batch.body)] == [0, 2]
