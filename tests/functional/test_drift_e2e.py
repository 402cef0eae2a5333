"""Issue 10 on loopback: baseline traffic, then traffic shifted in one feature, seen as drift.

The bundled iris model (its manifest carries the training baseline) is pushed to the local cloud;
500 requests resampled from the training rows, then 500 with petal length moved by two standard
deviations. `metrics --json` counts the requests exactly and ranks that feature's PSI above the
alarm threshold, the others below; the drift alarm is in ALARM in the local CloudWatch.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deployer.local.cloud import client
from tests.functional.conftest import EXAMPLE, cli

pytestmark = pytest.mark.local
SHIFTED = "X[2]"  # petal length


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "deployer.toml").write_text("[monitoring]\nevery_n = 250\n[deployment]\ntype = \"AllAtOnce\"\n")
    yield folder
    client.stop(folder)


def _send(url: str, rows: np.ndarray) -> None:
    for row in rows:
        body = json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": row.tolist()}]})
        request = urllib.request.Request(f"{url}v2/models/iris/infer", data=body.encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200


def _metrics(project: Path) -> dict[str, Any]:
    result = cli("metrics", "--stack-name", "onnx-iris", "--since", "15m", "--json", project=project, endpoint=None)
    assert result.code == 0, result.stderr
    return result.json()


def test_shifted_feature_is_the_one_that_drifts(project: Path) -> None:
    from sklearn.datasets import load_iris

    pushed = cli("push", str(EXAMPLE), "--builder", "files", "--json", project=project, endpoint=None, timeout=300)
    assert pushed.code == 0, pushed.stderr
    url = pushed.json()["url"]
    rows = load_iris().data.astype(np.float32)
    rng = np.random.default_rng(7)
    baseline = rows[rng.integers(0, len(rows), 500)]
    shifted = rows[rng.integers(0, len(rows), 500)].copy()
    shifted[:, 2] += 2 * rows[:, 2].std()
    _send(url, baseline)
    _send(url, shifted)

    deadline = time.monotonic() + 60
    doc = _metrics(project)
    while time.monotonic() < deadline:
        version = doc["versions"][0]
        psi = {d["dims"].get("feature"): d["max"] for d in version["drift"] if d["metric"] == "DriftPSI"}
        if version["invocations"] >= 1001 and len(psi) == 4:
            break
        time.sleep(1)
        doc = _metrics(project)
    version = doc["versions"][0]
    assert version["invocations"] == 1001  # ours and the push's smoke test
    psi = {d["dims"].get("feature"): d["max"] for d in version["drift"] if d["metric"] == "DriftPSI"}
    assert psi[SHIFTED] > 0.2, psi
    assert all(value < 0.2 for feature, value in psi.items() if feature != SHIFTED), psi
    worst = next(d for d in version["drift"] if d["metric"] == "DriftPSI")
    assert worst["dims"]["feature"] == SHIFTED  # worst first

    import boto3

    info = client.running(project)
    assert info is not None
    cloudwatch = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=info.region).client(
        "cloudwatch", endpoint_url=info.emulator_url)
    state = ""
    while time.monotonic() < deadline + 30:
        alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
        drift = next(a for name, a in alarms.items() if "drift" in name)
        state = drift["StateValue"]
        if state == "ALARM":
            break
        time.sleep(1)
    assert state == "ALARM", drift
