"""Settings a user gets wrong: one clear line, a non-zero exit, no traceback, in under 10 s."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.functional.conftest import EXAMPLE, cli


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CASES = {
    "missing credentials": ((), {"AWS_REGION": "us-east-1"}, None, "no AWS credentials found"),
    "invalid region": (("--region", "xx-nowhere-1"), {}, "moto", "unknown AWS region 'xx-nowhere-1'"),
    "unknown profile": (("--profile", "nope"), {"AWS_REGION": "us-east-1"}, None, "AWS profile 'nope' not found"),
    "endpoint refusing connections": ((), {}, "closed", "cannot reach the sts endpoint"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_wrong_setting_fails_in_one_line(case: str, project: Path) -> None:
    args, env, endpoint, message = CASES[case]
    url = f"http://127.0.0.1:{closed_port()}" if endpoint == "closed" else ("http://127.0.0.1:9" if endpoint else None)
    run = cli("push", str(EXAMPLE), "--target", "aws", "--builder", "files", *args, project=project, endpoint=url, **env)
    assert run.code != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert "Traceback" not in run.stderr and run.seconds < 10
