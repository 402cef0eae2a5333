"""Issue 8: with a base image, the local cloud runs each version's function image in Docker, read
back from its registry, and a version pushed as a container image survives a restart."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.local.cloud import client
from tests.functional.conftest import EXAMPLE, cli

pytestmark = pytest.mark.container


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    yield folder
    client.stop(folder)


def _label(url: str) -> int:
    body = json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [6.7, 3.0, 5.2, 2.3]}]})
    request = urllib.request.Request(f"{url}v2/models/iris/infer", data=body.encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        outputs = {o["name"]: o for o in json.loads(response.read())["outputs"]}
    return int(outputs["label"]["data"][0])


def test_the_function_image_serves_from_the_registry(project: Path, standin_image: str) -> None:
    pushed = cli("push", str(EXAMPLE), "--json", project=project, endpoint=None, timeout=900,
                 ONNX_LAMBDA_BASE_IMAGE=standin_image)  # fmt: skip
    assert pushed.code == 0, pushed.stderr
    report = pushed.json()
    assert report["image_kind"] == "container" and report["smoke_test"]["status"] == "passed", report
    assert "container image" in report["smoke_test"]["reason"]
    assert _label(report["url"]) == 2
    status = cli("status", "--stack-name", "onnx-iris", "--json", project=project, endpoint=None).json()
    assert status["routing"][0]["image_kind"] == "container"
    assert status["image_digest"] == report["image_digest"] and status["model"] == "iris"
    assert cli("local", "down", project=project, endpoint=None).code == 0
    assert cli("local", "up", project=project, endpoint=None).code == 0
    assert _label(report["url"]) == 2  # the same image, from the journaled registry, after a restart
