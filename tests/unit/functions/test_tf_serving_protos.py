"""TF Serving's status and metadata answers parse with TF Serving's own protos (issue 13 #3).

tensorflow-serving-api is installed without its dependencies (it would pull the full `tensorflow`
wheel beside tensorflow-cpu): `pip install --no-deps tensorflow-serving-api==2.21.0`. Its protos
import tensorflow-cpu's (tensor_shape_pb2, types_pb2, meta_graph_pb2).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.app import Service
from functions.tfserving import version_number
from tests.models import identity_model
from tests.unit.functions.conftest import Client

apis = pytest.importorskip("tensorflow_serving.apis.get_model_metadata_pb2",
                           reason="pip install --no-deps tensorflow-serving-api==2.21.0")
from google.protobuf import json_format, wrappers_pb2  # noqa: E402
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2  # noqa: E402


def test_status_parses_as_get_model_status_response(pair: Client) -> None:
    model = pair.service.model
    assert model is not None and len(model.version) == 12  # the manifest's content hash
    answer = pair.request("GET", "/v1/models/pair")
    assert answer.status == 200
    status = json_format.Parse(answer.body, get_model_status_pb2.GetModelStatusResponse())
    (entry,) = status.model_version_status
    assert entry.version == int(model.version, 16) == version_number(model)
    assert entry.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert entry.status.error_code == 0 and entry.status.error_message == ""


def test_metadata_parses_with_tf_dtypes_and_shapes(pair: Client) -> None:
    model = pair.service.model
    assert model is not None
    answer = pair.request("GET", "/v1/models/pair/metadata")
    assert answer.status == 200
    meta = json_format.Parse(answer.body, get_model_metadata_pb2.GetModelMetadataResponse())
    assert meta.model_spec.name == "pair" and meta.model_spec.version.value == version_number(model)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert meta.metadata["signature_def"].Unpack(signatures)
    sig = signatures.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["a"].dtype == types_pb2.DT_FLOAT and sig.inputs["b"].dtype == types_pb2.DT_INT64
    assert sig.outputs["doubled"].dtype == types_pb2.DT_INT64
    shape = sig.inputs["a"].tensor_shape
    assert not shape.unknown_rank
    assert [(d.size, d.name) for d in shape.dim] == [(-1, "N"), (3, "")]
    content = wrappers_pb2.StringValue()
    assert meta.metadata["content_hash"].Unpack(content) and content.value == model.version
    # ...and the JSON is what TF Serving writes: int64 as strings, dtype names
    doc = answer.json()
    assert doc["model_spec"]["version"] == str(version_number(model))
    assert doc["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["a"]["dtype"] == "DT_FLOAT"


def test_string_tensors_are_dt_string(tmp_path: Path) -> None:
    client = Client(Service(str(identity_model(tmp_path / "words.onnx", "BYTES", ["N"]))))
    meta = json_format.Parse(client.request("GET", "/v1/models/words/metadata").body,
                             get_model_metadata_pb2.GetModelMetadataResponse())
    signatures = get_model_metadata_pb2.SignatureDefMap()
    meta.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["serving_default"].inputs["x"].dtype == types_pb2.DT_STRING
    assert meta.model_spec.version.value == 1  # no manifest: version "1"


def test_versioned_tf_routes_take_the_number(pair: Client) -> None:
    model = pair.service.model
    assert model is not None
    number = version_number(model)
    ok = pair.request("GET", f"/v1/models/pair/versions/{number}")
    assert ok.status == 200 and ok.json()["model_version_status"][0]["version"] == str(number)
    assert pair.request("GET", f"/v1/models/pair/versions/{number}/metadata").status == 200
    body = {"instances": [{"a": [1.0, 2.0, 3.0], "b": [1, 2, 3]}]}
    predicted = pair.request("POST", f"/v1/models/pair/versions/{number}:predict", json.dumps(body))
    assert predicted.status == 200 and predicted.json()["predictions"][0]["doubled"] == [2, 4, 6]
    wrong = pair.request("GET", f"/v1/models/pair/versions/{number + 1}")
    assert wrong.status == 404 and str(number) in wrong.error and model.version in wrong.error
    # the content hash stays KServe's version
    assert pair.request("GET", f"/v2/models/pair/versions/{model.version}").status == 200
    assert pair.request("GET", f"/v1/models/pair/versions/{model.version}").status == 404
