"""An AWS-sample-style handler: the peer issue 12 compares cold start against.

What the AWS samples for ONNX on Lambda do, and what a user writes first: import onnxruntime and
json, create the session at import with onnxruntime's defaults, parse the event body, run,
return JSON. No validation, no metrics, no logs. It reads the bench's two first-request forms
(v2 JSON `data` list; the v2 binary extension for the ResNet and the CNN, where a JSON body would
charge the sample ~20 ms of decoding that ours would not pay either).
"""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import onnxruntime

_FOLDER = os.environ["MODEL_PATH"]
SESSION = onnxruntime.InferenceSession(os.path.join(_FOLDER, "model.onnx"))
_INPUT = SESSION.get_inputs()[0].name


def handler(event, context):
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(event["body"])
        size = int({k.lower(): v for k, v in event["headers"].items()}["inference-header-content-length"])
        spec = json.loads(raw[:size])["inputs"][0]
        data = np.frombuffer(raw, np.float32, offset=size).reshape(spec["shape"])
    else:
        spec = json.loads(event["body"])["inputs"][0]
        data = np.array(spec["data"], dtype=np.float32).reshape(spec["shape"])
    result = SESSION.run(None, {_INPUT: data})
    return {"statusCode": 200, "body": json.dumps({"outputs": [r.tolist() for r in result]})}
