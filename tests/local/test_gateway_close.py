"""The gateway's own lifecycle, without an emulator behind it: close wakes the serve loop (which
waits on no poll interval), releases the port, and the metrics are built on first use."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from deployer.local import Gateway

pytestmark = pytest.mark.local

ANSWER = json.dumps({"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}).encode()


def get(port: int, path: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def test_close_wakes_the_loop_and_releases_the_port_with_a_client_still_connected() -> None:
    gateway = Gateway(invoke=lambda payload: (200, ANSWER), timeout_s=3, port=0)
    gateway.start()
    client = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    assert get(gateway.port, "/x", client) == (200, b"ok")  # a kept-alive connection stays open
    closer = threading.Thread(target=gateway.close, daemon=True)
    closer.start()
    closer.join(5)
    assert not closer.is_alive(), "close() did not end the serve loop"  # nothing but the wake-up ends it
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", gateway.port), timeout=2).close()
    client.close()
    gateway.close()  # idempotent: the pipe is closed once


def test_close_of_a_gateway_never_started() -> None:
    gateway = Gateway(invoke=lambda payload: (200, ANSWER), timeout_s=3, port=0)
    gateway.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", gateway.port), timeout=2).close()


def test_metrics_are_built_on_first_use_and_count_what_came_before() -> None:
    pytest.importorskip("prometheus_client")
    gateway = Gateway(invoke=lambda payload: (200, ANSWER), timeout_s=3, port=0)
    gateway.start()
    try:
        assert get(gateway.port, "/v2/models/m/infer")[0] == 200  # observed before anything built the metrics
        status, text = get(gateway.port, "/metrics")
        assert status == 200
        assert b"onnx_lambda_requests_total" in text and b'status="200"' in text
    finally:
        gateway.close()
