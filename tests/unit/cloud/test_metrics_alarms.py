"""The local cloud's alarms, evaluated on local metrics: the template's own alarms, not look-alikes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deployer.config import DeployConfig
from deployer.local.cloud.metrics import MetricStore, evaluate_alarm, evaluate_expression
from deployer.template.alarms import alarm_resources
from deployer.template.names import HandlerSeries


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _resolved(props: dict[str, Any]) -> dict[str, Any]:
    """The alarm as CloudFormation would create it here: Sub/GetAtt values replaced by plain strings."""
    text = json.dumps(props)
    text = text.replace('{"Fn::Sub": "${AWS::StackName}"}', '"fn"')
    text = text.replace('{"Fn::Sub": "${AWS::StackName}:live"}', '"fn:live"')
    text = text.replace('{"Fn::GetAtt": ["ModelFunction.Version", "Version"]}', '"2"')
    return json.loads(text)


@pytest.fixture
def alarms() -> dict[str, dict[str, Any]]:
    config = DeployConfig(name="lin")
    series = HandlerSeries(namespace="OnnxLambda", model="lin", version="abc", service="onnx-lambda")
    return {k: _resolved(v["Properties"]) for k, v in alarm_resources(config, series).items()}


def test_expressions() -> None:
    assert evaluate_expression("100 * FILL(a, 0) / b", {"a": None, "b": 4.0}) == 0.0
    assert evaluate_expression("MAX([a, b])", {"a": 3.0, "b": None}) == 3.0
    assert evaluate_expression("a / b", {"a": 1.0, "b": 0.0}) is None
    with pytest.raises(ValueError):
        evaluate_expression("__import__('os')", {})


def test_error_rate_alarm_fires_on_the_new_versions_errors_only(alarms: dict[str, dict[str, Any]]) -> None:
    clock = Clock()
    store = MetricStore(clock=clock)
    error_rate = next(v for k, v in alarms.items() if "Metrics" in v)
    for step in range(3):  # three scaled periods (1 s each at scale 60) of traffic
        for i in range(10):
            store.invocation("fn", "live", "1", error=True, duration_ms=5)  # the old version failing: not ours
            store.invocation("fn", "live", "2", error=False, duration_ms=5)
        clock.now += 1.0
    assert evaluate_alarm(error_rate, store, time_scale=60).state == "OK"
    for step in range(3):
        for i in range(10):
            store.invocation("fn", "live", "2", error=i < 5, duration_ms=5)
        clock.now += 1.0
    state = evaluate_alarm(error_rate, store, time_scale=60)
    assert state.state == "ALARM" and "breach" in state.reason


def test_handler_5xx_from_emf_count(alarms: dict[str, dict[str, Any]]) -> None:
    clock = Clock()
    store = MetricStore(clock=clock)
    error_rate = next(v for v in alarms.values() if "Metrics" in v)
    for step in range(3):
        for i in range(4):
            base = {"_aws": {"Timestamp": int(clock.now * 1000), "CloudWatchMetrics": [
                {"Namespace": "OnnxLambda", "Dimensions": [["model", "version", "service"]],
                 "Metrics": [{"Name": "RequestMs", "Unit": "Milliseconds"}]}]},
                "model": "lin", "version": "abc", "service": "onnx-lambda", "RequestMs": [1.0]}
            assert store.record_emf(json.dumps(base))
            store.record_emf(json.dumps({"_aws": {"Timestamp": int(clock.now * 1000), "CloudWatchMetrics": [
                {"Namespace": "OnnxLambda", "Dimensions": [["model", "version", "service", "kind"]],
                 "Metrics": [{"Name": "Errors", "Unit": "Count"}]}]},
                "model": "lin", "version": "abc", "service": "onnx-lambda", "kind": "ModelFailure", "Errors": [1]}))
            store.invocation("fn", "live", "2", error=False, duration_ms=3)
        clock.now += 1.0
    assert evaluate_alarm(error_rate, store, time_scale=60).state == "ALARM"
    assert not store.record_emf("plain log line")


def test_latency_alarm_and_missing_data(alarms: dict[str, dict[str, Any]]) -> None:
    clock = Clock()
    store = MetricStore(clock=clock)
    latency = next(v for v in alarms.values() if "Metrics" not in v)
    assert evaluate_alarm(latency, store, time_scale=60).state == "OK"  # notBreaching: no traffic, no rollback
    for step in range(3):
        store.invocation("fn", "live", "2", error=False, duration_ms=10_000)
        clock.now += 1.0
    assert evaluate_alarm(latency, store, time_scale=60).state == "ALARM"
