"""What the gateway refuses, and how: every refusal a JSON error, through the real emulator.

Covers the framing http.server itself rejects (414, 431, 505, 400), methods API Gateway does not
route (405 + Allow), Content-Length values that disagree, and compressed bodies (gzip and deflate
decoded under the 6 MB cap, anything else 415).
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from deployer.local import MAX_INVOKE_PAYLOAD, LocalEndpoint
from tests.local.conftest import parse_raw, raw_exchange

pytestmark = pytest.mark.local

LONG = "a" * 70_000  # over http.server's 65,536-byte line limit


@pytest.mark.parametrize(
    ("request_bytes", "status", "words"),
    [
        (f"GET /{LONG} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414, "URI Too Long"),
        (f"GET / HTTP/1.1\r\nHost: x\r\nX-Long: {LONG}\r\n\r\n".encode(), 431, "Line too long"),
        (("GET / HTTP/1.1\r\n" + "".join(f"X-{i}: v\r\n" for i in range(101)) + "\r\n").encode(), 431,
         "Too many headers"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "Invalid HTTP version"),
        (b"GET /\r\n", 505, "HTTP/0.9 is not supported"),
        (b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400, "Bad request version"),
        (b"GET / / / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad request syntax"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNo Colon Here\r\nContent-Length: 5\r\n\r\nGET /", 400, "malformed header"),
        (b"GET / HTTP/1.1\r\n Folded: first\r\nHost: x\r\n\r\n", 400, "malformed header"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n", 400, "malformed header"),
    ],
    ids=["414-uri", "431-line", "431-count", "505-http2", "505-http09", "400-version", "400-syntax", "400-no-colon",
         "400-first-folded", "400-folded"],
)
def test_errors_of_the_http_layer_are_json(echo: LocalEndpoint, request_bytes: bytes, status: int, words: str) -> None:
    answer = raw_exchange(echo, request_bytes)
    got, headers, body = parse_raw(answer)
    assert got == status, answer[:300]
    assert headers["content-type"] == "application/json"
    assert words in body["error"]
    assert headers["connection"] == "close"
    assert b"<html" not in answer.lower() and b"<!doctype" not in answer.lower()
    assert echo.request("GET", "/echo").status == 200


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "FOO"])
def test_methods_api_gateway_does_not_route_are_405_with_allow(echo: LocalEndpoint, method: str) -> None:
    before = echo.request("GET", "/echo").json()["invocations"]
    answer = raw_exchange(echo, f"{method} /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".encode())
    status, headers, body = parse_raw(answer)
    assert status == 405
    assert headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert headers["content-type"] == "application/json"
    assert method in body["error"]
    assert echo.request("GET", "/echo").json()["invocations"] == before + 1  # the function never saw it


@pytest.mark.parametrize(
    "lengths",
    ["Content-Length: 3\r\nContent-Length: 4", "Content-Length: 3, 4", "Content-Length: 3\r\nContent-Length: 3, 4"],
    ids=["two-headers", "one-list", "mixed"],
)
def test_content_lengths_that_disagree_are_400(echo: LocalEndpoint, lengths: str) -> None:
    answer = raw_exchange(echo, f"POST /echo HTTP/1.1\r\nHost: x\r\n{lengths}\r\n\r\nabcd".encode())
    status, headers, body = parse_raw(answer)
    assert status == 400
    assert "conflicting Content-Length" in body["error"]
    assert headers["connection"] == "close"  # where the body ends is unknown: the connection cannot go on


@pytest.mark.parametrize("lengths", ["Content-Length: 4\r\nContent-Length: 4", "Content-Length: 4, 4"])
def test_repeated_equal_content_lengths_frame_the_body(echo: LocalEndpoint, lengths: str) -> None:
    answer = raw_exchange(echo, f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n{lengths}\r\n\r\nabcd".encode())
    status, _, body = parse_raw(answer)
    assert status == 200
    assert body["event"]["body"] == "abcd"


@pytest.mark.parametrize(
    ("value", "status", "words"),
    [("\u00b2", 400, "is not a byte count"), ("-1", 400, "is not a byte count"), ("1e3", 400, "is not a byte count"),
     ("9" * 30, 413, "30 digits"), ("9" * 5000, 413, "5000 digits")],
    ids=["superscript-two", "negative", "float", "30-digits", "5000-digits"],
)
def test_content_lengths_that_are_no_byte_count(echo: LocalEndpoint, value: str, status: int, words: str) -> None:
    answer = raw_exchange(echo, f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n".encode())
    got, _, body = parse_raw(answer)
    assert got == status and words in body["error"]


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate),
     ("GZIP", lambda data: gzip.compress(data[:10]) + gzip.compress(data[10:])), ("identity", lambda data: data)],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "gzip-two-members", "identity"],
)
def test_compressed_bodies_reach_the_function_decoded(echo: LocalEndpoint, coding: str, encode: object) -> None:
    text = json.dumps({"inputs": [{"name": "x", "data": list(range(500))}]})
    response = echo.request("POST", "/echo", encode(text.encode()),  # type: ignore[operator]
                            {"Content-Type": "application/json", "Content-Encoding": coding})  # fmt: skip
    assert response.status == 200, response.body
    event = response.json()["event"]
    assert event["body"] == text and event["isBase64Encoded"] is False
    if coding != "identity":
        assert "Content-Encoding" not in event["headers"]  # the body the function gets is not encoded


def test_a_body_that_decodes_past_6_mb_is_413_without_invoking(echo: LocalEndpoint) -> None:
    before = echo.request("GET", "/echo").json()["invocations"]
    bomb = gzip.compress(b"0" * (MAX_INVOKE_PAYLOAD + 1), compresslevel=9)
    assert len(bomb) < 20_000
    response = echo.request("POST", "/echo", bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status == 413
    assert str(MAX_INVOKE_PAYLOAD) in response.json()["error"] and "gzip" in response.json()["error"]
    just_under = gzip.compress(b"1" * (MAX_INVOKE_PAYLOAD - 8192))
    response = echo.request("POST", "/binary", just_under, {"Content-Type": "text/plain", "Content-Encoding": "gzip"})
    assert response.status == 200
    assert echo.request("GET", "/echo").json()["invocations"] == before + 2  # the bomb never reached it


@pytest.mark.parametrize(
    ("coding", "body", "status", "words"),
    [
        ("br", b"\x1b\x00", 415, "'br' is not supported"),
        ("zstd", b"\x28\xb5", 415, "'zstd' is not supported"),
        ("gzip, gzip", gzip.compress(gzip.compress(b"{}")), 415, "stacked content codings (gzip, gzip)"),
        ("gzip", b"not gzip at all", 400, "not valid gzip data"),
        ("gzip", gzip.compress(b'{"inputs": []}' * 100)[:-12], 400, "truncated gzip"),
        ("deflate", zlib.compress(b"{}") + b"trailing", 400, "after the end of its deflate data"),
    ],
    ids=["br", "zstd", "stacked", "corrupt", "truncated", "trailing"],
)
def test_bodies_the_gateway_cannot_decode(echo: LocalEndpoint, coding: str, body: bytes, status: int, words: str) -> None:
    response = echo.request("POST", "/echo", body, {"Content-Type": "application/json", "Content-Encoding": coding})
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]
    assert echo.request("GET", "/echo").status == 200  # the kept-alive connection goes on
