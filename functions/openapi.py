"""The OpenAPI 3.1 document of the routes this handler answers, built on first request."""

from __future__ import annotations

from typing import Any

from functions.model import Model

__all__ = ["document"]

_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema_ref: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


def _op(summary: str, ok: dict[str, Any], body: str | None = None, errors: tuple[int, ...] = (404,)) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **{str(c): _ERROR for c in errors}}}
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return op


def document(model: Model) -> dict[str, Any]:
    n = model.name
    infer_errors = (400, 404, 405, 413, 415, 500, 503)
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string", "enum": [t.name for t in model.inputs]},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "data": {"description": "flat or nested values, or base64 of the raw little-endian bytes"},
            "parameters": {"type": "object"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{n} inference API", "version": model.version},
        "paths": {
            "/v2/health/live": {"get": _op("liveness", _json("Status"), errors=())},
            "/v2/health/ready": {"get": _op("readiness", _json("Status"), errors=(503,))},
            f"/v2/models/{n}": {"get": _op("model metadata (KServe v2)", _json("Object"))},
            f"/v2/models/{n}/ready": {"get": _op("model readiness (KServe v2)", _json("Status"), errors=(404, 503))},
            f"/v2/models/{n}/infer": {"post": _op("inference (KServe v2 / Open Inference Protocol)", _json("InferResponse"), "InferRequest", infer_errors)},
            f"/v1/models/{n}": {"get": _op("model status (TF Serving)", _json("Object"))},
            f"/v1/models/{n}/metadata": {"get": _op("model metadata (TF Serving)", _json("Object"))},
            f"/v1/models/{n}:predict": {"post": _op("predict (TF Serving REST)", _json("Object"), "PredictRequest", infer_errors)},
            "/openapi.json": {"get": _op("this document", _json("Object"), errors=())},
        },
        "components": {
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Status": {"type": "object"},
                "Object": {"type": "object"},
                "InferRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "inputs": {"type": "array", "minItems": 1, "items": tensor},
                        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"]}},
                        "parameters": {"type": "object"},
                    },
                },
                "InferResponse": {
                    "type": "object",
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "PredictRequest": {
                    "type": "object",
                    "properties": {"instances": {"type": "array", "minItems": 1}, "inputs": {}},
                },
            }
        },
    }
