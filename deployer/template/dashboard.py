"""The CloudWatch dashboard: the handler's EMF metrics beside Lambda's and API Gateway's.

The handler (functions/metrics.py) writes, per request, into `metrics_namespace` with
dimensions model, version, service: RequestMs, InferenceMs, PayloadBytes, BatchSize, and on a
cold start ColdStart and ModelLoadMs; on an error, Errors (and Errors with a `kind` dimension
in its own line). The dashboard shows the deployed model version's series; errors by kind come
from a SEARCH expression, so kinds added to the handler later show up without a new template.

The body is JSON inside `Fn::Sub` (region, stack name): `json.dumps(sort_keys=True)` keeps it
byte-for-byte stable, and any other `${` (from a model name, say) is escaped as `${!`.
"""

from __future__ import annotations

import json
from typing import Any

from deployer.config import DeployConfig
from deployer.template.names import (
    ALIAS_RESOURCE,
    DASHBOARD_NAME,
    ERROR_RATE_ALARM_NAME,
    FUNCTION_NAME,
    LATENCY_ALARM_NAME,
    HandlerSeries,
    sub,
)

__all__ = ["dashboard_resource", "dashboard_body"]

WIDTH = 12
HEIGHT = 6
PERIOD_S = 60


def _handler(series: HandlerSeries, metric: str, **options: Any) -> list[Any]:
    dims = [part for d in series.dimensions() for part in (d["Name"], d["Value"])]
    return [series.namespace, metric, *dims, options]


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


def _errors_by_kind(series: HandlerSeries) -> list[list[Any]]:
    query = (
        f"{{{json.dumps(series.namespace)},kind,model,service,version}} MetricName=\"Errors\" "
        f"model={json.dumps(series.model)} version={json.dumps(series.version)} service={json.dumps(series.service)}"
    )
    return [[{"expression": f"SEARCH('{query}', 'Sum', {PERIOD_S})", "id": "kinds", "label": ""}]]


def dashboard_body(config: DeployConfig, series: HandlerSeries) -> dict[str, Any]:
    handler = [
        _widget(
            "Request and inference latency (ms)",
            [
                _handler(series, "RequestMs", stat="p50", label="RequestMs p50"),
                _handler(series, "RequestMs", stat="p99", label="RequestMs p99"),
                _handler(series, "InferenceMs", stat="p50", label="InferenceMs p50"),
                _handler(series, "InferenceMs", stat="p99", label="InferenceMs p99"),
            ],
        ),
        _widget(
            "Cold starts and model load (ms)",
            [
                _handler(series, "ColdStart", stat="Sum", label="ColdStart"),
                _handler(series, "ModelLoadMs", stat="Average", label="ModelLoadMs avg", yAxis="right"),
                _handler(series, "ModelLoadMs", stat="Maximum", label="ModelLoadMs max", yAxis="right"),
            ],
        ),
        _widget("Handler errors by kind", _errors_by_kind(series), stat="Sum"),
        _widget(
            "Batch size and payload bytes",
            [
                _handler(series, "BatchSize", stat="Average", label="BatchSize avg"),
                _handler(series, "BatchSize", stat="Maximum", label="BatchSize max"),
                _handler(series, "PayloadBytes", stat="Average", label="PayloadBytes avg", yAxis="right"),
                _handler(series, "PayloadBytes", stat="Maximum", label="PayloadBytes max", yAxis="right"),
            ],
        ),
    ]
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
    header = {
        "type": "text",
        "x": 0,
        "y": 0,
        "width": 2 * WIDTH,
        "height": 2,
        "properties": {
            "markdown": (
                f"# {series.model} (model version {series.version})\n"
                f"Handler metrics: namespace `{series.namespace}`, dimensions model, version, service "
                f"(`{series.service}`). "
                f"Deployments roll back on the alarms `{ERROR_RATE_ALARM_NAME}` and `{LATENCY_ALARM_NAME}`."
            )
        },
    }
    widgets: list[dict[str, Any]] = [header]
    for i, widget in enumerate(handler + platform):
        widget.update({"x": (i % 2) * WIDTH, "y": 2 + (i // 2) * HEIGHT, "width": WIDTH, "height": HEIGHT})
        widgets.append(widget)
    return {"widgets": widgets}


_VARIABLES = ("${AWS::Region}", "${AWS::StackName}")


def dashboard_resource(config: DeployConfig, series: HandlerSeries) -> dict[str, Any]:
    body = json.dumps(dashboard_body(config, series), sort_keys=True, separators=(",", ":"))
    # Fn::Sub reads every "${...}": escape them all ("${!" is a literal "${"), then let ours through,
    # so a model name or namespace can never inject a reference.
    body = body.replace("${", "${!")
    for variable in _VARIABLES:
        body = body.replace("${!" + variable[2:], variable)
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": sub(DASHBOARD_NAME), "DashboardBody": sub(body)},
    }
