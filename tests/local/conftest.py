"""Fixtures of the local runtime tier: real emulator, real runtime client, HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
