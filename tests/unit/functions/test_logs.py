"""functions/logs.py writes Powertools Logger's lines: same keys, same order, same values."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from aws_lambda_powertools.logging import Logger as PowertoolsLogger

from functions.logs import DEBUG, INFO, WARNING, Logger, log_level

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def pair(service: str) -> tuple[Logger, io.StringIO, PowertoolsLogger, io.StringIO]:
    ours, theirs = io.StringIO(), io.StringIO()
    # a service name per test: Powertools keeps one standard-library logger (and handler) per name
    reference = PowertoolsLogger(service=service, logger_handler=logging.StreamHandler(theirs))
    return Logger(service, stream=ours), ours, reference, theirs


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def same(a: dict, b: dict) -> None:
    a, b = dict(a), dict(b)
    assert a.pop("timestamp")[:16] == b.pop("timestamp")[:16]  # same minute: written a few us apart
    assert list(a) == list(b) and a == b


@pytest.mark.parametrize("trace", [None, TRACE], ids=["no trace", "X-Ray trace"])
def test_lines_equal_powertools(trace: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if trace:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    else:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    ours, out, theirs, ref = pair(f"svc-logs-{bool(trace)}")
    extra = {"model": "m", "load_ms": 1.5, "nested": {"a": [1, 2]}, "none": None}
    ours.info("model loaded", extra=extra); theirs.info("model loaded", extra=extra)  # noqa: E702 (same line)
    ours.warning("careful"); theirs.warning("careful")  # noqa: E702
    ours.error("bad", extra={"reason": "x"}); theirs.error("bad", extra={"reason": "x"})  # noqa: E702
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        rid = {"request_id": "r"}
        ours.exception("boom", extra=rid); theirs.exception("boom", extra=rid)  # noqa: E702 (same line: same location)
    mine, reference = lines(out), lines(ref)
    assert len(mine) == len(reference) == 4
    for a, b in zip(mine, reference):
        same(a, b)
    assert mine[3]["exception_name"] == "ZeroDivisionError" and "Traceback" in mine[3]["exception"]
    assert ("xray_trace_id" in mine[0]) == bool(trace)


def test_levels_follow_the_environment_as_powertools_does() -> None:
    assert log_level({}) == INFO
    assert log_level({"LOG_LEVEL": "debug"}) == DEBUG
    assert log_level({"POWERTOOLS_LOG_LEVEL": "WARNING", "LOG_LEVEL": "DEBUG"}) == WARNING
    assert log_level({"AWS_LAMBDA_LOG_LEVEL": "WARN", "POWERTOOLS_LOG_LEVEL": "DEBUG"}) == WARNING
    out = io.StringIO()
    logger = Logger("s", level="WARNING", stream=out)
    logger.info("hidden")
    logger.debug("hidden")
    logger.warning("shown")
    assert [e["message"] for e in lines(out)] == ["shown"]


def test_a_line_that_cannot_be_written_goes_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = io.StringIO()
    closed.close()
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    Logger("s", stream=closed).error("metrics not written", extra={"reason": "EPIPE"})
    assert json.loads(err.getvalue())["reason"] == "EPIPE"


def test_values_json_cannot_hold_are_written_as_text() -> None:
    out = io.StringIO()
    from pathlib import Path

    Logger("s", stream=out).info("odd", extra={"path": Path("/x"), "kinds": {"a"}})
    assert lines(out)[0]["path"] == "/x" and lines(out)[0]["kinds"] == "{'a'}"
