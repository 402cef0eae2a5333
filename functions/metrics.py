"""CloudWatch metrics (Embedded Metric Format) through aws-lambda-powertools.

Powertools' EMF provider (the engine of `Metrics`) defines every EMF document this handler prints: namespace, the dimension
set (model, version, service) and each metric's unit. Per request, going through `add_metric` and
`flush_metrics` costs 56-105 us on this machine (measured with 4 metrics, cProfile: unit lookups,
dimension copies and `json.dumps`), which alone would spend the whole 0.1 ms budget of a request
to a small model. So the first time a given set of metric names is emitted, Powertools serializes
it and that document is kept as a template; later requests with the same set write the same
document with their values and timestamp through orjson (~5 us). A test checks the output equals
Powertools' own serialization. Errors by kind go through Powertools `single_metric` directly:
they need an extra `kind` dimension, and the error path is not the hot one.

Drift documents (functions/drift.py) go through `documents`: several EMF documents in one write,
each with its own extra dimensions (`feature`, `output`, `class`: a dimension's value is a field of
the document, so a document holds one feature), templated the same way (first built by
Powertools, then reused with new values). A document over CloudWatch's 100 metrics is split.

What may be emitted is declared in functions/series.py: a metric name or dimension set that is not
declared there raises when its template is built, so the declaration the dashboard, alarms and CLI
read cannot drift from what is written.

Failures. Writing a line can fail (stdout closed, or a pipe whose reader went away: EPIPE).
`emit` and `error_kind` let that propagate, and the handler (functions/app.py) catches it after
the response is built: metrics are never worth an answer. The first failure of a run is logged
(level ERROR, with the exception); the following ones are only counted, so a stdout that stays
broken does not add a line (itself failing) to every request; the next successful line logs the
count of lines lost. When stdout itself is what broke, Python's logging reports the record on
stderr, which Lambda captures too. The handler's try costs nothing measurable on the happy path.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any, TextIO

import orjson
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from functions.series import MAX_METRICS_PER_DOCUMENT, SERIES

__all__ = ["RequestMetrics", "UNITS", "UndeclaredMetric"]

UNITS: dict[str, MetricUnit] = {name: MetricUnit(unit) for name, (unit, _) in SERIES.items()}


class UndeclaredMetric(ValueError):
    """A metric name or dimension set that functions/series.py does not declare."""


def _check_declared(names: Any, dimensions: tuple[str, ...]) -> None:
    for name in names:
        declared = SERIES.get(name)
        if declared is None or dimensions not in declared[1]:
            raise UndeclaredMetric(f"{name} with extra dimensions {list(dimensions)} is not declared in "
                                   "functions/series.py")


class RequestMetrics:
    """One EMF line per invocation, dimensions model + version (+ service)."""

    def __init__(self, namespace: str, service: str, model: str, version: str, out: TextIO | None = None):
        self._namespace = namespace
        self._dimensions = {"model": model, "version": version}
        # The provider behind `Metrics`, used directly: `Metrics` instances share one class-level
        # metric and dimension set, and this object must own its own.
        self._metrics = AmazonCloudWatchEMFProvider(namespace=namespace, service=service)
        self._metrics.set_default_dimensions(**self._dimensions)
        self._templates: dict[tuple[str, ...], dict[str, Any]] = {}
        self._documents: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, Any]] = {}
        self._out = out

    def emit(self, values: dict[str, float]) -> None:
        key = tuple(values)
        doc = self._templates.get(key)
        if doc is None:
            doc = self._templates[key] = self._template(values)
        doc["_aws"]["Timestamp"] = int(time.time() * 1000)
        for name, value in values.items():
            doc[name][0] = value
        (self._out or sys.stdout).write(orjson.dumps(doc).decode() + "\n")

    def documents(self, docs: list[tuple[dict[str, str], dict[str, float]]]) -> None:
        """One EMF document per (extra dimensions, values), all written at once."""
        stamp = int(time.time() * 1000)
        lines = []
        for dimensions, values in docs:
            names = tuple(values)
            for start in range(0, len(names), MAX_METRICS_PER_DOCUMENT):
                part = names[start:start + MAX_METRICS_PER_DOCUMENT]
                key = (tuple(dimensions), part)
                doc = self._documents.get(key)
                if doc is None:
                    doc = self._documents[key] = self._template({n: values[n] for n in part}, dimensions)
                doc["_aws"]["Timestamp"] = stamp
                doc.update(dimensions)
                for name in part:
                    doc[name][0] = values[name]
                lines.append(orjson.dumps(doc))
        if lines:
            (self._out or sys.stdout).write(b"\n".join(lines).decode() + "\n")

    def _template(self, values: dict[str, float], dimensions: dict[str, str] | None = None) -> dict[str, Any]:
        _check_declared(values, tuple(dimensions or ()))
        for name, value in values.items():
            self._metrics.add_metric(name=name, unit=UNITS[name], value=value)
        for name, value in (dimensions or {}).items():
            self._metrics.add_dimension(name=name, value=value)
        doc = self._metrics.serialize_metric_set()
        self._metrics.clear_metrics()  # keeps the default dimensions
        return copy.deepcopy(doc)

    def error_kind(self, kind: str) -> None:
        """`Errors` with a `kind` dimension, in its own EMF line."""
        _check_declared(("Errors",), ("kind",))
        with single_metric(
            name="Errors",
            unit=MetricUnit.Count,
            value=1,
            namespace=self._namespace,
            default_dimensions=self._dimensions,
        ) as metric:
            metric.add_dimension(name="kind", value=kind)
