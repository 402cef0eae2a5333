"""API Gateway's translations on their own: the cases a real handler rarely produces."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from deployer.local._events import build_event, is_text, reply_from_invoke

pytestmark = pytest.mark.local


def event(headers: list[tuple[str, str]], body: bytes = b"", target: str = "/p") -> dict[str, Any]:
    return build_event(method="POST", target=target, headers=headers, body=body, source_ip="127.0.0.1",
                       request_id="r-1", now=1_700_000_000.0)  # fmt: skip


def error_of(status: int, payload: object, code: int = 200) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    reply = reply_from_invoke(code, raw, 3)
    assert reply.status == status
    return str(json.loads(reply.body)["error"])


def test_repeated_headers_group_case_insensitively_keeping_the_first_spelling() -> None:
    got = event([("X-Tag", "a"), ("x-tag", "b"), ("Accept", "*/*")])
    assert got["multiValueHeaders"] == {"X-Tag": ["a", "b"], "Accept": ["*/*"]}
    assert got["headers"] == {"X-Tag": "b", "Accept": "*/*"}


def test_body_without_content_type_is_text_when_it_is_utf8() -> None:
    assert event([], b"plain")["body"] == "plain"
    assert event([], b"\xff\x00")["isBase64Encoded"] is True


def test_percent_encoded_path_is_decoded_and_request_time_is_api_gateways_format() -> None:
    got = event([], target="/a%20b?q=%41")
    assert got["path"] == "/a b" and got["queryStringParameters"] == {"q": "A"}
    assert got["requestContext"]["requestTime"] == "14/Nov/2023:22:13:20 +0000"
    assert got["requestContext"]["requestTimeEpoch"] == 1_700_000_000_000


@pytest.mark.parametrize(
    ("content_type", "text"),
    [("application/json; charset=utf-8", True), ("text/csv", True), ("application/vnd.api+json", True),
     ("application/octet-stream", False), ("image/png", False), ("application/x-protobuf", False)],
)  # fmt: skip
def test_text_media_types(content_type: str, text: bool) -> None:
    assert is_text(content_type) is text


def test_proxy_response_fields() -> None:
    reply = reply_from_invoke(200, json.dumps({
        "statusCode": "201", "headers": {"A": 1, "B": True, "Content-Length": "999"},
        "multiValueHeaders": {"A": ["x", "y"]},
        "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True,
    }).encode(), 3)  # fmt: skip
    assert reply.status == 201
    assert reply.headers == [("A", "x"), ("A", "y"), ("B", "true")]  # multiValueHeaders win; length is ours
    assert reply.body == b"\x00\x01"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"not json", "not JSON"),
        ([1, 2], "expected an object"),
        ({"body": "x"}, "statusCode"),
        ({"statusCode": 200, "extra": 1}, "unknown keys"),
        ({"statusCode": 200, "body": {"a": 1}}, "body must be a string"),
        ({"statusCode": 200, "headers": {"A": None}}, "header values"),
        ({"statusCode": 200, "headers": ["A"]}, "headers must be an object"),
        ({"statusCode": 200, "body": "!!", "isBase64Encoded": True}, "malformed"),
        ({"statusCode": 99}, "not an HTTP status"),
    ],
)
def test_malformed_proxy_responses_are_502(payload: object, fragment: str) -> None:
    assert fragment in error_of(502, payload)


def test_function_errors_runtime_failures_and_timeouts() -> None:
    assert "KeyError: 'x'" in error_of(502, {"errorType": "KeyError", "errorMessage": "'x'", "stackTrace": []})
    crash = {"errorType": "Runtime.ExitError", "errorMessage": "exit status 3"}
    assert "Runtime.ExitError" in error_of(502, crash, code=502)
    assert "HTTP 500" in error_of(502, b"", code=500)
    assert "3 s" in error_of(504, b"Task timed out after 3.00 seconds")
