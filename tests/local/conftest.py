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

CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture(autouse=True)
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test of this tier can reach a real AWS account, whatever the machine has configured."""
    for name in CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)


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
