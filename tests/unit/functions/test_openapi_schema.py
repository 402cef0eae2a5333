"""GET /openapi.json is a valid OpenAPI 3.1 document, and never looser than the server (issue 13 #8).

Requests are generated from the document by schemathesis (its positive mode: schema-valid path
parameters and JSON bodies; derandomized, a bounded number per model and operation) and sent
through the in-process handler: every one must be answered 200 with a body that matches the
documented response schema. The models cover each kind of value (floats with FP16's narrow range,
integers to UINT64's top, booleans, strings), several inputs sharing a dynamic dimension, two
independent dynamic dimensions and a fully fixed shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode

from functions.app import Service
from functions.openapi import SCHEMA_ROWS
from functions.tensors import Limits
from tests.models import identity_model, two_input_folder
from tests.unit.functions.conftest import Answer, Client

REPO = Path(__file__).resolve().parents[3]
IRIS = REPO / "examples" / "iris" / "model"

# name -> (datatype, shape) of an identity model y = x
IDENTITIES: dict[str, tuple[str, list[int | str]]] = {
    "fp16": ("FP16", ["N", 2]),
    "uint64": ("UINT64", ["N"]),
    "int8": ("INT8", ["N", 2]),
    "bool": ("BOOL", ["N", 2]),
    "bytes": ("BYTES", ["N", 2]),
    "fixed_fp64": ("FP64", [2, 3]),
    "two_dims": ("FP32", ["N", "M"]),
}
MODELS = ["iris", "pair", *IDENTITIES]
EXAMPLES = 25  # per model and POST operation of KServe v2 / TF :predict: 900 requests in all
NEW_EXAMPLES = 10  # per model and POST operation of TorchServe and TF :classify: ~500 more


def operation_count(doc: dict[str, Any]) -> int:
    """16 of KServe v2 / TF Serving, 5 of TorchServe, and TF's :classify twice for models with class scores."""
    return 21 + (2 if "ClassifyRequest" in doc["components"]["schemas"] else 0)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Client]:
    limits = Limits({"MAX_BATCH_SIZE": "64"})
    folder = tmp_path_factory.mktemp("openapi")
    paths = {"iris": str(IRIS), "pair": str(two_input_folder(folder / "pair"))}
    for name, (datatype, shape) in IDENTITIES.items():
        paths[name] = str(identity_model(folder / f"{name}.onnx", datatype, shape))
    return {name: Client(Service(path, limits)) for name, path in paths.items()}


@pytest.fixture(scope="module")
def documents(services: dict[str, Client]) -> dict[str, dict[str, Any]]:
    docs = {}
    for name, client in services.items():
        answer = client.request("GET", "/openapi.json")
        assert answer.status == 200, answer.body
        docs[name] = answer.json()
    return docs


def json_integers(value: Any) -> Any:
    """Integral floats as JSON integers: JSON Schema's "integer" admits 3.0, which the server refuses
    in an integer tensor by design (functions/tensors.py; tritonclient and TF Serving do the same)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [json_integers(item) for item in value]
    if isinstance(value, dict):
        return {key: json_integers(item) for key, item in value.items()}
    return value


def integer_inputs(doc: dict[str, Any]) -> set[str]:
    """Names of the model's inputs whose elements are integers, read from the document."""
    names = set()
    for variant in doc["components"]["schemas"]["PredictRequest"].get("anyOf", [None]):
        variant = variant or doc["components"]["schemas"]["PredictRequest"]
        inputs = variant["properties"].get("inputs")
        if inputs is None:
            continue
        named = next((f for f in inputs.get("oneOf", [inputs]) if f.get("type") == "object"), None)
        for name, tensor in (named or {"properties": {}})["properties"].items():
            while tensor.get("type") == "array":
                tensor = tensor["items"]
            if tensor["$ref"].rsplit(".", 1)[1].startswith(("INT", "UINT")):
                names.add(name)
    return names


def sendable(body: Any, integers: set[str], single: str | None, v2: bool, path: str = "") -> Any:
    """`body` with integral floats written as integers wherever the input is an integer tensor."""
    if integers and (path.startswith("/predictions/") or path.endswith(":classify")):
        return json_integers(body)  # all values: a JSON integer is a valid value of every numeric tensor
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if v2:
        body["inputs"] = [{**item, "data": json_integers(item["data"])} if item.get("name") in integers else item
                          for item in body["inputs"]]
        return body
    for key in ("inputs", "instances"):  # TF Serving: the tensor itself (one input) or keyed by input name
        value = body.get(key)
        if key == "instances" and isinstance(value, list):
            body[key] = [{k: json_integers(v) if k in integers else v for k, v in row.items()}
                         if isinstance(row, dict) else (json_integers(row) if single in integers else row)
                         for row in value]
        elif isinstance(value, dict):
            body[key] = {k: json_integers(v) if k in integers else v for k, v in value.items()}
        elif value is not None and single in integers:
            body[key] = json_integers(value)
    return body


def schema_of(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    """A schema of the document's components, self-contained (its $refs resolve against itself)."""
    return {"$ref": f"#/components/schemas/{ref}", "components": doc["components"]}


def conforms(doc: dict[str, Any], path: str, method: str, answer: Answer) -> None:
    """The answer is one the document describes for that operation and status."""
    responses = doc["paths"][path][method]["responses"]
    entry = responses.get(str(answer.status)) or responses["default"]
    media = answer.headers["Content-Type"]
    assert media in entry["content"], (answer.status, media)
    schema = entry["content"][media]["schema"]
    if media == "application/json":
        jsonschema.validate(answer.json(), {**schema, "components": doc["components"]},
                            cls=jsonschema.Draft202012Validator)
    else:
        size = int(answer.headers["Inference-Header-Content-Length"])
        header = json.loads(answer.body[:size])
        jsonschema.validate(header, schema_of(doc, "InferResponse"), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("model", MODELS)
def test_the_document_is_valid_openapi_3_1(documents: dict[str, dict[str, Any]], model: str) -> None:
    doc = documents[model]
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == operation_count(doc)
    for item in doc["paths"].values():
        for op in item.values():
            assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}


def test_the_document_describes_the_binary_extension_and_versions(documents: dict[str, dict[str, Any]]) -> None:
    doc = documents["iris"]
    infer = doc["paths"]["/v2/models/iris/versions/{version}/infer"]["post"]
    assert "application/octet-stream" in infer["requestBody"]["content"]
    assert "Inference-Header-Content-Length" in infer["requestBody"]["description"]
    assert "Inference-Header-Content-Length" in infer["responses"]["200"]["headers"]
    assert "/v2" in doc["paths"] and "/v1/models/iris/versions/{version}:predict" in doc["paths"]
    version = json.loads((Path(__file__).resolve().parents[3] / "examples/iris/model/manifest.json").read_text())["version"]
    assert doc["components"]["parameters"]["version"]["schema"]["enum"] == [version]
    assert doc["components"]["parameters"]["tfVersion"]["schema"]["enum"] == [str(int(version, 16))]
    assert doc["components"]["schemas"]["value.FP32"] == {
        "type": "number", "minimum": -3.4028234663852886e38, "maximum": 3.4028234663852886e38}


def test_input_items_are_typed_per_input(documents: dict[str, dict[str, Any]]) -> None:
    request = documents["pair"]["components"]["schemas"]["InferRequest"]
    assert len(request["oneOf"]) == SCHEMA_ROWS
    items = request["oneOf"][1]["properties"]["inputs"]["items"]["oneOf"]
    by_name = {item["properties"]["name"]["const"]: item["properties"] for item in items}
    assert by_name["a"]["datatype"] == {"type": "string", "enum": ["FP32"]}
    assert by_name["b"]["datatype"] == {"type": "string", "enum": ["INT64"]}
    assert by_name["b"]["shape"]["const"] == [2, 3]
    fp16 = documents["fp16"]["components"]["schemas"]["value.FP16"]
    assert fp16 == {"type": "number", "minimum": -65504.0, "maximum": 65504.0}


@pytest.mark.parametrize("model", MODELS)
def test_every_schema_valid_request_is_accepted(services: dict[str, Client], documents: dict[str, dict[str, Any]],
                                                model: str) -> None:
    """Each operation, with JSON bodies (the binary extension's body is bytes no schema can describe)."""
    doc = documents[model]
    client = services[model]
    integers = integer_inputs(doc)
    names = [t.name for t in client.service.model.inputs]  # type: ignore[union-attr]
    single = names[0] if len(names) == 1 else None
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == operation_count(doc)
    for operation in operations:
        has_body = operation.method.upper() == "POST"
        strategy = operation.as_strategy(GenerationMode.POSITIVE)
        if has_body:
            strategy = strategy.filter(lambda case: case.media_type == "application/json")

        @settings(max_examples=(EXAMPLES if operation.path.startswith(("/v1", "/v2")) else NEW_EXAMPLES) if has_body else 2, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def accepted(case: Any) -> None:
            v2 = operation.path.startswith("/v2")
            body = json.dumps(sendable(case.body, integers, single, v2, operation.path)) if has_body else None
            answer = client.request(case.method, case.formatted_path, body)
            assert answer.status == 200, (case.method, case.formatted_path, (body or "")[:4000], answer.body[:2000])
            conforms(doc, operation.path, operation.method.lower(), answer)

        accepted()


def test_the_document_describes_torchserve_classify_and_classification(documents: dict[str, dict[str, Any]]) -> None:
    doc = documents["iris"]
    for path in ("/ping", "/predictions/iris", "/predictions/iris/{version}", "/models/iris", "/models/iris/{version}",
                 "/v1/models/iris:classify", "/v1/models/iris/versions/{version}:classify"):
        assert path in doc["paths"], path
    items = doc["components"]["schemas"]["InferRequest"]["oneOf"][0]["properties"]["outputs"]["items"]["oneOf"]
    by_names = {tuple(i["properties"]["name"]["enum"]): i["properties"]["parameters"]["properties"] for i in items}
    assert "classification" in by_names[("probabilities",)] and "classification" not in by_names[("label",)]
    # no class scores (an integer output), or no row format (a fixed first dimension): no :classify
    assert "/v1/models/int8:classify" not in documents["int8"]["paths"]
    assert "/v1/models/fixed_fp64:classify" not in documents["fixed_fp64"]["paths"]
