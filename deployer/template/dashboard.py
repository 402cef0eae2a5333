"""The CloudWatch dashboard: the handler's EMF metrics beside Lambda's and API Gateway's.

What the handler emits is declared in functions/series.py (names, units, dimensions); every
series it can emit for this manifest is on the dashboard, per version, and nothing else of its
namespace is (tests/unit/template/test_metrics_contract.py checks both ways):
- latency percentiles (RequestMs, InferenceMs), errors by kind, cold starts and model load,
  batch size and payload bytes;
- with a drift baseline (functions/drift.py): the worst feature's PSI (the drift alarm's metric,
  with its threshold), PSI and the share out of the training range per feature, and per monitored
  output the prediction shift: class shares or mean/p50/p90, against the baseline as annotations.
Handler series come from SEARCH expressions over the model and service, one line per version
(and per kind, feature or class), labelled with dynamic labels: during a canary the old and the
new version show side by side, and kinds or features the handler adds later show up without a new
template. The body is JSON inside `Fn::Sub` (region, stack name): `json.dumps(sort_keys=True)` keeps
it byte-for-byte stable, and any other `${` (a model name, a dynamic label) is escaped as `${!`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deployer.config import DeployConfig
from deployer.template.alarms import has_drift
from deployer.template.names import (
    ALIAS_RESOURCE,
    DASHBOARD_NAME,
    DRIFT_ALARM_NAME,
    ERROR_RATE_ALARM_NAME,
    FUNCTION_NAME,
    LATENCY_ALARM_NAME,
    HandlerSeries,
    sub,
)
from functions.series import BASE_DIMENSIONS, prediction_series

__all__ = ["dashboard_resource", "dashboard_body", "search"]

WIDTH = 12
HEIGHT = 6
PERIOD_S = 60
VERSION = "v${PROP('Dim.version')}"  # a dynamic label: the series' version


def search(series: HandlerSeries, metric: str, stat: str, extra: tuple[str, ...] = ()) -> str:
    """A SEARCH over the handler's `metric` with exactly the dimensions BASE_DIMENSIONS + `extra`,
    every version of this model and service."""
    names = ",".join(sorted((*BASE_DIMENSIONS, *extra)))
    query = (
        f"{{{json.dumps(series.namespace)},{names}}} MetricName={json.dumps(metric)} "
        f"model={json.dumps(series.model)} service={json.dumps(series.service)}"
    )
    return f"SEARCH('{query}', '{stat}', {PERIOD_S})"


def _lines(series: HandlerSeries, *specs: tuple[Any, ...]) -> list[list[Any]]:
    """(metric, stat, extra dimensions, label[, y axis]) → the widget's SEARCH entries."""
    out = []
    for i, (metric, stat, extra, label, *axis) in enumerate(specs):
        entry: dict[str, Any] = {"expression": search(series, metric, stat, extra), "id": f"e{i}", "label": label}
        if axis:
            entry["yAxis"] = axis[0]
        out.append([entry])
    return out


def _lambda(metric: str, alias: bool = False, **options: Any) -> list[Any]:
    dims = ["FunctionName", FUNCTION_NAME] + (["Resource", ALIAS_RESOURCE] if alias else [])
    return ["AWS/Lambda", metric, *dims, options]


def _api(metric: str, stage: str, **options: Any) -> list[Any]:
    return ["AWS/ApiGateway", metric, "ApiName", "${AWS::StackName}", "Stage", stage, options]


def _widget(title: str, metrics: list[list[Any]], **extra: Any) -> dict[str, Any]:
    properties = {
        "title": title,
        "metrics": metrics,
        "view": "timeSeries",
        "stacked": False,
        "region": "${AWS::Region}",
        "period": PERIOD_S,
        **extra,
    }
    return {"type": "metric", "properties": properties}


def _handler_widgets(series: HandlerSeries) -> list[dict[str, Any]]:
    def widget(title: str, *specs: Any, **extra: Any) -> dict[str, Any]:
        return _widget(title, _lines(series, *specs), **extra)

    return [
        widget("Request latency per version (ms)",
               ("RequestMs", "p50", (), f"p50 {VERSION}"), ("RequestMs", "p90", (), f"p90 {VERSION}"),
               ("RequestMs", "p99", (), f"p99 {VERSION}")),
        widget("Inference latency per version (ms)",
               ("InferenceMs", "p50", (), f"p50 {VERSION}"), ("InferenceMs", "p99", (), f"p99 {VERSION}")),
        widget("Handler errors per version, by kind",
               ("Errors", "Sum", ("kind",), f"${{PROP('Dim.kind')}} {VERSION}"),
               ("Errors", "Sum", (), f"all {VERSION}")),
        widget("Cold starts and model load per version",
               ("ColdStart", "Sum", (), f"cold starts {VERSION}"),
               ("ModelLoadMs", "Average", (), f"load ms avg {VERSION}", "right"),
               ("ModelLoadMs", "Maximum", (), f"load ms max {VERSION}", "right")),
        widget("Batch size and payload bytes per version",
               ("BatchSize", "Average", (), f"batch avg {VERSION}"), ("BatchSize", "Maximum", (), f"batch max {VERSION}"),
               ("PayloadBytes", "Average", (), f"bytes avg {VERSION}", "right"),
               ("PayloadBytes", "Maximum", (), f"bytes max {VERSION}", "right")),
    ]


def _drift_widgets(config: DeployConfig, series: HandlerSeries, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    def widget(title: str, *specs: Any, **extra: Any) -> dict[str, Any]:
        return _widget(title, _lines(series, *specs), **extra)

    threshold = config.monitoring.psi_threshold
    alarm = {"label": f"drift alarm: PSI > {threshold:g}", "value": threshold}
    widgets = []
    features = has_drift(config, manifest)
    predictions = prediction_series(manifest)
    if not features and not predictions:
        return []
    if features:
        widgets += [
            widget("Input drift: worst feature's PSI per version (the drift alarm's metric)",
                   ("DriftPSIMax", "Maximum", (), f"worst PSI {VERSION}"),
                   ("DriftRows", "Sum", (), f"rows in windows {VERSION}", "right"),
                   annotations={"horizontal": [alarm]}),
            widget("Input drift: PSI per feature and version",
                   ("DriftPSI", "Maximum", ("feature",), f"${{PROP('Dim.feature')}} {VERSION}"),
                   annotations={"horizontal": [alarm, {"label": "moderate: PSI > 0.1", "value": 0.1}]}),
            widget("Input drift: share of values outside the training range, per feature and version",
                   ("DriftOutOfRange", "Maximum", ("feature",), f"${{PROP('Dim.feature')}} {VERSION}")),
        ]
    else:
        widgets.append(widget("Drift windows: rows per version", ("DriftRows", "Sum", (), f"rows {VERSION}")))
    baselines = manifest.get("predictions") or {}
    for prediction in predictions:
        base = baselines.get(prediction.output) or {}
        name = prediction.output
        if prediction.kind == "values":
            marks = [{"label": f"baseline {key} {base[key]:.4g}", "value": base[key]}
                     for key in ("mean", "p50", "p90") if isinstance(base.get(key), (int, float))]
            widgets.append(widget(
                f"Prediction shift: output {name} per version (lines: the original's on the training sample)",
                ("PredictionMean", "Average", ("output",), f"mean {VERSION}"),
                ("PredictionP50", "Average", ("output",), f"p50 {VERSION}"),
                ("PredictionP90", "Average", ("output",), f"p90 {VERSION}"),
                ("PredictionPSI", "Maximum", ("output",), f"PSI {VERSION}", "right"),
                annotations={"horizontal": marks}))
        else:
            shares = base.get("shares") or []
            marks = [{"label": f"baseline {cls} {share:.2f}", "value": share}
                     for cls, share in zip(prediction.classes, shares)]
            widgets.append(widget(
                f"Prediction shift: class shares of output {name} per version (lines: the original's on the training "
                "sample)",
                ("PredictionClassShare", "Average", ("class", "output"), f"${{PROP('Dim.class')}} {VERSION}"),
                ("PredictionPSI", "Maximum", ("output",), f"PSI {VERSION}", "right"),
                annotations={"horizontal": marks}))
    return widgets


def dashboard_body(config: DeployConfig, series: HandlerSeries,
                   manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    handler = _handler_widgets(series)
    drift = _drift_widgets(config, series, manifest or {}) if config.monitoring.drift else []
    concurrency = [_lambda("ConcurrentExecutions", stat="Maximum", label="ConcurrentExecutions")]
    if config.provisioned_concurrency:
        concurrency += [
            _lambda("ProvisionedConcurrencyUtilization", alias=True, stat="Maximum", yAxis="right"),
            _lambda("ProvisionedConcurrencySpilloverInvocations", alias=True, stat="Sum"),
        ]
    platform = [
        _widget(
            "Lambda invocations, errors, throttles",
            [
                _lambda("Invocations", stat="Sum", label="Invocations"),
                _lambda("Errors", stat="Sum", label="Errors"),
                _lambda("Throttles", stat="Sum", label="Throttles"),
            ],
        ),
        _widget("Lambda concurrency", concurrency),
        _widget(
            "Lambda duration of the alias (ms)",
            [
                _lambda("Duration", alias=True, stat="p50", label="Duration p50"),
                _lambda("Duration", alias=True, stat="p99", label="Duration p99"),
            ],
        ),
        _widget(
            "API Gateway requests and errors",
            [
                _api("Count", config.api.stage, stat="Sum", label="Requests"),
                _api("4XXError", config.api.stage, stat="Sum", label="4XX"),
                _api("5XXError", config.api.stage, stat="Sum", label="5XX"),
                _api("Latency", config.api.stage, stat="p99", label="Latency p99 (ms)", yAxis="right"),
            ],
        ),
    ]
    drift_note = (f" Input drift alarms on `{DRIFT_ALARM_NAME}` (PSI above {config.monitoring.psi_threshold:g}); "
                  "it rolls nothing back." if drift and has_drift(config, manifest or {}) else "")
    header = {
        "type": "text",
        "x": 0,
        "y": 0,
        "width": 2 * WIDTH,
        "height": 2,
        "properties": {
            "markdown": (
                f"# {series.model} (deployed model version {series.version})\n"
                f"Handler metrics: namespace `{series.namespace}`, dimensions model, version, service "
                f"(`{series.service}`), one line per version. "
                f"Deployments roll back on the alarms `{ERROR_RATE_ALARM_NAME}` and `{LATENCY_ALARM_NAME}`."
                + drift_note
            )
        },
    }
    widgets: list[dict[str, Any]] = [header]
    for i, widget in enumerate(handler + drift + platform):
        widget.update({"x": (i % 2) * WIDTH, "y": 2 + (i // 2) * HEIGHT, "width": WIDTH, "height": HEIGHT})
        widgets.append(widget)
    return {"widgets": widgets}


_VARIABLES = ("${AWS::Region}", "${AWS::StackName}")


def dashboard_resource(config: DeployConfig, series: HandlerSeries,
                       manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps(dashboard_body(config, series, manifest), sort_keys=True, separators=(",", ":"))
    # Fn::Sub reads every "${...}": escape them all ("${!" is a literal "${"), then let ours through,
    # so a model name or namespace can never inject a reference.
    body = body.replace("${", "${!")
    for variable in _VARIABLES:
        body = body.replace("${!" + variable[2:], variable)
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": sub(DASHBOARD_NAME), "DashboardBody": sub(body)},
    }
