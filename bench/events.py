"""API Gateway (REST, payload 1.0) proxy events and a fake Lambda context for the benchmarks.

Bodies are built the way a client would send them and API Gateway would hand them over:

- ``v2-json``: KServe v2 JSON, ``data`` a flat list of numbers (``json.dumps`` of
  ``ndarray.tolist()``, as ``requests``' ``json=`` would send it).
- ``v2-binary``: the KServe v2 binary tensor extension: JSON header with
  ``parameters.binary_data_size``, then the raw little-endian bytes; header
  ``Inference-Header-Content-Length``; content type ``application/octet-stream``. API Gateway
  delivers binary media types base64-encoded with ``isBase64Encoded: true``.
- ``v2-b64``: KServe v2 JSON whose ``data`` is a base64 string of the raw little-endian bytes.
- ``v1-instances``: TF Serving ``{"instances": [...]}`` (row format).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import numpy as np

from bench.context import FakeContext

__all__ = ["BODY_KINDS", "FakeContext", "make_body", "make_event", "infer_path", "sample_input",
           "response_output"]

BODY_KINDS = ("v2-json", "v2-binary", "v2-b64", "v1-instances")


def infer_path(kind: str, model: str) -> str:
    return f"/v1/models/{model}:predict" if kind == "v1-instances" else f"/v2/models/{model}/infer"


def make_body(kind: str, arr: np.ndarray, input_name: str = "x") -> tuple[bytes, dict[str, str]]:
    """The HTTP body and content headers a client sends for `arr` in the given form."""
    arr = np.ascontiguousarray(arr, dtype="<f4")
    shape = list(arr.shape)
    if kind == "v2-json":
        doc = {"inputs": [{"name": input_name, "datatype": "FP32", "shape": shape,
                           "data": arr.ravel().tolist()}]}
        return json.dumps(doc).encode(), {"Content-Type": "application/json"}
    if kind == "v2-b64":
        doc = {"inputs": [{"name": input_name, "datatype": "FP32", "shape": shape,
                           "data": base64.b64encode(arr.tobytes()).decode("ascii")}]}
        return json.dumps(doc).encode(), {"Content-Type": "application/json"}
    if kind == "v2-binary":
        raw = arr.tobytes()
        header = json.dumps({"inputs": [{"name": input_name, "datatype": "FP32", "shape": shape,
                                         "parameters": {"binary_data_size": len(raw)}}]}).encode()
        return header + raw, {"Content-Type": "application/octet-stream",
                              "Inference-Header-Content-Length": str(len(header))}
    if kind == "v1-instances":
        return json.dumps({"instances": arr.tolist()}).encode(), {"Content-Type": "application/json"}
    raise ValueError(f"unknown body kind {kind!r}; one of {BODY_KINDS}")


def make_event(kind: str, model: str, arr: np.ndarray, input_name: str = "x") -> dict[str, Any]:
    """An API Gateway REST (payload 1.0) proxy event carrying `arr` as an inference request."""
    body, content_headers = make_body(kind, arr, input_name)
    path = infer_path(kind, model)
    headers = {
        "Accept": "application/json",
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "bench/1.0",
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Proto": "https",
        "Content-Length": str(len(body)),
        **content_headers,
    }
    binary = kind == "v2-binary"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "POST",
            "path": "/prod" + path,
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": "abc123",
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "bench/1.0"},
        },
        "body": base64.b64encode(body).decode("ascii") if binary else body.decode(),
        "isBase64Encoded": binary,
    }


def sample_input(shape: tuple[int, ...], seed: int = 7) -> np.ndarray:
    """A deterministic float32 input; values like a normalized image or feature vector."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def response_output(resp: dict[str, Any]) -> np.ndarray | None:
    """The first output tensor of a handler response (KServe v2 or TF Serving), or None."""
    body = resp.get("body")
    if resp.get("isBase64Encoded"):
        body = base64.b64decode(body)
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        return None
    if isinstance(doc, dict) and doc.get("outputs"):
        out = doc["outputs"][0]
        data = out.get("data")
        if isinstance(data, str):
            return np.frombuffer(base64.b64decode(data), "<f4").reshape(out["shape"])
        return np.asarray(data, dtype=np.float32).reshape(out["shape"])
    if isinstance(doc, dict) and "predictions" in doc:
        preds = doc["predictions"]
        if preds and isinstance(preds[0], dict):
            preds = [next(iter(p.values())) for p in preds]
        return np.asarray(preds, dtype=np.float32)
    return None
