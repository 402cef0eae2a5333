"""The API Gateway emulation, through the real emulator and runtime client, over HTTP on loopback."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from deployer.local import MAX_INVOKE_PAYLOAD, LocalEndpoint
from tests.local.conftest import Recorder, raw_exchange

pytestmark = pytest.mark.local


def echoed(endpoint: LocalEndpoint, method: str = "GET", path: str = "/echo", body: bytes | None = None,
           headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    response = endpoint.request(method, path, body, headers)
    assert response.status == 200, response.body
    answer: dict[str, Any] = response.json()
    return answer


def test_request_becomes_rest_api_proxy_event(echo: LocalEndpoint) -> None:
    body = json.dumps({"inputs": []}).encode()
    got = echoed(echo, "POST", "/v2/models/iris/infer?a=1&a=2&empty=", body,
                 {"Content-Type": "application/json", "X-Trace": "t-1"})  # fmt: skip
    event = got["event"]
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/v2/models/iris/infer"
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "v2/models/iris/infer"}
    assert event["queryStringParameters"] == {"a": "2", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "empty": [""]}
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["httpMethod"] == "POST" and context["stage"] == "local"
    assert context["path"] == "/local/v2/models/iris/infer"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"]
    assert event["stageVariables"] is None


def test_request_id_is_returned_to_the_client(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/echo")
    assert response.headers["x-amzn-requestid"] == response.json()["event"]["requestContext"]["requestId"]


def test_root_path_has_root_resource_and_no_body(echo: LocalEndpoint) -> None:
    event = echoed(echo, "GET", "/")["event"]
    assert (event["resource"], event["pathParameters"]) == ("/", None)
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    assert event["queryStringParameters"] is None


def test_binary_body_is_base64_encoded(echo: LocalEndpoint) -> None:
    payload = bytes(range(256)) * 4
    event = echoed(echo, "POST", "/echo", payload, {"Content-Type": "application/octet-stream"})["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_text_body_that_is_not_utf8_is_base64_encoded(echo: LocalEndpoint) -> None:
    payload = b"caf\xe9"  # latin-1: cannot travel as a JSON string unchanged
    event = echoed(echo, "POST", "/echo", payload, {"Content-Type": "text/plain"})["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == payload


def test_proxy_response_becomes_http(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/echo?status=418")
    assert response.status == 418
    assert response.headers["x-single"] == "one"
    assert response.headers["x-multi"] == "a, b"
    assert response.headers["content-type"] == "application/json"


def test_base64_response_body_is_decoded(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/binary")
    assert response.status == 200
    assert response.body == bytes(range(256))
    assert response.headers["content-type"] == "application/octet-stream"


def test_head_has_no_body(echo: LocalEndpoint) -> None:
    response = echo.request("HEAD", "/echo")
    assert response.status == 200 and response.body == b""


def test_payload_over_6_mb_is_413_without_invoking(echo: LocalEndpoint) -> None:
    before = echoed(echo)["invocations"]
    body = b"x" * (MAX_INVOKE_PAYLOAD + 1)
    response = echo.request("POST", "/echo", body, {"Content-Type": "text/plain"})
    assert response.status == 413
    assert "6291456" in response.json()["error"]
    # The event counts, not the body: a binary body just under 6 MB grows by a third in base64.
    response = echo.request("POST", "/echo", b"\x00" * 5_000_000, {"Content-Type": "application/octet-stream"})
    assert response.status == 413
    assert echoed(echo)["invocations"] == before + 1  # neither refused request reached the function


def test_payload_just_under_the_limit_is_invoked(echo: LocalEndpoint) -> None:
    body = b"y" * (MAX_INVOKE_PAYLOAD - 4096)
    response = echo.request("POST", "/binary", body, {"Content-Type": "text/plain"})
    assert response.status == 200 and response.body == bytes(range(256))


def test_answer_over_lambdas_response_limit_is_502(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/big?n=6300000")
    assert response.status == 502
    assert "ResponseSizeTooLarge" in response.json()["error"]
    assert echo.request("GET", "/big?n=6000000").status == 200


def test_expect_100_continue_is_refused_before_the_body(echo: LocalEndpoint) -> None:
    head = (f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_INVOKE_PAYLOAD + 10}\r\n"
            "Content-Type: text/plain\r\nExpect: 100-continue\r\n\r\n").encode()  # fmt: skip
    answer = raw_exchange(echo, head)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"error"' in answer


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        ("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n", b"411"),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", b"400"),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", b"411"),
    ],
    ids=["no-length", "bad-length", "chunked"],
)
def test_unframed_bodies_are_refused(echo: LocalEndpoint, request_head: str, status: bytes) -> None:
    answer = raw_exchange(echo, request_head.encode())
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]


def test_timeout_is_504_and_the_next_request_is_answered(echo: LocalEndpoint) -> None:
    pid_before = echoed(echo)["pid"]
    started = time.monotonic()
    response = echo.request("GET", "/sleep?s=5")
    elapsed = time.monotonic() - started
    assert response.status == 504, response.body
    assert "timeout" in response.json()["error"] or "timed out" in response.json()["error"]
    assert elapsed < 3.0
    after = echoed(echo)
    assert after["pid"] != pid_before  # Lambda resets the environment after a timeout


def test_function_error_is_502(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/raise")
    assert response.status == 502
    error = response.json()["error"]
    assert "ValueError" in error and "deliberate failure" in error
    assert echoed(echo)["event"]["path"] == "/echo"


def test_malformed_proxy_response_is_502(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/not-a-proxy-response")
    assert response.status == 502
    assert "malformed Lambda proxy response" in response.json()["error"]


def test_runtime_crash_is_502_and_the_environment_recovers(echo: LocalEndpoint) -> None:
    response = echo.request("GET", "/exit")
    assert response.status == 502
    assert "Runtime.ExitError" in response.json()["error"]
    assert echoed(echo)["event"]["path"] == "/echo"


def test_function_output_reaches_the_caller(echo: LocalEndpoint, output: Recorder) -> None:
    response = echo.request("GET", "/print?marker=emf-42")
    request_id = response.json()["event"]["requestContext"]["requestId"]
    marker, access = '"marker": "emf-42"', "[apigw] GET /print?marker=emf-42 -> 200"

    def seen() -> bool:
        return any(marker in line for line in output.lines) and any(access in line for line in output.lines)

    deadline = time.monotonic() + 5  # output is read on its own thread, the access line is logged
    while time.monotonic() < deadline and not seen():  # after the answer: both may trail it
        time.sleep(0.01)
    assert any(marker in line and json.loads(line)["_aws"] is not None for line in output.lines)
    assert any(line.startswith(access) for line in output.lines)
    assert request_id


def test_lambda_environment_of_the_function(echo: LocalEndpoint) -> None:
    env = echoed(echo)["env"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] and env["AWS_REGION"]
    assert env["_HANDLER"] == "lambda_handlers.handler"
    assert env["MODEL_PATH"].endswith("examples/iris/model")
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"


def test_concurrent_requests_beyond_the_one_environment_are_throttled_not_queued(echo: LocalEndpoint) -> None:
    import concurrent.futures

    def one(i: int) -> int:
        return echo.request("GET", f"/echo?i={i}").status if i % 2 else _fresh_request(echo, i)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(one, range(8)))
    assert set(statuses) <= {200, 429} and 200 in statuses  # one environment: the others are refused
    assert echo.request("GET", "/echo").status == 200


def _fresh_request(endpoint: LocalEndpoint, i: int) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        conn.request("GET", f"/echo?i={i}")
        return conn.getresponse().status
    finally:
        conn.close()
