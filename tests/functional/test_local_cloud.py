"""Issue 8: the local cloud serves what push deployed; versions, rollback and delete are seen at the URL.

Every command runs as a user would run it: `python -m deployer ...` in a subprocess, with no AWS
credentials and no exported variables. The cloud starts on demand and is stopped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer.local.cloud import client
from deployer.model import convert
from tests.functional.conftest import Run, cli
from tests.unit.model import builders

pytestmark = pytest.mark.local


@pytest.fixture
def cloud_project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    yield folder
    client.stop(folder)


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two versions of one model 'lin' whose predictions differ."""
    root = tmp_path_factory.mktemp("lin")
    out = {}
    for tag, seed in (("v1", 0), ("v2", 1)):
        source = builders.onnx_linear(root / f"{tag}.onnx", features=4, outputs=2, seed=seed)
        out[tag] = convert(source, out=root / tag, name="lin").out
    return out


def run(*args: str, project: Path, timeout: float = 300) -> Run:
    return cli(*args, project=project, endpoint=None, timeout=timeout)


def predict(url: str) -> list[float]:
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/v2/models/lin/infer", data=body,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return [round(v, 4) for v in json.loads(response.read())["outputs"][0]["data"]]


def status(project: Path) -> dict[str, Any]:
    result = run("status", "--stack-name", "onnx-lin", "--json", project=project)
    assert result.code == 0, result.stderr
    return result.json()


def test_lifecycle_push_rollback_delete(cloud_project: Path, versions: dict[str, Path]) -> None:
    first = run("push", str(versions["v1"]), "--builder", "files", "--json", project=cloud_project)
    assert first.code == 0, first.stderr
    report = first.json()
    assert report["target"] == "local" and report["smoke_test"]["status"] == "passed", report
    url = report["url"]
    assert url.startswith("http://127.0.0.1:")
    v1 = predict(url)  # the push process has exited: the cloud serves
    manifest_v1 = json.loads((versions["v1"] / "manifest.json").read_text())
    manifest_v2 = json.loads((versions["v2"] / "manifest.json").read_text())

    doc = status(cloud_project)
    assert doc["target"] == "local" and doc["function_version"] == "1"
    assert doc["model_version"] == manifest_v1["version"] and doc["url"] == url

    planned = run("plan", str(versions["v2"]), "--builder", "files", "--json", project=cloud_project)
    assert planned.code == 0, planned.stderr
    plan = planned.json()  # push's own records, rendered; nothing changed
    assert plan["changed"] and plan["exists"] and any("ModelFunction" in m for m in plan["changes"]["modified"])
    assert [c["method"] for c in plan["calls"]][-1] == "deploy_change_set"
    assert predict(url) == v1 and status(cloud_project)["function_version"] == "1"

    second = run("push", str(versions["v2"]), "--builder", "files", "--json", project=cloud_project)
    assert second.code == 0, second.stderr
    assert second.json()["url"] == url
    assert "alias" not in second.json()["steps"], second.json()["steps"]  # the canary ended on its own
    v2 = predict(url)
    assert v2 != v1
    doc = status(cloud_project)
    assert doc["function_version"] == "2" and doc["model_version"] == manifest_v2["version"]
    assert [r["weight"] for r in doc["routing"]] == [1.0], doc["routing"]  # no canary weights left behind

    back = run("rollback", "--stack-name", "onnx-lin", "--json", project=cloud_project)
    assert back.code == 0, back.stderr
    assert back.json()["to"] == "1"
    assert predict(url) == v1  # the previous model answers from the same URL
    doc = status(cloud_project)
    assert doc["function_version"] == "1" and doc["model_version"] == manifest_v1["version"]
    assert doc["routing"][0]["image_digest"] and doc["image_uri"] == doc["routing"][0]["image_uri"]

    again = run("rollback", "--stack-name", "onnx-lin", "--json", project=cloud_project)
    assert again.code != 0 and "nothing older" in again.json()["error"]

    replan = run("plan", str(versions["v2"]), "--builder", "files", "--json", project=cloud_project)
    assert any("back to the stack's version" in note for note in replan.json()["notes"]), replan.stdout
    third = run("push", str(versions["v2"]), "--builder", "files", "--json", project=cloud_project)
    assert third.code == 0, third.stderr
    assert third.json()["steps"]["alias"] == "restored"
    assert predict(url) == v2
    assert status(cloud_project)["model_version"] == manifest_v2["version"]

    gone = run("delete", "--stack-name", "onnx-lin", "--json", project=cloud_project)
    assert gone.code == 0, gone.stderr
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        predict(url)
    missing = run("delete", "--stack-name", "onnx-lin", "--json", project=cloud_project)
    assert missing.code != 0 and "no stack onnx-lin" in missing.json()["error"]


def test_cloud_comes_back_after_down_and_kill(cloud_project: Path, versions: dict[str, Path]) -> None:
    pushed = run("push", str(versions["v1"]), "--builder", "files", "--json", project=cloud_project)
    assert pushed.code == 0, pushed.stderr
    url = pushed.json()["url"]
    before = predict(url)

    assert run("local", "down", project=cloud_project).code == 0
    assert client.running(cloud_project) is None
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        predict(url)
    up = run("local", "up", "--json", project=cloud_project)
    assert up.code == 0, up.stderr
    assert predict(url) == before  # same stack, same URL, same answer

    info = client.running(cloud_project)
    assert info is not None
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while client.running(cloud_project) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    listed = run("local", "status", "--json", project=cloud_project)
    assert listed.code == 0 and listed.json()["running"] is False
    doc = status(cloud_project)  # any command starts it again, with every stack
    assert doc["function_version"] == "1"
    assert predict(url) == before


def test_second_cloud_and_taken_port_are_refused(cloud_project: Path) -> None:
    up = run("local", "up", "--json", project=cloud_project)
    assert up.code == 0, up.stderr
    second = run("local", "up", "--json", project=cloud_project)
    assert second.code != 0 and "already runs" in second.json()["error"]
    listed = run("local", "status", "--json", project=cloud_project)
    assert listed.json()["running"] is True and listed.json()["stacks"] == []
    assert run("local", "down", project=cloud_project).code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = run("local", "up", "--port", str(port), "--json", project=cloud_project)
    assert refused.code != 0 and f"port {port}" in refused.json()["error"] and "in use" in refused.json()["error"]


def _batch_one_only(root: Path) -> Path:
    """lin's v2 that answers one row and fails at run time on two (a Reshape to [1, 2]): it passes its
    one-row golden set, then fails real traffic during the canary."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    source = builders.onnx_linear(root / "broken-src.onnx", features=4, outputs=2, seed=1)
    model = onnx.load(str(source))
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "one_row"))
    model.graph.node[-1].output[0] = "sum"
    model.graph.node.append(helper.make_node("Reshape", ["sum", "one_row"], ["y"]))
    onnx.save(model, str(root / "broken.onnx"))
    rows = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    np.save(root / "one-row.npy", rows)
    return convert(root / "broken.onnx", out=root / "broken", name="lin", sample=root / "one-row.npy").out


def test_canary_with_failing_new_version_rolls_back_on_the_alarm(cloud_project: Path, versions: dict[str, Path],
                                                                 tmp_path: Path) -> None:  # fmt: skip
    import subprocess
    import sys
    import threading

    from tests.functional.conftest import cli_env

    first = run("push", str(versions["v1"]), "--builder", "files", "--json", project=cloud_project)
    assert first.code == 0, first.stderr
    url = first.json()["url"]
    v1 = predict(url)
    broken = _batch_one_only(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "deployer", "push", str(broken), "--builder", "files", "--json"],
                            cwd=cloud_project, env=cli_env(cloud_project, None), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    statuses: list[int] = []
    done = threading.Event()

    def traffic() -> None:
        body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [1, 2, 3, 4] * 2}]})
        while not done.is_set():
            request = urllib.request.Request(f"{url}v2/models/lin/infer", data=body.encode(),
                                             headers={"Content-Type": "application/json"})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
            time.sleep(0.01)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        done.set()
        sender.join(timeout=60)
    assert proc.returncode != 0, stderr
    error = json.loads(stdout.splitlines()[-1])["error"]
    assert "ErrorRateAlarm" in error or "error-rate" in error, error
    assert "went into ALARM" in error and "back on version 1" in error, error
    assert 500 in statuses and 200 in statuses  # the canary really served the new version to some requests
    assert predict(url) == v1
    doc = status(cloud_project)
    assert doc["function_version"] == "1" and doc["shifting"] is False
    assert doc["status"] == "UPDATE_ROLLBACK_COMPLETE"


def test_golden_set_failure_moves_no_traffic(cloud_project: Path, versions: dict[str, Path], tmp_path: Path) -> None:
    first = run("push", str(versions["v1"]), "--builder", "files", "--json", project=cloud_project)
    assert first.code == 0, first.stderr
    url = first.json()["url"]
    v1 = predict(url)
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps({"inputs": {"x": [[1, 2, 3, 4]]}, "outputs": {"y": [v1]},
                                  "tolerance": {"y": {"atol": 1e-3, "rtol": 1e-3}}}))  # fmt: skip
    second = run("push", str(versions["v2"]), "--builder", "files", "--golden", str(golden), "--json",
                 project=cloud_project)  # fmt: skip
    assert second.code != 0
    error = second.json()["error"]
    assert "golden set" in error and "row 0 of y" in error and "off by" in error and "no traffic moved" in error, error
    assert predict(url) == v1
    live = tmp_path / "live.json"
    live.write_text(json.dumps({"inputs": {"x": [[1, 2, 3, 4], [0, 0, 0, 1]]}, "compare": "live"}))
    third = run("push", str(versions["v2"]), "--builder", "files", "--golden", str(live), "--json", project=cloud_project)
    assert third.code != 0 and "against the live version 1" in third.json()["error"], third.stderr
    assert predict(url) == v1 and status(cloud_project)["function_version"] == "1"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"inputs": {"X": [[1, 2, 3, 4]]}, "outputs": {"y": [v1]}}))
    refused = run("push", str(versions["v2"]), "--builder", "files", "--golden", str(bad), "--json", project=cloud_project)
    assert refused.code != 0 and "unknown input 'X'" in refused.json()["error"]


def test_logs_and_metrics_reach_the_local_cloudwatch(cloud_project: Path, versions: dict[str, Path]) -> None:
    """What the function printed is in its log group, its EMF and Lambda's metrics in CloudWatch."""
    import boto3

    pushed = run("push", str(versions["v1"]), "--builder", "files", "--json", project=cloud_project)
    assert pushed.code == 0, pushed.stderr
    for _ in range(3):
        predict(pushed.json()["url"])
    info = client.running(cloud_project)
    assert info is not None
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=info.region)
    logs = session.client("logs", endpoint_url=info.emulator_url)
    cloudwatch = session.client("cloudwatch", endpoint_url=info.emulator_url)
    deadline = time.monotonic() + 20
    messages: list[str] = []
    while time.monotonic() < deadline:
        events = logs.filter_log_events(logGroupName="/aws/lambda/onnx-lin").get("events", [])
        messages = [e["message"] for e in events]
        if sum("REPORT RequestId" in m for m in messages) >= 4 and any('"_aws"' in m for m in messages):
            break
        time.sleep(0.5)
    assert sum("REPORT RequestId" in m for m in messages) >= 4, messages[-10:]  # smoke test + 3 predictions
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/onnx-lin")["logStreams"]
    assert any("/[1]" in s["logStreamName"] for s in streams)
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} >= {"onnx-lin-error-rate", "onnx-lin-p99-latency"}
    assert all(a["StateReason"].startswith("local evaluation") for a in alarms), alarms  # evaluated all along
    assert {a["StateValue"] for a in alarms} <= {"OK", "INSUFFICIENT_DATA"}
    names = {(m["Namespace"], m["MetricName"]) for m in cloudwatch.list_metrics()["Metrics"]}
    assert {("AWS/Lambda", "Invocations"), ("AWS/Lambda", "Duration"), ("OnnxLambda", "RequestMs")} <= names, names
