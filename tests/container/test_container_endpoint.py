"""`ContainerEndpoint` under concurrent requests: one container is one environment.

Two events at once make the Runtime Interface Emulator panic (nil pointer dereference) and the
container exit; the endpoint refuses the second with 429 instead, and the container keeps serving.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from deployer.local.container import ContainerEndpoint

pytestmark = pytest.mark.container


@pytest.fixture
def endpoint(probe_image: str) -> Iterator[ContainerEndpoint]:
    with ContainerEndpoint(probe_image, environment={}, timeout_s=10, memory_mb=256) as made:
        yield made


def test_concurrent_events_are_throttled_and_the_container_survives(endpoint: ContainerEndpoint) -> None:
    event = json.dumps({"numbers": [1, 2, 3]}).encode()
    start = threading.Barrier(8)

    def one(_: int) -> tuple[int, Any]:
        start.wait()
        try:
            status, body = endpoint.invoke(event)
        except Exception as exc:  # noqa: BLE001 - the refusal is what is counted
            return 429 if type(exc).__name__ == "Throttled" else -1, str(exc)
        return status, json.loads(body)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert {status for status, _ in answers} <= {200, 429}, answers
    assert all(body["sum"] == 6 for status, body in answers if status == 200)
    assert endpoint.invoke(event)[0] == 200  # the emulator did not crash

    # Through the gateway the refusal is Lambda's 429, as JSON.
    def through_gateway(_: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=30)
        try:
            start.wait()
            conn.request("POST", "/", body=event, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            body = response.read()
            if response.status == 429:
                assert json.loads(body)["error"].startswith("Rate Exceeded")
            return response.status
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(through_gateway, range(8)))
    assert set(statuses) <= {200, 502, 429}, statuses  # the probe's answer is no proxy response: 502
    assert endpoint.invoke(event)[0] == 200
