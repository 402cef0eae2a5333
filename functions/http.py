"""Lambda events in, proxy responses out.

One `Request` view over the four ways a request arrives:
- API Gateway REST API (payload format 1.0): `httpMethod`, `path`, `headers`, `body`;
- API Gateway HTTP API (2.0) and Lambda Function URLs: `requestContext.http.method`, `rawPath`;
- direct invoke (`aws lambda invoke`, SDKs): any other JSON object, taken as the request body of
  the default route, and answered with the plain JSON object (no HTTP envelope).
Bodies may be base64-encoded (`isBase64Encoded`). Header names are matched case-insensitively.

Responses over Lambda's synchronous response payload limit (6,291,456 bytes) make the invocation
fail (Function.ResponseSizeTooLarge), API Gateway answer 502 and Lambda reset the environment. So
`json_response` and `binary_response` measure the answer as the runtime will serialize it and raise
`ResponseTooLarge` (413, with the size, the limit and what to do) instead. The measure is the
length of the body already encoded, never a second encoding:
- a JSON body rides as a JSON string in the proxy response: its bytes plus one escape byte per
  double quote and backslash (orjson leaves no control character raw; non-ASCII counts as UTF-8,
  which is what awslambdaric writes on the python3.12+ runtimes, `ensure_ascii=False`). On the
  others (its Encoder reads AWS_EXECUTION_ENV) it writes non-ASCII as escapes (backslash, u, 4 hex digits), up to 6 bytes for one
  character of 2: the body is measured as that JSON string exactly (`json.dumps`, one C pass). The
  counts run only for a body over half the limit (a third with escapes): below, escaping cannot reach it;
- a binary body is base64: 4 * ceil(n / 3), known before encoding, so an answer too large is
  refused without spending the base64 pass on it;
- a direct invoke returns the object itself, which the runtime re-serializes with its own
  separators (", " and ": " where orjson writes "," and ":") and exponents ("1e-07" for orjson's
  "1e-7"): at most 1.5 times orjson's bytes (a list of one-digit numbers), so under half the
  limit it cannot reach it; above, it is measured with `json.dumps` (what simplejson writes).
Plus `_ENVELOPE` bytes for the status, headers and flags around the body.
For an answer under ~3 MB the check is one `len` and a comparison.
"""

from __future__ import annotations

import binascii
import json
import os
from typing import Any

import orjson

from functions.errors import BadRequest, HTTPError, MethodNotAllowed, PayloadTooLarge, ResponseTooLarge

__all__ = ["Request", "parse_event", "json_response", "binary_response", "error_response", "Response",
           "MAX_RESPONSE_BYTES"]

Response = dict[str, Any]
_JSON_HEADERS = {"Content-Type": "application/json"}

# Lambda's limit on a synchronous invocation's response payload (6 MB).
MAX_RESPONSE_BYTES = 6_291_456
# The proxy response around the body ({"statusCode": 200, "headers": {...}, "body": "",
# "isBase64Encoded": false}) is ~100-180 bytes with our headers; 1 KiB leaves room.
_ENVELOPE = 1024
_BODY_LIMIT = MAX_RESPONSE_BYTES - _ENVELOPE
# awslambdaric writes UTF-8 only on these runtimes, and 6-byte escapes elsewhere (its Encoder).
_ASCII_ONLY = os.environ.get("AWS_EXECUTION_ENV") not in {
    "AWS_Lambda_python3.12", "AWS_Lambda_python3.13", "AWS_Lambda_python3.14", "AWS_Lambda_python3.15",
}
# A body grows by escaping at most 2x (a quote or backslash gets one more byte), or 3x with
# escaped non-ASCII (2 UTF-8 bytes of "é" become the 6 of its escape).
_GROWTH = 3 if _ASCII_ONLY else 2
_ERROR_MESSAGE_LIMIT = 16_384  # an error body is never near the limit, whatever went into it
_JSON_HINT = ("send a smaller batch, ask for fewer outputs (KServe v2 'outputs'), or for binary outputs "
              "(KServe v2 'parameters': {\"binary_data_output\": true}; raw bytes are about half the size "
              "of JSON numbers)")
_SMALLER_HINT = "send a smaller batch or ask for fewer outputs (KServe v2 'outputs')"


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
            body = binascii.a2b_base64(body_field, strict_mode=True)  # b64decode(validate=True) minus its wrapper
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
    """`payload` as JSON; raises ResponseTooLarge when the answer would be over Lambda's limit."""
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    if direct:  # the runtime serializes the return value with json, which knows no numpy
        answer = orjson.loads(body)
        if len(body) * 2 > _BODY_LIMIT:  # re-serialized it grows by at most 1.5x (", " for ",")
            size = len(json.dumps(answer, ensure_ascii=_ASCII_ONLY).encode())
            if size > _BODY_LIMIT:
                raise _answer_too_large(size, _SMALLER_HINT + "; direct invokes answer JSON only")
        return answer if status < 400 else {**answer, "statusCode": status}
    if len(body) * _GROWTH > _BODY_LIMIT:  # what escaping can at most make of it: count only when it matters
        if _ASCII_ONLY:  # the runtime escapes non-ASCII (6 bytes each): measure exactly that, in one C pass
            size = len(json.dumps(body.decode())) - 2
        else:
            size = len(body) + body.count(b'"') + body.count(b"\\")
        if size > _BODY_LIMIT:
            raise _answer_too_large(size, _JSON_HINT)
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
    encoded = (len(body) + 2) // 3 * 4
    if encoded > _BODY_LIMIT:  # refused before the base64 pass is spent on it
        raise _answer_too_large(encoded, _SMALLER_HINT + "; base64 makes binary answers 4/3 of their raw size")
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(header_json)),
        },
        "body": binascii.b2a_base64(body, newline=False).decode(),
        "isBase64Encoded": True,
    }


def error_response(exc: HTTPError, direct: bool) -> Response:
    """The JSON error answer; it never raises (its message is capped far below the size limit)."""
    headers = None
    if isinstance(exc, MethodNotAllowed):
        headers = {"Allow": ", ".join(exc.allow)}
    message = exc.message
    if len(message) > _ERROR_MESSAGE_LIMIT:
        message = message[:_ERROR_MESSAGE_LIMIT] + "…"
    return json_response(exc.status, {"error": message}, direct, headers)


def _answer_too_large(size: int, hint: str) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the answer's body would be {size:,} bytes: with the response around it, over Lambda's limit of "
        f"{MAX_RESPONSE_BYTES:,} bytes for a synchronous response; {hint}"
    )
