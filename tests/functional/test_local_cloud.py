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

    second = run("push", str(versions["v2"]), "--builder", "files", "--json", project=cloud_project)
    assert second.code == 0, second.stderr
    assert second.json()["url"] == url
    v2 = predict(url)
    assert v2 != v1
    doc = status(cloud_project)
    assert doc["function_version"] == "2" and doc["model_version"] == manifest_v2["version"]

    back = run("rollback", "--stack-name", "onnx-lin", "--json", project=cloud_project)
    assert back.code == 0, back.stderr
    assert back.json()["to"] == "1"
    assert predict(url) == v1  # the previous model answers from the same URL
    doc = status(cloud_project)
    assert doc["function_version"] == "1" and doc["model_version"] == manifest_v1["version"]
    assert doc["routing"][0]["image_digest"] and doc["image_uri"] == doc["routing"][0]["image_uri"]

    again = run("rollback", "--stack-name", "onnx-lin", "--json", project=cloud_project)
    assert again.code != 0 and "nothing older" in again.json()["error"]

    third = run("push", str(versions["v2"]), "--builder", "files", "--json", project=cloud_project)
    assert third.code == 0, third.stderr
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
