"""EMF lines: one per invocation, the named metrics, ColdStart once, same document as Powertools'."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from functions.app import Service
from functions.metrics import UNITS, RequestMetrics
from tests.unit.functions.conftest import Client
from tests.unit.functions.test_errors import good


def emf_lines(text: str) -> list[dict]:
    docs = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return docs


def metric_names(doc: dict) -> set[str]:
    return {m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def test_each_invocation_prints_emf_and_cold_start_once(pair_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = Client(Service(str(pair_dir)))
    capsys.readouterr()
    for _ in range(3):
        assert client.infer("pair", good(rows=2)).status == 200
    docs = emf_lines(capsys.readouterr().out)
    assert len(docs) == 3
    assert {"ColdStart", "ModelLoadMs", "RequestMs", "InferenceMs", "BatchSize", "PayloadBytes"} <= metric_names(docs[0])
    assert [d.get("ColdStart") for d in docs] == [[1], None, None]
    for doc in docs:
        assert doc["model"] == "pair" and doc["version"] and doc["_aws"]["CloudWatchMetrics"][0]["Namespace"]
        assert doc["BatchSize"] == [2] and doc["PayloadBytes"][0] > 0 and doc["RequestMs"][0] > 0
        assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["model", "version", "service"]]


def test_errors_are_counted_by_kind(pair_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = Client(Service(str(pair_dir)))
    capsys.readouterr()
    assert client.request("GET", "/v2/models/pair/infer").status == 405
    docs = emf_lines(capsys.readouterr().out)
    by_kind = [d for d in docs if "kind" in d]
    assert by_kind and by_kind[0]["kind"] == "MethodNotAllowed" and by_kind[0]["Errors"] == [1.0]
    main = [d for d in docs if "kind" not in d][0]
    assert main["Errors"] == [1] and "InferenceMs" not in main


def test_template_output_equals_powertools_serialization() -> None:
    out = io.StringIO()
    metrics = RequestMetrics("Ns", "svc", "m", "v1", out=out)
    values = {"RequestMs": 1.5, "PayloadBytes": 10, "InferenceMs": 0.5, "BatchSize": 3}
    metrics.emit({k: 0 for k in values})  # builds the template with other values
    metrics.emit(values)
    ours = json.loads(out.getvalue().splitlines()[1])
    provider = AmazonCloudWatchEMFProvider(namespace="Ns", service="svc")
    provider.set_default_dimensions(model="m", version="v1")
    for name, value in values.items():
        provider.add_metric(name=name, unit=UNITS[name], value=value)
    theirs = provider.serialize_metric_set()
    ours["_aws"]["Timestamp"] = theirs["_aws"]["Timestamp"] = 0
    assert ours == theirs


def test_payloads_are_never_logged(pair_dir: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.app

    stream = io.StringIO()
    monkeypatch.setattr(functions.app.logger, "stream", stream)
    functions.app.logger.setLevel("DEBUG")
    client = Client(Service(str(pair_dir)))
    secret = 424242.5
    body = good()
    body["inputs"][0]["data"] = [secret, 1, 2]
    client.infer("pair", body)
    client.infer("pair", {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [secret, "x", 1]}]})
    captured = capsys.readouterr()
    logged = stream.getvalue()
    functions.app.logger.setLevel("INFO")
    assert '"request refused"' in logged and '"message":"request"' in logged  # the log was captured
    assert "424242" not in captured.out + captured.err + logged


def test_refused_requests_are_logged_with_the_request_id(pair_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.app

    stream = io.StringIO()
    monkeypatch.setattr(functions.app.logger, "stream", stream)
    client = Client(Service(str(pair_dir)))
    client.request("GET", "/nowhere")
    logs = [json.loads(line) for line in stream.getvalue().splitlines() if '"level"' in line]
    refused = [entry for entry in logs if entry["message"] == "request refused"]
    assert refused and refused[0]["request_id"] == "11111111-2222-3333-4444-555555555555"
    assert refused[0]["status"] == 404


@pytest.mark.parametrize("service_env", [None, "svc-env"], ids=["no service variable", "POWERTOOLS_SERVICE_NAME"])
def test_errors_by_kind_equal_powertools_single_metric(service_env: str | None, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    if service_env:
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service_env)
    else:
        monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    out = io.StringIO()
    metrics = RequestMetrics("Ns", service_env or "onnx-lambda", "m", "v1", out=out)
    metrics.error_kind("BadRequest")
    metrics.error_kind("BadRequest")  # from the template
    capsys.readouterr()
    with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace="Ns",
                       default_dimensions={"model": "m", "version": "v1"}) as metric:
        metric.add_dimension(name="kind", value="BadRequest")
    theirs = json.loads(capsys.readouterr().out)
    for line in out.getvalue().splitlines():
        ours = json.loads(line)
        ours["_aws"]["Timestamp"] = theirs["_aws"]["Timestamp"] = 0
        assert ours == theirs and list(ours) == list(theirs)


def test_drift_and_request_documents_keep_powertools_key_order() -> None:
    out = io.StringIO()
    metrics = RequestMetrics("Ns", "svc", "m", "v1", out=out)
    metrics.emit({"ColdStart": 1, "ModelLoadMs": 3.5, "RequestMs": 1.0})
    provider = AmazonCloudWatchEMFProvider(namespace="Ns", service="svc")
    provider.set_default_dimensions(model="m", version="v1")
    for name, value in {"ColdStart": 1, "ModelLoadMs": 3.5, "RequestMs": 1.0}.items():
        provider.add_metric(name=name, unit=UNITS[name], value=value)
    theirs = provider.serialize_metric_set()
    ours = json.loads(out.getvalue())
    assert list(ours) == list(theirs) and ours["_aws"]["CloudWatchMetrics"] == theirs["_aws"]["CloudWatchMetrics"]


def test_routes_are_parsed_once_per_path_and_still_checked(pair_dir: Path) -> None:
    client = Client(Service(str(pair_dir)))
    assert client.infer("pair", good()).status == 200
    assert client.infer("pair", good()).status == 200
    assert len(client.service._routes) == 1  # the second request reused the first one's route
    assert client.request("GET", "/v2/models/pair/infer").status == 405  # other method: refused, not cached
    assert len(client.service._routes) == 1
    for _ in range(2):  # the model's name is checked in the route, on every request
        assert client.infer("other", good()).status == 404
    for n in range(80):  # paths are the client's to choose: what is kept stays bounded
        client.infer(f"m{n}", good())
    assert len(client.service._routes) == 64
