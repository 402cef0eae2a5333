"""Building the per-version report from what GetMetricData answered (deployer/monitor/report.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from deployer.monitor.report import MetricsReport, Series, Values, build, extra_measure, is_drift
from deployer.monitor.timespec import Window

T0 = datetime(2026, 12, 2, 13, 0, tzinfo=timezone.utc)
LAMBDA = (("FunctionName", "f"), ("Resource", "f:live"), ("ExecutedVersion", "2"))
HANDLER = (("model", "m"), ("version", "mv2"), ("service", "m"))


def s(row: str, measure: str, name: str, stat: str, dims: tuple[tuple[str, str], ...] = HANDLER) -> Series:
    return Series(row, measure, "AWS/Lambda" if dims[0][0] == "FunctionName" else "OnnxLambda", name, dims, stat)


def points(*values: float) -> tuple[tuple[datetime, float], ...]:
    return tuple((T0 + timedelta(minutes=i), v) for i, v in enumerate(values))


def test_counts_latency_errors_cold_starts_and_drift_worst_first() -> None:
    direct = (("FunctionName", "f"), ("Resource", "f:2"), ("ExecutedVersion", "2"))
    found = {
        s("2", "invocations", "Invocations", "Sum", LAMBDA): Values(10.0, points(4, 6)),
        s("2", "invocations", "Invocations", "Sum", direct): Values(2.0, points(2)),  # invoked directly too: adds up
        s("2", "errors", "Errors", "Sum", LAMBDA): Values(1.0, points(0, 1)),
        s("2", "duration_ms/p99", "Duration", "p99", LAMBDA): Values(12.5, points(3, 12.5)),
        s("2", "requests", "RequestMs", "SampleCount"): Values(12.0, points(6, 6)),
        s("2", "request_ms/p50", "RequestMs", "p50"): Values(0.4, points(0.4, 0.4)),
        s("2", "errors_by_kind/NotFound", "Errors", "Sum", HANDLER + (("kind", "NotFound"),)): Values(1.0, points(1)),
        s("2", "cold_starts", "ColdStart", "Sum"): Values(1.0, points(1)),
        s("2", "model_load_ms/avg", "ModelLoadMs", "Average"): Values(6.2, points(6.2)),
        s("2", "drift/PSI/feature=a", "PSI", "Average", HANDLER + (("feature", "a"),)): Values(0.05, points(0.05)),
        s("2", "drift/PSI/feature=a", "PSI", "Maximum", HANDLER + (("feature", "a"),)): Values(0.07, points(0.07)),
        s("2", "drift/PSI/feature=b", "PSI", "Average", HANDLER + (("feature", "b"),)): Values(0.3, points(0.3)),
        s("2", "drift/PSI/feature=b", "PSI", "Maximum", HANDLER + (("feature", "b"),)): Values(0.4, points(0.4)),
        s("1", "invocations", "Invocations", "Sum", LAMBDA): Values(None, ()),
    }
    reports = {r.version: r for r in build([("2", "mv2"), ("1", "mv1")], found)}
    two = reports["2"]
    assert (two.invocations, two.errors, two.requests, two.cold_starts) == (12, 1, 12, 1)
    assert two.duration_ms.p99 == 12.5 and two.duration_ms.p50 is None and two.request_ms.p50 == 0.4
    assert two.errors_by_kind == {"NotFound": 1} and two.model_load_ms["avg"] == 6.2
    assert [d.dims["feature"] for d in two.drift] == ["b", "a"]  # worst first
    assert (two.drift[0].mean, two.drift[0].max) == (0.3, 0.4)
    assert [v for _, v in two.series["invocations"]] == [6.0, 6.0]  # per period, both series added
    assert "drift/PSI/feature=b" in two.series and all("Maximum" not in k for k in two.series)
    assert reports["1"].empty and not two.empty

    report = MetricsReport("f", "f", "m", "OnnxLambda", "us-east-1", "local", Window(T0, T0 + timedelta(hours=1), 60),
                           [two])  # fmt: skip
    doc = json.loads(json.dumps(report.as_dict()))
    version = doc["versions"][0]
    assert version["invocations"] == 12 and version["duration_ms"] == {"p50": None, "p95": None, "p99": 12.5}
    assert version["series"]["invocations"] == {"timestamps": ["2026-12-02T13:00:00Z", "2026-12-02T13:01:00Z"],
                                                "values": [6.0, 6.0]}  # fmt: skip
    assert doc["start"] == "2026-12-02T13:00:00Z" and doc["period_s"] == 60


def test_new_handler_metrics_are_placed_by_name_and_dimensions() -> None:
    assert extra_measure("FeaturePSI", {"model": "m", "version": "v", "feature": "petal"}) == "drift/FeaturePSI/feature=petal"
    assert extra_measure("OutOfRangeShare", {"model": "m", "input": "X"}) == "drift/OutOfRangeShare/input=X"
    assert extra_measure("PredictionShift", {"model": "m", "class": "1"}) == "drift/PredictionShift/class=1"
    assert extra_measure("PayloadBytes", {"model": "m", "version": "v", "service": "s"}) == "other/PayloadBytes"
    assert is_drift("Anything", {"feature": "x"}) and not is_drift("BatchSize", {"model": "m"})
