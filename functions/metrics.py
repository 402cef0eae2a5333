"""CloudWatch metrics: Embedded Metric Format lines, in the documents Powertools writes.

One EMF document per invocation (dimensions model, version, service; each metric's unit from
functions/series.py), written with orjson. The format is CloudWatch's documented one
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
laid out key for key as aws-lambda-powertools' EMF provider serializes it (`_aws` with Timestamp
and one CloudWatchMetrics directive, then the dimensions with `service` last, then each metric's
values as a list). Why not through Powertools: importing its metrics costs ~30 ms of every cold
start (shared with its Logger: `logging`, botocore, jmespath, uuid; bench/RESULTS.md, import
ladder) and `add_metric` + `flush_metrics` 56-105 us per request (PERF-NOTES), while the document
is a fixed template per set of metric names. So the first time a set of names is emitted its
document is built here and kept as a template; later requests write it with their values and
timestamp (~5 us). tests/unit/functions/test_metrics.py checks every kind of document against
Powertools' own serialization (`serialize_metric_set`, `single_metric`), so the two cannot part.
Errors by kind get their own document with an extra `kind` dimension, laid out as Powertools'
`single_metric` writes it (with `service` only when POWERTOOLS_SERVICE_NAME is set, as there).

Drift documents (functions/drift.py) go through `documents`: several EMF documents in one write,
each with its own extra dimensions (`feature`, `output`, `class`: a dimension's value is a field of
the document, so a document holds one feature), templated the same way. A document over
CloudWatch's 100 metrics is split.

What may be emitted is declared in functions/series.py: a metric name or dimension set that is not
declared there raises when its template is built, so the declaration the dashboard, alarms and CLI
read cannot drift from what is written.

Failures. Writing a line can fail (stdout closed, or a pipe whose reader went away: EPIPE).
`emit` and `error_kind` let that propagate, and the handler (functions/app.py) catches it after
the response is built: metrics are never worth an answer. The first failure of a run is logged
(level ERROR, with the exception); the following ones are only counted, so a stdout that stays
broken does not add a line (itself failing) to every request; the next successful line logs the
count of lines lost. When stdout itself is what broke, the log line goes to
stderr instead (functions/logs.py), which Lambda captures too. The handler's try costs nothing
measurable on the happy path.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

import orjson

from functions.series import MAX_METRICS_PER_DOCUMENT, SERIES, UNITS

__all__ = ["RequestMetrics", "UNITS", "UndeclaredMetric"]

# Stand-ins that `RequestMetrics._format` replaces with `%d` / `%r` in a serialized document: values no
# metric or timestamp takes (a timestamp near year 5138; marks past any float a metric holds).
_STAMP = 99_999_999_999_999
_MARK = 7.123456789012345e+300


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
        if not namespace:
            raise ValueError("the metrics namespace is empty; set POWERTOOLS_METRICS_NAMESPACE")
        self._namespace = namespace
        self._service = service
        self._dimensions = {"model": model, "version": version}
        self._formats: dict[tuple[str, ...], bytes] = {}
        self._documents: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, Any]] = {}
        self._errors: dict[str, bytes] = {}  # kind -> the document's bytes around its timestamp
        self._out = out

    def emit(self, values: dict[str, float]) -> None:
        """One EMF line with these metric values (names as keys, in this order)."""
        self.write(tuple(values), tuple(map(float, values.values())))

    def write(self, names: tuple[str, ...], values: tuple[float, ...]) -> None:
        """`emit` without the dict: the metric names and their values as floats, in the same order
        (the handler's steady-state line, functions/app.py). The line is the document orjson writes,
        filled into a bytes template made once per set of names (`_format`): ~1 us, no dict walk."""
        fmt = self._formats.get(names)
        if fmt is None:
            fmt = self._formats[names] = self._format(names)
        (self._out or sys.stdout).write((fmt % (time.time_ns() // 1_000_000, *values)).decode())

    def _format(self, names: tuple[str, ...]) -> bytes:
        """The document of `names` as orjson serializes it, with `%d` for the timestamp and `%r` for
        each value. Python's repr of a float and orjson's agree (shortest round-trip digits) except in
        exponent notation (1e-05 / 1e-5, 1e+16 / 1e16), which no value written here reaches: times
        rounded to 0.001 ms, counts and bytes below 1e16; tests/unit/functions/test_metrics.py compares
        the two byte for byte over the range."""
        marks = [_MARK * (index + 1) for index in range(len(names))]
        doc = self._template(dict(zip(names, marks)))
        doc["_aws"]["Timestamp"] = _STAMP
        raw = orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE).replace(b"%", b"%%")
        raw = raw.replace(orjson.dumps(_STAMP), b"%d", 1)
        for mark in marks:
            raw = raw.replace(b"[" + orjson.dumps(mark) + b"]", b"[%r]", 1)
        sample = self._template(dict.fromkeys(names, 0.5))  # the template must write what orjson writes
        sample["_aws"]["Timestamp"] = 1
        if raw % (1, *[0.5] * len(names)) != orjson.dumps(sample, option=orjson.OPT_APPEND_NEWLINE):
            raise ValueError(f"cannot template the EMF document of {names}: a dimension holds a stand-in")
        return raw

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

    def _template(self, values: dict[str, float], dimensions: dict[str, str] | None = None,
                  service: str | None = None) -> dict[str, Any]:
        """The EMF document of these metric names and extra dimensions, as Powertools lays it out."""
        _check_declared(values, tuple(dimensions or ()))
        dims = {**self._dimensions, **{k: str(v) for k, v in (dimensions or {}).items()}}
        service = self._service if service is None else service
        if service and "service" not in dims:
            dims["service"] = service
        return {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [{
                    "Namespace": self._namespace,
                    "Dimensions": [list(dims)],
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values],
                }],
            },
            **dims,
            **{name: [float(value)] for name, value in values.items()},
        }

    def error_kind(self, kind: str) -> None:
        """`Errors` with a `kind` dimension, in its own EMF line (Powertools `single_metric`'s layout)."""
        doc = self._errors.get(kind)
        if doc is None:
            # single_metric adds `service` only from the environment, not from the handler's default
            template = self._template({"Errors": 1}, {"kind": kind},
                                      service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "")
            doc = self._errors[kind] = template
        doc["_aws"]["Timestamp"] = int(time.time() * 1000)
        (self._out or sys.stdout).write(orjson.dumps(doc).decode() + "\n")
