"""Issue 10: `metrics`, `logs` and /metrics against CloudWatch as moto serves it, and end to end on the local cloud.

The readers run against a bare moto server (GetMetricData batches and pages, drift found by name),
the CLI's errors are checked as a user meets them, and one model is pushed to the local cloud,
asked N requests, and read back through every output: `metrics --json`, `--plot`, `--tensorboard`,
`logs --request-id` and the stage gateway's /metrics.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from deployer.local.cloud import client
from deployer.model import convert
from deployer.monitor.metrics import read_metrics
from deployer.monitor.stack import Deployed
from deployer.monitor.timespec import window
from tests.functional.conftest import Run, boto, cli
from tests.unit.model import builders


def test_readers_against_moto_batches_pages_and_finds_new_metrics(moto_url: str) -> None:
    cloudwatch = boto("cloudwatch", moto_url)
    now = datetime.now(timezone.utc)
    lam = [{"Name": "FunctionName", "Value": "onnx-m"}, {"Name": "Resource", "Value": "onnx-m:live"}]
    handler = [{"Name": "model", "Value": "m"}, {"Name": "version", "Value": "mv2"}, {"Name": "service", "Value": "m"}]
    data: list[dict[str, Any]] = []
    for version, count in (("1", 3), ("2", 5)):
        dims = [*lam, {"Name": "ExecutedVersion", "Value": version}]
        data += [{"MetricName": "Invocations", "Dimensions": dims, "Value": 1.0, "Timestamp": now} for _ in range(count)]
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)
    features = 130  # 130 features x (mean, max) x (window, per period) = 520 queries: two GetMetricData batches
    drift = [{"MetricName": "FeaturePSI", "Dimensions": [*handler, {"Name": "feature", "Value": f"f{i:03d}"}],
              "Value": i / 1000.0, "Timestamp": now} for i in range(features)]  # fmt: skip
    for start in range(0, len(drift), 20):
        cloudwatch.put_metric_data(Namespace="OnnxLambda", MetricData=drift[start : start + 20])
    cloudwatch.put_metric_data(Namespace="OnnxLambda", MetricData=[
        {"MetricName": "ColdStart", "Dimensions": handler, "Value": 1.0, "Timestamp": now},
        {"MetricName": "Errors", "Dimensions": [*handler, {"Name": "kind", "Value": "BadRequest"}], "Value": 1.0, "Timestamp": now},
    ])  # fmt: skip
    deployed = Deployed(stack="onnx-m", function="onnx-m", log_group="/aws/lambda/onnx-m", model="m",
                        namespace="OnnxLambda", service="m", model_versions={"1": "mv1", "2": "mv2"})  # fmt: skip
    calls: list[int] = []
    cloudwatch.meta.events.register("provide-client-params.cloudwatch.GetMetricData",
                                    lambda params, **kw: calls.append(len(params["MetricDataQueries"])))  # fmt: skip
    versions, notes = read_metrics(cloudwatch, deployed, window("1h", "5m", now))
    assert [v.version for v in versions] == ["2", "1"]
    two, one = versions
    assert (two.invocations, one.invocations, two.cold_starts, two.errors_by_kind) == (5, 3, 1, {"BadRequest": 1})
    assert [d.dims["feature"] for d in two.drift[:3]] == ["f129", "f128", "f127"] and len(two.drift) == features
    assert two.drift[0].max == pytest.approx(0.129)
    assert max(calls) <= 500 and sum(calls) >= 4 * features
    assert one.model_version == "mv1" and not one.drift


def test_cli_errors_are_one_line_and_non_zero(moto_url: str, project: Path) -> None:
    unknown = cli("metrics", "--stack-name", "nope", "--json", project=project, endpoint=moto_url)
    assert unknown.code == 1 and "no stack nope" in unknown.json()["error"], unknown.stderr
    assert "Traceback" not in unknown.stderr
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ahead = cli("metrics", "--stack-name", "nope", "--since", future, project=project, endpoint=moto_url)
    assert ahead.code == 2 and "is in the future" in ahead.stderr and len(ahead.stderr.strip().splitlines()) == 1
    garbled = cli("logs", "--stack-name", "nope", "--since", "last tuesday", project=project, endpoint=moto_url)
    assert garbled.code == 2 and "not a duration" in garbled.stderr
    (project / "afile").write_text("x")
    plot = cli("metrics", "--stack-name", "nope", "--plot", str(project / "afile" / "m.png"), project=project,
               endpoint=moto_url)  # fmt: skip
    assert plot.code == 1 and "--plot" in plot.stderr and "does not exist" in plot.stderr
    assert sorted(p.name for p in project.iterdir() if not p.name.startswith(".")) == ["afile"]

    # A stack that exists but was never invoked: no metrics yet, said as such, and no plot half-written.
    from tests.functional.conftest import EXAMPLE

    pushed = cli("push", str(EXAMPLE), "--target", "aws", "--builder", "files", "--json", project=project,
                 endpoint=moto_url)  # fmt: skip
    assert pushed.code == 0, pushed.stderr
    empty = cli("metrics", "--stack-name", "onnx-iris", "--plot", str(project / "m.png"), "--json", project=project,
                endpoint=moto_url)  # fmt: skip
    assert empty.code != 0 and "no metrics of stack onnx-iris" in empty.json()["error"], empty.stdout
    assert not (project / "m.png").exists()


# --------------------------------------------------------------------------- end to end, on the local cloud

SENT = 12


@pytest.fixture
def cloud_project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    yield folder
    client.stop(folder)


def run(*args: str, project: Path, timeout: float = 300) -> Run:
    return cli(*args, project=project, endpoint=None, timeout=timeout)


def _post(url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, dict(response.headers), response.read()


def _wait_metrics(project: Path, want: int, *extra: str) -> dict[str, Any]:
    """`metrics --json` once the local CloudWatch holds `want` invocations (it is flushed every 0.5 s)."""
    import time

    deadline = time.monotonic() + 30
    while True:
        result = run("metrics", "--stack-name", "onnx-mon", "--since", "15m", "--json", *extra, project=project)
        if result.code == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result.code == 0, result.stderr
    doc = result.json()
    while doc["versions"][0]["invocations"] < want and time.monotonic() < deadline:
        time.sleep(1)
        doc = run("metrics", "--stack-name", "onnx-mon", "--since", "15m", "--json", *extra, project=project).json()
    return doc


@pytest.mark.local
def test_push_requests_then_metrics_plot_tensorboard_logs_and_prometheus(cloud_project: Path, tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "mon.onnx", features=4, outputs=2, seed=3)
    model = convert(source, out=tmp_path / "mon", name="mon").out
    pushed = run("push", str(model), "--builder", "files", "--json", project=cloud_project)
    assert pushed.code == 0, pushed.stderr
    url = pushed.json()["url"]

    # The /metrics of the stage's gateway counts what it served since it started: a baseline first.
    def scrape() -> float:
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=30) as response:
            text = response.read().decode()
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "onnx_lambda_requests_total" and s.labels.get("route") == "/v2/models/{model}/infer")  # fmt: skip

    before_scrape = scrape()
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    for _ in range(SENT):
        status, headers, answer = _post(url, "/v2/models/mon/infer", body)
        assert status == 200 and "x-amzn-RequestId" in headers
    assert scrape() - before_scrape == SENT

    # One request's lines, by the Lambda request id its REPORT line carries.
    import time

    deadline = time.monotonic() + 20  # the local CloudWatch Logs is written every 0.5 s
    while True:
        listed = run("logs", "--stack-name", "onnx-mon", "--since", "15m", "--json", project=cloud_project)
        assert listed.code == 0, listed.stderr
        lines = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        reports = [line for line in lines if line["kind"] == "report"]
        if len(reports) >= SENT + 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(reports) >= SENT + 1 and not any(line["kind"] == "emf" for line in lines)
    wanted = reports[-1]["request_id"]
    one = run("logs", "--stack-name", "onnx-mon", "--since", "15m", "--request-id", wanted, "--emf", "--json",
              project=cloud_project)  # fmt: skip
    assert one.code == 0, one.stderr
    mine = [json.loads(line) for line in one.stdout.splitlines() if line.strip()]
    assert [line["kind"] for line in mine] == ["emf", "report"] and mine[-1]["request_id"] == wanted
    table = run("logs", "--stack-name", "onnx-mon", "--since", "15m", "--request-id", wanted, project=cloud_project)
    assert table.code == 0 and wanted in table.stdout
    missing = run("logs", "--stack-name", "onnx-mon", "--since", "15m", "--request-id", "0000-nope", project=cloud_project)
    assert missing.code == 1 and "no log line of request 0000-nope" in missing.stderr

    # Exact counts: the push's smoke test is one invocation of version 1 before ours.
    doc = _wait_metrics(cloud_project, SENT + 1)
    (version,) = doc["versions"]
    assert version["version"] == "1" and version["model_version"] == json.loads(answer)["model_version"]
    assert version["invocations"] == SENT + 1 and version["errors"] == 0
    assert version["cold_starts"] == 1 and version["requests"] >= SENT + 1
    latency = version["duration_ms"]  # percentiles: the local CloudWatch computes them (emulator/cloudwatch_metrics.py)
    assert latency["p50"] is not None and latency["p50"] <= latency["p95"] <= latency["p99"], latency
    assert not any("could not compute percentiles" in note for note in doc.get("notes", []))

    plot, board = tmp_path / "out" / "metrics.png", tmp_path / "out" / "tb"
    plot.parent.mkdir()
    drawn = run("metrics", "--stack-name", "onnx-mon", "--since", "15m", "--json", "--plot", str(plot),
                "--tensorboard", str(board), project=cloud_project)  # fmt: skip
    assert drawn.code == 0, drawn.stderr
    series = drawn.json()["versions"][0]["series"]
    assert sum(series["invocations"]["values"]) == SENT + 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib import image

    assert image.imread(str(plot)).ndim == 3
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(board / "v1"))
    events.Reload()
    for name, points in series.items():
        assert [s.value for s in events.Scalars(name)] == pytest.approx(points["values"], rel=1e-6), name

