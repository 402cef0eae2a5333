"""A stand-in for `functions.app`, used only when the real handler cannot be imported.

It speaks the same subset of the protocol the benchmarks send (v2 JSON, v2 binary extension,
v2 base64 raw bytes, v1 instances) and loads the model folder named by ``MODEL_PATH`` the way
the design asks (at the runtime graph optimization level the manifest names). Results produced
against it are labelled "stub" in RESULTS.md and say nothing about the real handler.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

_FOLDER = os.environ["MODEL_PATH"]
with open(os.path.join(_FOLDER, "manifest.json"), "rb") as _fh:
    MANIFEST = json.loads(_fh.read())
_opts = ort.SessionOptions()
_runtime = MANIFEST.get("runtime") or {}
_level = _runtime.get("graph_optimization_level") or ("disable_all" if _runtime.get("optimized") else "all")
_opts.graph_optimization_level = {"disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[_level]
SESSION = ort.InferenceSession(os.path.join(_FOLDER, MANIFEST["model"]["file"]), _opts,
                               providers=["CPUExecutionProvider"])
_NAME = MANIFEST["name"]
_OUT_NAMES = [o.name for o in SESSION.get_outputs()]


def _reply(status: int, doc: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            "isBase64Encoded": False}


def _header(headers: dict[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def make_handler(session: ort.InferenceSession) -> Any:
    """The minimal handler over `session` (the bench times it on the handler's own session, and on
    a default session on the model's original file)."""
    out_names = [o.name for o in session.get_outputs()]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return _handle(session, out_names, event)

    return handler


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handle(SESSION, _OUT_NAMES, event)


def _handle(session: ort.InferenceSession, out_names: list[str], event: dict[str, Any]) -> dict[str, Any]:
    path = event.get("path", "")
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = event.get("headers") or {}
    if path == f"/v1/models/{_NAME}:predict":
        arr = np.asarray(orjson.loads(raw)["instances"], dtype=np.float32)
        (y,) = session.run(out_names[:1], {"x": arr})
        return _reply(200, {"predictions": y})
    if path != f"/v2/models/{_NAME}/infer":
        return _reply(404, {"error": f"no route {path}"})
    hlen = _header(headers, "inference-header-content-length")
    if hlen is not None:
        n = int(hlen)
        doc = orjson.loads(raw[:n])
        spec = doc["inputs"][0]
        arr = np.frombuffer(raw, "<f4", offset=n).reshape(spec["shape"])
    else:
        doc = orjson.loads(raw)
        spec = doc["inputs"][0]
        data = spec["data"]
        if isinstance(data, str):
            arr = np.frombuffer(base64.b64decode(data), "<f4").reshape(spec["shape"])
        else:
            arr = np.asarray(data, dtype=np.float32).reshape(spec["shape"])
    outs = session.run(out_names, {spec["name"]: arr})
    return _reply(200, {"model_name": _NAME, "outputs": [
        {"name": n, "datatype": "FP32", "shape": list(o.shape), "data": o.ravel()}
        for n, o in zip(out_names, outs)]})
