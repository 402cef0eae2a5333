"""The "naive handler" of PERF-NOTES, for orientation only: everything imported eagerly.

boto3, a pydantic request model, Powertools Logger + Metrics + Tracer created at import, the
session built with default options (runtime optimizations on, even for an optimized file),
the body parsed with `json` and validated by pydantic. This is what a first handler usually
looks like; the real one is meant to start much faster.

Tracer() needs the X-Ray SDK (aws-xray-sdk). When it is not installed the Tracer class is
imported but not instantiated, and RESULTS.md says so (PERF-NOTES: ~210 ms more with it).
"""

from __future__ import annotations

import base64
import json
import os

import boto3  # noqa: F401  (eager, as a naive handler does)
import numpy as np
import onnxruntime as ort
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

logger = Logger(service="bench-naive")
metrics = Metrics(namespace="bench", service="bench-naive")
try:
    tracer = Tracer(service="bench-naive")
    TRACER = "instantiated"
except ModuleNotFoundError as exc:  # aws_xray_sdk missing
    tracer = None
    TRACER = f"not instantiated ({exc})"


class InferInput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[float]


class InferRequest(BaseModel):
    inputs: list[InferInput]


_FOLDER = os.environ["MODEL_PATH"]
with open(os.path.join(_FOLDER, "manifest.json")) as _fh:
    MANIFEST = json.load(_fh)
SESSION = ort.InferenceSession(os.path.join(_FOLDER, MANIFEST["model"]["file"]))


@metrics.log_metrics
def handler(event, context):
    logger.info("request", extra={"path": event["path"]})
    if event.get("isBase64Encoded"):  # v2 binary extension
        raw = base64.b64decode(event["body"])
        n = int(event["headers"]["Inference-Header-Content-Length"])
        spec = json.loads(raw[:n])["inputs"][0]
        name, arr = spec["name"], np.frombuffer(raw, np.float32, offset=n).reshape(spec["shape"])
    else:
        req = InferRequest.model_validate(json.loads(event["body"]))
        inp = req.inputs[0]
        name, arr = inp.name, np.asarray(inp.data, dtype=np.float32).reshape(inp.shape)
    out = SESSION.run(None, {name: arr})[0]
    metrics.add_metric(name="Inferences", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"outputs": [{"name": "y", "datatype": "FP32",
                                             "shape": list(out.shape),
                                             "data": out.ravel().tolist()}]}),
            "isBase64Encoded": False}
