"""Issue 9 #9: the init phase has its own 10 s budget, as on Lambda, separate from the function timeout.

A model that takes 4 s to load behind a 3 s timeout works on Lambda (init has 10 s of its own);
the local runtime counted the load against the timeout and answered 504. Each case runs the real
RIE + awslambdaric with a handler module whose import sleeps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from deployer.local import LocalEndpoint

pytestmark = pytest.mark.local

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris" / "model"
HANDLER = '''
import json, os, time
time.sleep(float(os.environ["INIT_SLEEP"]))
def handler(event, context):
    body = json.loads(event.get("body") or "{}")
    time.sleep(float(body.get("work", 0)))
    return {"statusCode": 200, "headers": {}, "body": json.dumps({"remaining_ms": context.get_remaining_time_in_millis()})}
'''


def _endpoint(tmp_path: Path, init_s: float, timeout_s: int) -> LocalEndpoint:
    (tmp_path / "slowinit.py").write_text(HANDLER)
    return LocalEndpoint(EXAMPLE, handler="slowinit.handler", code_root=tmp_path, timeout_s=timeout_s,
                         env={"INIT_SLEEP": str(init_s)})  # fmt: skip


def _call(endpoint: LocalEndpoint, work_s: float = 0) -> tuple[int, dict, float]:
    started = time.monotonic()
    answer = endpoint.request("POST", "/work", json.dumps({"work": work_s}).encode(), {"Content-Type": "application/json"})
    return answer.status, answer.json(), time.monotonic() - started


def test_a_slow_init_within_its_budget_does_not_eat_the_timeout(tmp_path: Path) -> None:
    with _endpoint(tmp_path, init_s=4, timeout_s=3) as endpoint:
        status, body, took = _call(endpoint, work_s=1)
        assert status == 200, body
        assert 4 <= took < 7
        assert 2500 <= body["remaining_ms"] + 1000 <= 3000  # the handler got the whole 3 s after its init
        assert any(line.startswith("INIT_REPORT Init Duration: ") for line in endpoint.recent_output(50))
        status, body, _ = _call(endpoint)  # warm: Lambda's deadline, the timeout from the invocation's start
        assert status == 200 and 2500 <= body["remaining_ms"] <= 3000, body


def test_the_function_timeout_still_holds_for_the_handler(tmp_path: Path) -> None:
    with _endpoint(tmp_path, init_s=0, timeout_s=2) as endpoint:
        assert _call(endpoint)[0] == 200
        status, body, took = _call(endpoint, work_s=6)
        assert status == 504 and "2 s" in body["error"], body
        assert 2 <= took < 4  # the timeout, not the RIE's timer with the init budget
        assert _call(endpoint)[0] == 200  # the environment was reset and answers again


def test_an_init_past_its_budget_is_retried_under_the_timeout(tmp_path: Path) -> None:
    with _endpoint(tmp_path, init_s=11, timeout_s=3) as endpoint:
        status, body, took = _call(endpoint)
        assert status == 504, body
        assert any("Status: timeout" in line for line in endpoint.recent_output(50))
