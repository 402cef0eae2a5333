"""The metrics report as typed data: one `VersionReport` per version, built from GetMetricData's answers.

Pure: `build` takes the discovered series (metrics.py) and the values CloudWatch returned for
them, and makes no call. The CLI renders the result as tables, `--json` as one object, plot.py
and tensorboard.py draw its `series`.

Measures, under the same names in the JSON, the plot and TensorBoard:

    invocations, errors, throttles        AWS/Lambda Sum per ExecutedVersion (exact counts)
    duration_ms/p50|p95|p99               AWS/Lambda Duration per ExecutedVersion
    requests                              the handler's RequestMs SampleCount
    request_ms/p50|p95|p99                the handler's RequestMs
    inference_ms/p50|p95|p99              the handler's InferenceMs
    handler_errors                        the handler's Errors (all kinds)
    errors_by_kind/<kind>                 the handler's Errors by its `kind` dimension
    cold_starts                           the handler's ColdStart Sum
    model_load_ms/avg|max                 the handler's ModelLoadMs
    drift/<metric>[/<dim>=<value>...]     any other handler metric whose name or dimensions say
                                          drift (PSI, out of range, shift, a feature dimension):
                                          the mean per period; the summary also keeps the max
    other/<metric>[/<dim>=<value>...]     any other handler metric (PayloadBytes, BatchSize, ...): mean

New metric names of the handler are found by ListMetrics, not listed here: they land in drift/
or other/ as their names and dimensions say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployer.monitor.timespec import Window

__all__ = ["Series", "Values", "Latency", "DriftValue", "VersionReport", "MetricsReport", "build", "PERCENTILES"]

PERCENTILES = ("p50", "p95", "p99")
_DRIFT_NAME = re.compile(r"psi|drift|shift|range|kl|divergence|wasserstein", re.IGNORECASE)
_DRIFT_DIMS = frozenset({"feature", "input", "output", "class", "column"})
HANDLER_DIMS = frozenset({"model", "version", "service"})


@dataclass(frozen=True)
class Series:
    """One CloudWatch metric and statistic, and the measure of a row it fills."""

    row: str  # the VersionReport.version it belongs to
    measure: str  # a measure name (module doc)
    namespace: str
    name: str
    dims: tuple[tuple[str, str], ...]
    stat: str  # Sum | SampleCount | Average | Maximum | p50 | p95 | p99

    def metric(self) -> dict[str, Any]:
        return {"Namespace": self.namespace, "MetricName": self.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in self.dims]}  # fmt: skip


@dataclass(frozen=True)
class Values:
    """What GetMetricData answered for one series: the window's total and the per-period points."""

    total: float | None
    points: tuple[tuple[datetime, float], ...] = ()


@dataclass(frozen=True)
class Latency:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99}


@dataclass(frozen=True)
class DriftValue:
    metric: str
    dims: dict[str, str]
    mean: float | None
    max: float | None

    @property
    def label(self) -> str:
        return "/".join([self.metric, *(f"{k}={v}" for k, v in sorted(self.dims.items()))])


@dataclass
class VersionReport:
    version: str  # the Lambda version, or "model <version>" for handler metrics no Lambda version claims
    model_version: str | None = None
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    duration_ms: Latency = field(default_factory=Latency)
    requests: int = 0
    request_ms: Latency = field(default_factory=Latency)
    inference_ms: Latency = field(default_factory=Latency)
    handler_errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    cold_starts: int = 0
    model_load_ms: dict[str, float | None] = field(default_factory=lambda: {"avg": None, "max": None})
    drift: list[DriftValue] = field(default_factory=list)  # PSI metrics first, each metric's worst (largest) first
    other: dict[str, float | None] = field(default_factory=dict)
    series: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.invocations or self.throttles or self.requests or self.handler_errors or self.cold_starts
                    or any(points for points in self.series.values()))  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model_version": self.model_version,
            "invocations": self.invocations,
            "errors": self.errors,
            "throttles": self.throttles,
            "duration_ms": self.duration_ms.as_dict(),
            "requests": self.requests,
            "request_ms": self.request_ms.as_dict(),
            "inference_ms": self.inference_ms.as_dict(),
            "handler_errors": self.handler_errors,
            "errors_by_kind": dict(sorted(self.errors_by_kind.items())),
            "cold_starts": self.cold_starts,
            "model_load_ms": dict(self.model_load_ms),
            "drift": [{"metric": d.metric, "dims": d.dims, "mean": d.mean, "max": d.max} for d in self.drift],
            "other": dict(sorted(self.other.items())),
            "series": {name: {"timestamps": [_iso(t) for t, _ in points], "values": [v for _, v in points]}
                       for name, points in sorted(self.series.items())},  # fmt: skip
        }


@dataclass
class MetricsReport:
    stack: str
    function: str
    model: str
    namespace: str
    region: str
    target: str
    window: Window
    versions: list[VersionReport]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "function": self.function,
            "model": self.model,
            "namespace": self.namespace,
            "region": self.region,
            "target": self.target,
            "start": _iso(self.window.start),
            "end": _iso(self.window.end),
            "period_s": self.window.period_s,
            "versions": [v.as_dict() for v in self.versions],
            "notes": list(self.notes),
        }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_drift(name: str, dims: Mapping[str, str]) -> bool:
    return bool(_DRIFT_NAME.search(name)) or any(k.lower() in _DRIFT_DIMS for k in dims)


def extra_measure(name: str, dims: Mapping[str, str]) -> str:
    """drift/<name>[/k=v...] or other/<name>[/k=v...] for a handler metric the report does not name."""
    extra = [f"{k}={v}" for k, v in sorted(dims.items()) if k not in HANDLER_DIMS]
    return "/".join(["drift" if is_drift(name, dims) else "other", name, *extra])


def _count(value: float | None) -> int:
    return int(round(value)) if value is not None else 0


def build(rows: Iterable[tuple[str, str | None]], found: Mapping[Series, Values]) -> list[VersionReport]:
    """One VersionReport per row (Lambda version, its model version), filled from `found`.

    Several series may fill one measure (a version invoked through the alias and directly):
    counts add up, a percentile or mean keeps the value of the first series that has one.
    """
    reports = {version: VersionReport(version=version, model_version=model_version) for version, model_version in rows}
    totals: dict[tuple[str, str], float] = {}
    points: dict[tuple[str, str], dict[datetime, float]] = {}
    additive: set[tuple[str, str]] = set()
    drift_max: dict[tuple[str, str], float] = {}
    drift_info: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
    for series, values in found.items():
        if series.row not in reports:
            continue
        if series.measure.startswith("drift/") and series.stat == "Maximum":
            if values.total is not None:
                key = (series.row, series.measure)
                drift_max[key] = max(drift_max.get(key, values.total), values.total)
            continue
        key = (series.row, series.measure)
        if series.measure.startswith("drift/"):
            drift_info[key] = (series.name, {k: v for k, v in series.dims if k not in HANDLER_DIMS})
        summed = series.stat in ("Sum", "SampleCount")
        if summed:
            additive.add(key)
        if values.total is not None:
            if summed:
                totals[key] = totals.get(key, 0.0) + values.total
            else:
                totals.setdefault(key, values.total)
        slot = points.setdefault(key, {})
        for at, value in values.points:
            if summed:
                slot[at] = slot.get(at, 0.0) + value
            else:
                slot.setdefault(at, value)
    for (row, measure), by_time in points.items():
        reports[row].series[measure] = sorted(by_time.items())
    for (row, measure), total in totals.items():
        _set(reports[row], measure, total)
    for key, (name, dims) in drift_info.items():
        row, measure = key
        reports[row].drift.append(DriftValue(name, dims, totals.get(key), drift_max.get(key)))
    for report in reports.values():
        report.drift.sort(key=_worst_first)
    return list(reports.values())


def _worst_first(item: DriftValue) -> tuple[int, str, float, str]:
    """PSI-like metrics first (DriftPSI, PredictionPSI), then the rest; within a metric, the largest first."""
    value = item.max if item.max is not None else item.mean or 0.0
    return (0 if "psi" in item.metric.lower() else 1, item.metric, -value, item.label)


def _set(report: VersionReport, measure: str, value: float) -> None:
    head, _, tail = measure.partition("/")
    if measure in ("invocations", "errors", "throttles", "requests", "handler_errors", "cold_starts"):
        setattr(report, measure, _count(value))
    elif head in ("duration_ms", "request_ms", "inference_ms") and tail in PERCENTILES:
        current: Latency = getattr(report, head)
        setattr(report, head, Latency(**{**current.as_dict(), tail: value}))
    elif head == "errors_by_kind":
        report.errors_by_kind[tail] = _count(value)
    elif head == "model_load_ms":
        report.model_load_ms[tail] = value
    elif head == "other":
        report.other[tail] = value
