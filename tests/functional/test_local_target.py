"""With no credentials at all, push deploys to the embedded local target, smoke-tests and serves."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.functional.conftest import EXAMPLE, cli, cli_env


def test_push_without_credentials_uses_the_local_target(project: Path) -> None:
    run = cli("push", str(EXAMPLE), "--no-serve", "--builder", "files", "--json", project=project, endpoint=None)
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["target"] == "local" and report["status"] == "CREATE_COMPLETE"
    assert report["smoke_test"]["status"] == "passed", report["smoke_test"]
    assert report["alias"] == "live" and report["function_version"] == "1" and report["left_out"] == []
    assert report["url"].startswith("http://127.0.0.1:")
    assert "deploying to the local target" in run.stderr.splitlines()[0]


def test_the_local_target_serves_until_interrupted(project: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", "push", str(EXAMPLE), "--builder", "files", "--json"], cwd=project,
        env=cli_env(project, None), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        report = json.loads(proc.stdout.readline())  # printed once it serves
        body = json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [6.7, 3.0, 5.2, 2.3]}]})
        request = urllib.request.Request(f"{report['url']}/v2/models/iris/infer", data=body.encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert {o["name"] for o in answer["outputs"]} == {"label", "probabilities"}
        assert next(o for o in answer["outputs"] if o["name"] == "label")["data"] == [2]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0
    assert proc.stdout.read() == ""  # exactly one JSON object on stdout
