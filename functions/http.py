"""Lambda events in, proxy responses out.

One `Request` view over the four ways a request arrives:
- API Gateway REST API (payload format 1.0): `httpMethod`, `path`, `headers`, `body`;
- API Gateway HTTP API (2.0) and Lambda Function URLs: `requestContext.http.method`, `rawPath`;
- direct invoke (`aws lambda invoke`, SDKs): any other JSON object, taken as the request body of
  the default route, and answered with the plain JSON object (no HTTP envelope).
Bodies may be base64-encoded (`isBase64Encoded`). Header names are matched case-insensitively.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from functions.errors import BadRequest, HTTPError, MethodNotAllowed, PayloadTooLarge

__all__ = ["Request", "parse_event", "json_response", "error_response", "Response"]

Response = dict[str, Any]
_JSON_HEADERS = {"Content-Type": "application/json"}


class Request:
    """method, path, headers (lower-case names), body bytes; `parsed` for direct invokes."""

    __slots__ = ("method", "path", "headers", "body", "direct", "parsed", "size", "query")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes, direct: bool = False,
                 parsed: Any = None, size: int = 0, query: dict[str, str] | None = None) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.direct = direct
        self.parsed = parsed  # the already-decoded JSON object of a direct invoke
        self.size = size  # payload bytes as received
        self.query = query or {}

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def parse_event(event: Any, max_body: int) -> Request:
    """Build the Request view; raise HTTPError for what cannot even be read."""
    if not isinstance(event, dict):
        raise BadRequest(f"event must be a JSON object, got {type(event).__name__}")
    context = event.get("requestContext")
    if "httpMethod" in event:  # REST API, payload 1.0
        method = event["httpMethod"]
        path = event.get("path") or "/"
    elif isinstance(context, dict) and isinstance(context.get("http"), dict):  # 2.0 / URL
        method = context["http"].get("method", "GET")
        path = event.get("rawPath") or context["http"].get("path") or "/"
        stage = context.get("stage")
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
    else:
        return Request(method="POST", path="", headers={}, body=b"", direct=True, parsed=event)

    raw_headers = event.get("headers") or {}
    if event.get("version") == "2.0":  # HTTP API and function URLs send lower-case names already
        headers = raw_headers
    else:
        headers = {str(k).lower(): v for k, v in raw_headers.items()}
    body_field = event.get("body")
    if body_field is None:
        body = b""
    elif event.get("isBase64Encoded"):
        if len(body_field) * 3 // 4 > max_body:
            raise _too_large(len(body_field) * 3 // 4, max_body)
        try:
            body = base64.b64decode(body_field, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("body is marked isBase64Encoded but is not valid base64") from exc
    else:
        body = body_field.encode() if isinstance(body_field, str) else bytes(body_field)
    if len(body) > max_body:
        raise _too_large(len(body), max_body)
    query = event.get("queryStringParameters") or {}
    return Request(
        method=str(method).upper(), path=path, headers=headers, body=body, size=len(body), query=query
    )


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body of {size} bytes is over the {limit}-byte limit (Lambda's 6 MB payload); "
        "send a smaller batch or a binary tensor body"
    )


def json_response(status: int, payload: Any, direct: bool, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    if direct:  # the runtime serializes the return value with json, which knows no numpy
        answer = orjson.loads(body)
        return answer if status < 400 else {**answer, "statusCode": status}
    return {
        "statusCode": status,
        "headers": {**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS,
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def binary_response(header_json: bytes, chunks: list[bytes], direct: bool) -> Response:
    """The v2 binary tensor extension: JSON header then raw output bytes."""
    if direct:
        raise BadRequest("binary outputs need an HTTP request; direct invokes answer JSON")
    body = header_json + b"".join(chunks)
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header_json)),
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def error_response(exc: HTTPError, direct: bool) -> Response:
    headers = None
    if isinstance(exc, MethodNotAllowed):
        headers = {"Allow": ", ".join(exc.allow)}
    return json_response(exc.status, {"error": exc.message}, direct, headers)
