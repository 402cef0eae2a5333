"""GET /metrics of the local gateway, through the real emulator and handler (issue 10)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from deployer.local import LocalEndpoint
from tests.local.conftest import IRIS

pytestmark = pytest.mark.local

prometheus_parser = pytest.importorskip("prometheus_client.parser")

ROW = [5.1, 3.5, 1.4, 0.2]


def _body(rows: int = 1) -> bytes:
    return json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [rows, 4], "data": ROW * rows}]}).encode()


def scrape(endpoint: LocalEndpoint) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of /metrics by sample name, parsed with prometheus_client's own parser."""
    response = endpoint.request("GET", "/metrics")
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in prometheus_parser.text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(value for found, value in samples.get(name, []) if all(found.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def iris() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(IRIS, timeout_s=30, memory_mb=512) as endpoint:
        yield endpoint


def test_counters_equal_the_requests_sent(iris: LocalEndpoint) -> None:
    sent = 7
    for _ in range(sent):
        answer = iris.request("POST", "/v2/models/iris/infer", _body(), {"Content-Type": "application/json"})
        assert answer.status == 200, answer.body
    version = json.loads(answer.body)["model_version"]
    assert iris.request("GET", "/v2/models/nope").status == 404
    assert iris.request("GET", "/v2/health/live").status == 200
    deadline = time.monotonic() + 10  # EMF lines come through the output thread
    samples = scrape(iris)
    while total(samples, "onnx_lambda_cold_starts_total") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
        samples = scrape(iris)

    infer = {"model": "iris", "version": version, "route": "/v2/models/{model}/infer"}
    assert total(samples, "onnx_lambda_requests_total", status="200", **infer) == sent
    assert total(samples, "onnx_lambda_request_duration_seconds_count", **infer) == sent
    assert total(samples, "onnx_lambda_request_duration_seconds_bucket", le="+Inf", **infer) == sent
    # An unknown model's name never becomes a label value; the scrape itself is not counted.
    assert total(samples, "onnx_lambda_requests_total", model="unknown", status="404") == 1
    assert not any(s[0].get("model") == "nope" for s in samples["onnx_lambda_requests_total"])
    assert total(samples, "onnx_lambda_requests_total", route="/v2/health/live", status="200") == 1
    assert total(samples, "onnx_lambda_requests_total") == sent + 2
    # From the handler's EMF lines: one cold start, its load time, inference latency, errors by kind.
    assert total(samples, "onnx_lambda_cold_starts_total", model="iris", version=version) == 1
    assert total(samples, "onnx_lambda_model_load_seconds", model="iris", version=version) > 0
    assert total(samples, "onnx_lambda_inference_duration_seconds_count", model="iris", version=version) == sent
    assert total(samples, "onnx_lambda_handler_errors_total", kind="NotFound") == 1


def test_metrics_is_answered_by_the_gateway_not_the_function(iris: LocalEndpoint) -> None:
    head = iris.request("HEAD", "/metrics")
    assert head.status == 200 and head.body == b""
    posted = iris.request("POST", "/metrics", b"{}", {"Content-Type": "application/json"})
    assert posted.status == 404 and "no route" in posted.json()["error"]  # only GET/HEAD are the gateway's


def test_an_endpoint_without_metrics_routes_metrics_to_the_function() -> None:
    """metrics=False (the CLI's one-shot invoke): no families are built, /metrics is an ordinary path."""
    with LocalEndpoint(IRIS, timeout_s=30, memory_mb=512, metrics=False) as endpoint:
        answer = endpoint.request("POST", "/v2/models/iris/infer", _body(), {"Content-Type": "application/json"})
        assert answer.status == 200, answer.body
        scraped = endpoint.request("GET", "/metrics")
        assert scraped.status == 404 and "no route" in scraped.json()["error"]  # the handler's answer
        assert endpoint._gateway.metrics is None
