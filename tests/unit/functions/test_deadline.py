"""The handler's own deadline: work that cannot finish within the invocation's remaining time (less
the margin) is stopped inside `session.run` and answered 504; no context, no deadline."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from functions.app import DEFAULT_DEADLINE_MARGIN_MS, Service, deadline_margin_ms
from functions.inference import WATCHDOG
from tests.unit.functions.conftest import Client, rest_event

WIDTH = 512
ROWS = 1000


def slow_model(path: Path, nodes: int = 240) -> Path:
    """y = x @ I @ I ... (`nodes` MatMuls, FP32 [N, 512]): ~0.4 s at N=1000 on 2 vCPUs."""
    eye = numpy_helper.from_array(np.eye(WIDTH, dtype=np.float32), "w")
    chain = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i - 1}", "w"], [f"h{i}"]) for i in range(nodes)]
    chain.append(helper.make_node("Identity", [f"h{nodes - 1}"], ["y"]))
    graph = helper.make_graph(
        chain, "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", WIDTH])],
        [eye],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


class Remaining:
    """A Lambda context whose invocation has `ms` left when the handler asks."""

    aws_request_id = "deadline-test"

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


class NoClock:
    """A context without get_remaining_time_in_millis (a hand-made one in a test or a script)."""

    aws_request_id = "no-clock"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return Service(str(slow_model(tmp_path_factory.mktemp("slow") / "slow.onnx")), margin_ms=100)


def event(rows: int = ROWS) -> dict[str, Any]:
    data = base64.b64encode(np.ones((rows, WIDTH), np.float32).tobytes()).decode()
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, WIDTH], "data": data}]}
    import json

    return rest_event("POST", "/v2/models/slow/infer", json.dumps(body))


def answer(raw: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    import json

    return raw["statusCode"], json.loads(raw["body"])


def timed(service: Service, evt: dict[str, Any], context: Any) -> tuple[int, dict[str, Any], float]:
    started = time.perf_counter()
    status, body = answer(service.handler(evt, context))
    return status, body, time.perf_counter() - started


def test_a_run_that_cannot_finish_is_stopped_and_answered_504(slow: Service) -> None:
    full_status, _, full = timed(slow, event(), None)  # no context: no deadline, the whole run
    assert full_status == 200
    status, body, took = timed(slow, event(), Remaining(100 + 60))  # 60 ms for the work
    assert status == 504
    assert "inference stopped" in body["error"] and "timeout" in body["error"]
    assert took < full * 0.75, (took, full)  # stopped inside session.run, not after it
    # the next request, given time, runs to the end: the stop did not leak into it
    assert timed(slow, event(), Remaining(600_000))[0] == 200


def test_no_time_left_before_the_request_is_504_at_once(slow: Service) -> None:
    fired = WATCHDOG.fired
    status, body, took = timed(slow, event(), Remaining(100))  # exactly the margin
    assert status == 504 and "not started" in body["error"] and "100 ms" in body["error"]
    assert took < 0.05 and WATCHDOG.fired == fired
    raw = slow.handler(rest_event("GET", "/v2/health/live"), Remaining(20))
    assert raw["statusCode"] == 504


def test_decoding_that_uses_up_the_time_is_504_before_the_run(tmp_path: Path) -> None:
    service = Service(str(slow_model(tmp_path / "slow.onnx")), margin_ms=0)
    import json

    # ~5 MB of JSON numbers take far longer than 1 ms to decode
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1000, WIDTH],
                                   "data": [0.123456] * (1000 * WIDTH)}]})
    status, payload = answer(service.handler(rest_event("POST", "/v2/models/slow/infer", body), Remaining(1)))
    assert status == 504 and "no time left to run the model" in payload["error"]


def test_without_a_context_clock_there_is_no_deadline(slow: Service) -> None:
    assert timed(slow, event(100), None)[0] == 200
    assert timed(slow, event(100), NoClock())[0] == 200
    direct = slow.handler({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, WIDTH], "data": [1.0] * WIDTH}]},
                          None)
    assert "statusCode" not in direct and direct["outputs"][0]["shape"] == [1, WIDTH]


def test_one_watchdog_thread_serves_every_request(slow: Service) -> None:
    for ms in (130, 600_000, 140, 600_000):
        timed(slow, event(200 if ms > 1000 else ROWS), Remaining(ms))
    watchdogs = [t for t in threading.enumerate() if t.name == "onnx-deadline"]
    assert len(watchdogs) == 1 and watchdogs[0].daemon


def test_the_504_is_counted_by_kind(slow: Service, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    capsys.readouterr()
    assert timed(slow, event(), Remaining(150))[0] == 504
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [d["kind"] for d in docs if "kind" in d] == ["GatewayTimeout"]


@pytest.mark.parametrize(("raw", "expected"), [
    (None, DEFAULT_DEADLINE_MARGIN_MS), ("", DEFAULT_DEADLINE_MARGIN_MS), ("250", 250.0), ("0", 0.0),
    ("abc", DEFAULT_DEADLINE_MARGIN_MS), ("-5", DEFAULT_DEADLINE_MARGIN_MS), ("nan", DEFAULT_DEADLINE_MARGIN_MS),
    ("1e9", DEFAULT_DEADLINE_MARGIN_MS),
])  # fmt: skip
def test_the_margin_comes_from_the_environment_and_bad_values_fall_back(raw: str | None, expected: float) -> None:
    assert deadline_margin_ms({} if raw is None else {"DEADLINE_MARGIN_MS": raw}) == expected


def test_the_existing_client_fixture_runs_with_a_deadline(pair: Client) -> None:
    # conftest's Context has 30 s left: every other test of the handler runs the armed path
    from tests.unit.functions.test_errors import good

    assert pair.infer("pair", good()).status == 200
