"""Fixtures of the local runtime tier: real emulator, real runtime client, HTTP on loopback."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer.local import LocalEndpoint

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
IRIS = REPO / "examples" / "iris" / "model"
TEST_HANDLER = "lambda_handlers.handler"  # tests/local/lambda_handlers.py, with HERE as the code root

# AWS credentials are cleared for every test by the autouse fixture in tests/conftest.py.


class Recorder:
    """Collects the lines the emulator and the function print."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture(scope="module")
def output() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def echo(output: Recorder) -> Iterator[LocalEndpoint]:
    """One environment running the test handler; a 1 s timeout keeps the timeout test short."""
    with LocalEndpoint(IRIS, handler=TEST_HANDLER, code_root=HERE, timeout_s=1, memory_mb=512, output=output) as ep:
        yield ep


def raw_exchange(endpoint: LocalEndpoint, data: bytes, pause_s: float = 0.0) -> bytes:
    """Send bytes as they are (framing the client library would not allow) and read the answer."""
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
        sock.sendall(data)
        time.sleep(pause_s)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def parse_raw(answer: bytes) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, the JSON body) of a raw HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, json.loads(body)
