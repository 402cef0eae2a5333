"""Local metrics and the template's alarms evaluated on them, on the local cloud's clock.

Two sources, as on AWS:
- Lambda's own metrics, recorded by the daemon for every invocation through an alias
  (`AWS/Lambda` Invocations, Errors, Duration, Throttles) with the dimension sets Lambda
  publishes: {FunctionName}, {FunctionName, Resource}, {FunctionName, Resource, ExecutedVersion};
- the handler's Embedded Metric Format lines, read from the function's output (`record_emf`),
  with the dimension sets their `_aws.CloudWatchMetrics` directive names.

An alarm (the properties of an AWS::CloudWatch::Alarm, single metric or metric math) is
evaluated as CloudWatch does: one datapoint per period over the last EvaluationPeriods periods,
ALARM when at least DatapointsToAlarm of them breach, missing data treated as the alarm says.
Periods are divided by the time scale (60: a 1-minute period lasts one second), so an alarm
fires within seconds of a failure during a scaled traffic shift. Metric math understands what
CloudWatch's does for these alarms: + - * /, numbers, ids, FILL(id, value), MAX([...]), MIN([...]).
"""

from __future__ import annotations

import ast
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MetricStore", "AlarmState", "evaluate_alarm", "evaluate_expression"]

_OPERATORS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class _Point:
    at: float
    namespace: str
    name: str
    dims: frozenset[tuple[str, str]]
    value: float


class MetricStore:
    """Datapoints kept for `horizon_s` (wall clock), thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.time, horizon_s: float = 3600.0,
                 sink: Callable[..., None] | None = None) -> None:  # fmt: skip
        self.clock = clock
        self.horizon_s = horizon_s
        self.sink = sink  # (namespace, name, dims, value, at, unit): where CloudWatch keeps them too (telemetry.py)
        self._points: list[_Point] = []
        self._lock = threading.Lock()

    def put(self, namespace: str, name: str, dims: Mapping[str, str], value: float, at: float | None = None,
            unit: str | None = None) -> None:  # fmt: skip
        point = _Point(self.clock() if at is None else at, namespace, name, frozenset(dims.items()), float(value))
        if self.sink is not None:
            self.sink(namespace, name, dict(dims), float(value), point.at, unit)
        with self._lock:
            self._points.append(point)
            if len(self._points) > 200_000:
                cutoff = self.clock() - self.horizon_s
                self._points = [p for p in self._points if p.at >= cutoff]

    def invocation(self, function: str, alias: str, version: str, *, error: bool, duration_ms: float,
                   throttled: bool = False) -> None:  # fmt: skip
        """What Lambda publishes for one invocation through `function:alias` that ran `version`."""
        sets = [{"FunctionName": function}, {"FunctionName": function, "Resource": f"{function}:{alias}"},
                {"FunctionName": function, "Resource": f"{function}:{alias}", "ExecutedVersion": version}]  # fmt: skip
        now = self.clock()
        for dims in sets:
            if throttled:
                self.put("AWS/Lambda", "Throttles", dims, 1, now, "Count")
                continue
            self.put("AWS/Lambda", "Invocations", dims, 1, now, "Count")
            self.put("AWS/Lambda", "Errors", dims, 1 if error else 0, now, "Count")
            self.put("AWS/Lambda", "Duration", dims, duration_ms, now, "Milliseconds")

    def record_emf(self, line: str) -> bool:
        """One line of function output; True when it was an EMF document (its metrics are stored)."""
        text = line.strip()
        if not text.startswith("{") or '"_aws"' not in text:
            return False
        try:
            doc = json.loads(text)
            directives = doc["_aws"]["CloudWatchMetrics"]
            at = float(doc["_aws"].get("Timestamp", self.clock() * 1000)) / 1000.0
        except (ValueError, KeyError, TypeError):
            return False
        for directive in directives:
            namespace = str(directive.get("Namespace", ""))
            for dim_set in directive.get("Dimensions", []) or [[]]:
                dims = {str(d): str(doc.get(d, "")) for d in dim_set}
                for metric in directive.get("Metrics", []):
                    values = doc.get(metric.get("Name"))
                    for value in values if isinstance(values, list) else [values]:
                        if isinstance(value, (int, float)) and not isinstance(value, bool):
                            self.put(namespace, str(metric["Name"]), dims, value, min(at, self.clock()), metric.get("Unit"))
        return True

    def values(self, namespace: str, name: str, dims: Mapping[str, str], start: float, end: float) -> list[float]:
        want = frozenset(dims.items())
        with self._lock:
            return [p.value for p in self._points
                    if p.namespace == namespace and p.name == name and p.dims == want and start <= p.at < end]  # fmt: skip


def _statistic(values: list[float], stat: str) -> float | None:
    if not values:
        return None
    if stat == "Sum":
        return float(sum(values))
    if stat == "SampleCount":
        return float(len(values))
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = max(0, math.ceil(float(stat[1:]) / 100.0 * len(ordered)) - 1)
        return ordered[rank]
    raise ValueError(f"statistic {stat!r} is not evaluated locally")


def _dims(items: list[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(d["Name"]): str(d["Value"]) for d in items or []}


def evaluate_expression(expression: str, values: Mapping[str, float | None]) -> float | None:
    """CloudWatch metric math for what our alarms use (module doc), parsed with `ast`, never eval'd."""
    tree = ast.parse(expression, mode="eval")

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ValueError(f"unknown id {node.id!r} in {expression!r}")
            return values[node.id]
        if isinstance(node, ast.List):
            return [walk(item) for item in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = walk(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return None if right == 0 else left / right
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id.upper()
            args = [walk(a) for a in node.args]
            if name == "FILL" and len(args) == 2:
                return args[1] if args[0] is None else args[0]
            if name in ("MAX", "MIN") and len(args) == 1 and isinstance(args[0], list):
                present = [v for v in args[0] if v is not None]
                return (max if name == "MAX" else min)(present) if present else None
        raise ValueError(f"metric math {expression!r}: {ast.dump(node)[:80]} is not evaluated locally")

    result = walk(tree)
    return None if result is None else float(result)


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str  # "OK" | "ALARM" | "INSUFFICIENT_DATA"
    reason: str


def evaluate_alarm(props: Mapping[str, Any], store: MetricStore, *, time_scale: float, now: float | None = None) -> AlarmState:
    """The alarm's state now, on the scaled clock (module doc)."""
    name = str(props.get("AlarmName", "alarm"))
    now = store.clock() if now is None else now
    periods = int(props.get("EvaluationPeriods", 1))
    needed = int(props.get("DatapointsToAlarm", periods))
    threshold = float(props["Threshold"])
    compare = _OPERATORS[str(props.get("ComparisonOperator", "GreaterThanThreshold"))]
    missing = str(props.get("TreatMissingData", "missing"))
    datapoints: list[float | None] = []
    for back in range(periods, 0, -1):
        datapoints.append(_datapoint(props, store, now, back, time_scale))
    breaching = 0
    for value in datapoints:
        if value is None:
            breaching += missing == "breaching"
        elif compare(value, threshold):
            breaching += 1
    shown = ", ".join("-" if v is None else f"{v:.3g}" for v in datapoints)
    if breaching >= needed:
        return AlarmState(name, "ALARM", f"{breaching} of the last {periods} datapoints [{shown}] breach the threshold "
                                         f"{threshold:g} ({props.get('ComparisonOperator')})")  # fmt: skip
    if all(v is None for v in datapoints) and missing == "missing":
        return AlarmState(name, "INSUFFICIENT_DATA", "no datapoints")
    return AlarmState(name, "OK", f"datapoints [{shown}] against {threshold:g}")


def _datapoint(props: Mapping[str, Any], store: MetricStore, now: float, back: int, scale: float) -> float | None:
    if props.get("Metrics"):
        values: dict[str, float | None] = {}
        result: float | None = None
        for query in props["Metrics"]:
            if "MetricStat" in query:
                stat = query["MetricStat"]
                metric = stat["Metric"]
                span = float(stat.get("Period", 60)) / scale
                start, end = now - back * span, now - (back - 1) * span
                values[query["Id"]] = _statistic(
                    store.values(metric["Namespace"], metric["MetricName"], _dims(metric.get("Dimensions")), start, end),
                    str(stat["Stat"]),
                )
            elif "Expression" in query:
                values[query["Id"]] = evaluate_expression(str(query["Expression"]), values)
            if query.get("ReturnData", True) and query["Id"] in values:
                result = values[query["Id"]]
        return result
    span = float(props.get("Period", 60)) / scale
    start, end = now - back * span, now - (back - 1) * span
    stat = str(props.get("ExtendedStatistic") or props.get("Statistic") or "Average")
    found = store.values(str(props["Namespace"]), str(props["MetricName"]), _dims(props.get("Dimensions")), start, end)
    return _statistic(found, stat)
