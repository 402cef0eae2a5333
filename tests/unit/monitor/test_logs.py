"""Log events as lines to read (deployer/monitor/logs.py classify)."""

from __future__ import annotations

import json

import pytest

from deployer.errors import ConfigError
from deployer.monitor.logs import check_request_id, classify

STREAM = "2026/12/02/[3]f36d119984ef3c484b65abe3975869c5"


def event(message: str) -> dict[str, object]:
    return {"timestamp": 1796219296533, "logStreamName": STREAM, "message": message, "eventId": "e1"}


def test_report_is_summarized_with_its_numbers_and_cold_start() -> None:
    line = classify(event("REPORT RequestId: 3d3f-01\tInit Duration: 0.07 ms\tDuration: 337.10 ms\t"
                          "Billed Duration: 338 ms\tMemory Size: 1024 MB\tMax Memory Used: 66 MB\t"))  # fmt: skip
    assert line.kind == "report" and line.request_id == "3d3f-01" and line.version == "3"
    assert line.fields == {"init_ms": 0.07, "duration_ms": 337.1, "billed_ms": 338, "memory_mb": 1024, "max_memory_mb": 66}
    assert line.text == "337.1 ms (billed 338 ms), 66 of 1024 MB, cold start: init 0.07 ms"
    assert classify(event("START RequestId: 3d3f-01 Version: $LATEST")).kind == "start"
    assert classify(event("END RequestId: 3d3f-01")).request_id == "3d3f-01"


def test_structured_line_keeps_level_message_request_id_and_key_fields() -> None:
    doc = {"level": "INFO", "location": "handler:222", "message": "request refused", "timestamp": "2026-12-02 13:48:21,393+0000",
           "service": "lin", "request_id": "3d3f-05", "status": 404, "kind": "NotFound", "reason": "unknown model"}  # fmt: skip
    line = classify(event(json.dumps(doc)))
    assert (line.kind, line.level, line.text, line.request_id) == ("json", "INFO", "request refused", "3d3f-05")
    assert line.fields == {"status": 404, "kind": "NotFound", "reason": "unknown model"}
    assert line.as_dict()["time"] == "2026-12-02T13:48:16.533Z"


def test_emf_line_shows_its_values_and_dimensions() -> None:
    doc = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "OnnxLambda", "Dimensions": [["model", "version", "kind", "service"]],
                                                          "Metrics": [{"Name": "Errors", "Unit": "Count"}]}]},
           "model": "lin", "version": "a1", "kind": "NotFound", "service": "lin", "Errors": [1.0]}  # fmt: skip
    line = classify(event(json.dumps(doc)))
    assert line.kind == "emf" and line.text == "Errors=1.0"
    assert line.fields == {"model": "lin", "version": "a1", "kind": "NotFound", "service": "lin"}


def test_anything_else_is_text() -> None:
    line = classify(event("[WARNING] 2026-12-02T13:48:21.393Z 3d3f-05 something odd"))
    assert line.kind == "text" and line.text.startswith("[WARNING]")
    assert classify(event("{not json")).kind == "text"


def test_request_ids_are_checked_before_any_call() -> None:
    assert check_request_id("3d3f0af4-dcc3-447e-a5e4-000000000005")
    with pytest.raises(ConfigError, match="--request-id"):
        check_request_id('x" OR "y')
