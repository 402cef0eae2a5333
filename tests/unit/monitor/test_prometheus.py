"""The gateway's Prometheus metrics, without a gateway (deployer/monitor/prometheus.py)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from deployer.monitor.prometheus import GatewayMetrics, route_template  # noqa: E402


@pytest.mark.parametrize(
    ("path", "route", "model"),
    [("/v2/models/iris/infer", "/v2/models/{model}/infer", "iris"), ("/v2/models/iris?x=1", "/v2/models/{model}", "iris"),
     ("/v2/models/iris/versions/3/infer", "/v2/models/{model}/versions/{version}/infer", "iris"),
     ("/v1/models/iris:predict", "/v1/models/{model}:predict", "iris"), ("/v2/health/live", "/v2/health/live", None),
     ("/v1/models/iris:classify", "/v1/models/{model}:classify", "iris"), ("/ping", "/ping", None),
     ("/predictions/iris", "/predictions/{model}", "iris"),
     ("/predictions/iris/684fa80f73a6", "/predictions/{model}/{version}", "iris"),
     ("/models/iris", "/models/{model}", "iris"), ("/predictions/a/b/c", "other", None),
     ("/admin/../etc", "other", None), ("/v2/models/a/b/c", "other", None)],
)  # fmt: skip
def test_routes_are_templates(path: str, route: str, model: str | None) -> None:
    assert route_template(path) == (route, model)


def samples(metrics: GatewayMetrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def test_labels_come_from_answers_and_emf_lines() -> None:
    metrics = GatewayMetrics()
    answer = b'{"model_name":"lin","model_version":"a1","outputs":[]}'
    for _ in range(3):
        metrics.observe_request("/v2/models/lin/infer", 200, 0.004, answer)
    metrics.observe_request("/v2/models/lin", 200, 0.001, b'{"name":"lin"}')
    metrics.observe_request("/v2/models/evil-123/infer", 404, 0.001, b'{"error":"unknown model"}')
    emf = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "OnnxLambda", "Dimensions": [["model", "version", "feature", "service"]],
                                                          "Metrics": [{"Name": "FeaturePSI"}]}]},
           "model": "lin", "version": "a1", "feature": "x0", "service": "lin", "FeaturePSI": [0.31]}  # fmt: skip
    metrics.observe_output(json.dumps(emf))
    metrics.observe_output("not an EMF line")
    found = samples(metrics)
    requests = {tuple(sorted(labels.items())): value for labels, value in found["onnx_lambda_requests_total"]}
    assert requests[(("model", "lin"), ("route", "/v2/models/{model}/infer"), ("status", "200"), ("version", "a1"))] == 3
    assert requests[(("model", "lin"), ("route", "/v2/models/{model}"), ("status", "200"), ("version", "a1"))] == 1
    assert requests[(("model", "unknown"), ("route", "/v2/models/{model}/infer"), ("status", "404"), ("version", ""))] == 1
    assert found["onnx_lambda_drift"] == [({"model": "lin", "version": "a1", "metric": "FeaturePSI", "feature": "x0"}, 0.31)]


def test_each_gateway_has_its_own_registry() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.observe_request("/v2/health/live", 200, 0.001)
    assert sum(v for _, v in samples(first)["onnx_lambda_requests_total"]) == 1
    assert "onnx_lambda_requests_total" not in samples(second)
