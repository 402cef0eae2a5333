"""Handlers the tests run under the real emulator and runtime client (not collected by pytest).

`handler` answers by path, so one execution environment covers every gateway translation:
an echo of the event it got, a sleep past the timeout, an exception, a crash of the runtime, an
answer that is no proxy response, a binary answer, a printed EMF-like line, memory touched
(`/alloc?mb=N&hold=S`: N MB written, held S seconds, then freed; `keep=1` keeps it). It imports only the
standard library so the tests do not depend on the real handler library.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

ENV_KEYS = (
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_TIMEOUT",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "LAMBDA_TASK_ROOT", "MODEL_PATH", "_HANDLER",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_EC2_METADATA_DISABLED", "AWS_SHARED_CREDENTIALS_FILE", "LOCAL_TEST_EXTRA",
)  # fmt: skip
invocations = 0
kept: list[bytes] = []


def handler(event: dict[str, Any], context: Any) -> Any:
    global invocations
    invocations += 1
    path = event.get("path")
    query = event.get("queryStringParameters") or {}
    if path == "/sleep":
        time.sleep(float(query.get("s", "5")))
    elif path == "/raise":
        raise ValueError("deliberate failure")
    elif path == "/exit":
        os._exit(3)
    elif path == "/not-a-proxy-response":
        return ["not", "a", "proxy", "response"]
    elif path == "/binary":
        body = base64.b64encode(bytes(range(256))).decode()
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"}, "body": body,
                "isBase64Encoded": True}  # fmt: skip
    elif path == "/big":
        return {"statusCode": 200, "body": "z" * int(query.get("n", "7000000"))}
    elif path == "/alloc":
        block = b"\x01" * (int(query.get("mb", "1")) << 20)  # written, so every page is resident
        time.sleep(float(query.get("hold", "0")))
        if query.get("keep"):
            kept.append(block)
        del block
    elif path == "/print":
        print(json.dumps({"_aws": {"CloudWatchMetrics": []}, "marker": query.get("marker")}), flush=True)
    return {
        "statusCode": int(query.get("status", "200")),
        "headers": {"Content-Type": "application/json", "X-Single": "one"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps({
            "event": event,
            "invocations": invocations,
            "pid": os.getpid(),
            "env": {key: os.environ.get(key) for key in ENV_KEYS},
            "remaining_ms": context.get_remaining_time_in_millis(),
        }),
    }  # fmt: skip
