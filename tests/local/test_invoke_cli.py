"""`python -m deployer invoke` as a user runs it: one answer, the right exit code, nothing left running.

The command ends its process as soon as the answer is printed (deployer/cli.py `main`), so these
check what that must not cost: the whole answer and every log line out, the runtime stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local.conftest import IRIS, REPO

pytestmark = pytest.mark.local

BODY = json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]})


def _invoke(model: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "deployer", "invoke", str(model), *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=120)  # fmt: skip


def _processes_using(marker: str) -> list[int]:
    """Pids whose environment holds `marker` (the runtime gets MODEL_PATH=<the model's folder>)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_invoke_prints_one_answer_with_every_log_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    model = tmp_path / "iris-for-invoke"
    shutil.copytree(IRIS, model)
    result = _invoke(model, "--data", BODY, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert answer["status"] == 200
    assert [output["name"] for output in answer["body"]["outputs"]] == ["label", "probabilities"]
    lines = result.stderr.splitlines()
    assert lines[0] == f"starting the Lambda runtime for {model}…"  # before the function's lines
    assert any(line.startswith("START RequestId: ") for line in lines)
    assert any(line.startswith("REPORT RequestId: ") and "Max Memory Used" in line for line in lines)
    assert any(line.startswith("[apigw] POST /v2/models/iris/infer -> 200") for line in lines)
    assert not any("SandboxTerminated" in line for line in lines)  # stopped at once, not reset (deployer/local/_process.py)
    assert _processes_using(str(model)) == []


def test_invoke_exits_1_on_an_error_answer(tmp_path: Path) -> None:
    model = tmp_path / "iris-for-invoke"
    shutil.copytree(IRIS, model)
    result = _invoke(model, "--data", '{"inputs": []}', "--json", "--no-logs")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["status"] == 400
    assert _processes_using(str(model)) == []
