"""API Gateway's two translations, as pure functions: HTTP request → event, invoke answer → HTTP.

In: a REST API proxy event (payload format 1.0) for an `ANY /{proxy+}` resource (and `ANY /`
for the root), which is what the deployed template routes to the function. Header and query
values keep their order in the `multiValue*` maps; the single-value maps hold the last value, as
API Gateway does. Bodies of text media types are passed as text; any other body (or text that is
not valid UTF-8) is base64-encoded with `isBase64Encoded: true`, which is what API Gateway does
when binary media types are configured (the template must declare them: see `TEXT_TYPES`).

Out: the function's answer becomes the HTTP response. Like API Gateway, anything but a well-formed
proxy response is a 502 with a JSON `{"error": ...}`: a function error (the runtime's
`errorType`/`errorMessage` object), a crashed runtime, a non-object, unknown keys, a missing
status, an answer over Lambda's 6 MB response limit (the emulator reports that one as a function
error). The emulator's timeout answer ("Task timed out after N.00 seconds") becomes a 504.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["HttpReply", "build_event", "reply_from_invoke", "error_reply", "is_text", "MAX_INVOKE_PAYLOAD"]

MAX_INVOKE_PAYLOAD = 6_291_456  # bytes of event JSON Lambda accepts in one synchronous invoke
TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded",
     "application/yaml", "application/x-yaml", "application/graphql"}
)  # fmt: skip
_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
_NOT_JSON = object()
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def error_reply(status: int, message: str) -> HttpReply:
    body = json.dumps({"error": message}).encode()
    return HttpReply(status, [("Content-Type", "application/json")], body)


def is_text(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media.startswith("text/") or media in TEXT_TYPES or media.endswith(("+json", "+xml"))


def build_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    now: float,
    stage: str = "local",
) -> dict[str, Any]:
    """The REST API proxy event API Gateway would send for this request."""
    url = urlsplit(target)
    path = unquote(url.path) or "/"
    multi_headers: dict[str, list[str]] = {}
    names: dict[str, str] = {}  # the first spelling of a header name wins, as it is case-insensitive
    for name, value in headers:
        multi_headers.setdefault(names.setdefault(name.lower(), name), []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        multi_query.setdefault(key, []).append(value)
    single_headers = {name: values[-1] for name, values in multi_headers.items()}
    content_type = single_headers.get(names.get("content-type", ""))
    text, encoded = _body_field(body, content_type)
    resource = "/" if path == "/" else "/{proxy+}"
    when = datetime.fromtimestamp(now, tz=timezone.utc)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None if path == "/" else {"proxy": path[1:]},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "protocol": "HTTP/1.1",
            "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "domainName": single_headers.get(names.get("host", ""), "127.0.0.1"),
            "identity": {"sourceIp": source_ip, "userAgent": single_headers.get(names.get("user-agent", ""))},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def _body_field(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if content_type is None or is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def reply_from_invoke(status: int, payload: bytes, timeout_s: int) -> HttpReply:
    """The HTTP response API Gateway makes of the emulator's answer to one invoke."""
    if status == 200 and payload.startswith(b"Task timed out after"):
        return error_reply(504, f"the function timed out after {timeout_s} s (its Lambda timeout)")
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = _NOT_JSON
    if isinstance(answer, dict) and "errorType" in answer and "statusCode" not in answer:
        return error_reply(502, f"the function failed: {answer.get('errorType')}: {answer.get('errorMessage')}")
    if status != 200:
        return error_reply(502, f"the Lambda runtime failed (HTTP {status}): {payload[:300]!r}")
    if answer is _NOT_JSON:
        return error_reply(502, f"malformed Lambda proxy response: not JSON: {payload[:200]!r}")
    if not isinstance(answer, dict):
        return error_reply(502, f"malformed Lambda proxy response: expected an object, got {type(answer).__name__}")
    try:
        return _proxy_reply(answer)
    except (TypeError, ValueError, binascii.Error) as exc:
        return error_reply(502, f"malformed Lambda proxy response: {exc}")


def _proxy_reply(answer: dict[str, Any]) -> HttpReply:
    unknown = sorted(set(answer) - _RESPONSE_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: {sorted(_RESPONSE_KEYS)}")
    code = answer.get("statusCode")
    if isinstance(code, bool) or not isinstance(code, (int, str)) or not str(code).isdigit():
        raise ValueError(f"statusCode must be an integer, got {code!r}")
    if not 100 <= int(code) <= 599:
        raise ValueError(f"statusCode {code} is not an HTTP status")
    merged: dict[str, list[str]] = {}
    for key in ("headers", "multiValueHeaders"):
        if not isinstance(answer.get(key) or {}, dict):
            raise TypeError(f"{key} must be an object")
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise TypeError(f"multiValueHeaders[{name!r}] must be a list")
        merged[name] = [_scalar(v) for v in values]
    for name, value in (answer.get("headers") or {}).items():
        merged.setdefault(name, [_scalar(value)])
    headers = [(n, v) for n, vs in merged.items() if n.lower() not in _HOP_BY_HOP for v in vs]
    raw = answer.get("body")
    if raw is not None and not isinstance(raw, str):
        raise TypeError(f"body must be a string or null, got {type(raw).__name__}")
    text = raw or ""
    body = base64.b64decode(text, validate=True) if answer.get("isBase64Encoded") else text.encode()
    return HttpReply(int(code), headers, body)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, (dict, list)):
        raise TypeError(f"header values must be strings or numbers, got {value!r}")
    return str(value)
