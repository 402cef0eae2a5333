"""A broken stdout costs the metrics, never the answer: the request still gets its response, the
failure is logged once per run of failures, and the recovery is logged with the lines lost."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.app import Service
from tests.unit.functions.conftest import Client
from tests.unit.functions.test_errors import good

ROOT = Path(__file__).resolve().parents[3]


class BrokenStdout(io.TextIOBase):
    """A stdout whose reader went away: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    import functions.app

    stream = io.StringIO()
    monkeypatch.setattr(functions.app.logger, "stream", stream)
    return stream


def logged(stream: io.StringIO, message: str) -> list[dict]:
    entries = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [e for e in entries if e.get("message", "").startswith(message)]


def test_a_broken_stdout_loses_metrics_not_answers(pair_dir: Path, log: io.StringIO,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(Service(str(pair_dir)))
    real = sys.stdout
    monkeypatch.setattr(sys, "stdout", BrokenStdout())
    answers = [client.infer("pair", good(rows=2)) for _ in range(4)]
    refused = client.request("GET", "/nowhere")  # the error path writes an extra EMF line by kind
    assert [a.status for a in answers] == [200] * 4 and refused.status == 404
    assert answers[-1].json()["outputs"][0]["data"] == [1.5] * 6
    failures = logged(log, "metrics not written")
    assert len(failures) == 1 and "BrokenPipeError" in failures[0]["reason"]
    assert client.service.metrics_failures == 5

    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)  # the reader is back
    assert client.infer("pair", good()).status == 200
    assert [e["lost_emf_lines"] for e in logged(log, "metrics written again")] == [5]
    assert captured.getvalue().startswith('{"_aws"') and client.service.metrics_failures == 0
    monkeypatch.setattr(sys, "stdout", real)


def test_a_closed_stdout_loses_metrics_not_answers(pair_dir: Path, log: io.StringIO,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(Service(str(pair_dir)))
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdout", closed)  # write() raises ValueError: I/O operation on closed file
    assert [client.infer("pair", good()).status for _ in range(3)] == [200, 200, 200]
    failures = logged(log, "metrics not written")
    assert len(failures) == 1 and "ValueError" in failures[0]["reason"]


CHILD = """
import json, sys
import functions.app as app

class Context:
    aws_request_id = "pipe"
    def get_remaining_time_in_millis(self):
        return 30_000

body = json.dumps({"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 4], "data": [5.1, 3.5, 1.4, 0.2] * 2}]})
event = {"httpMethod": "POST", "path": "/v2/models/iris/infer", "headers": {"content-type": "application/json"},
         "body": body, "isBase64Encoded": False}
answers = [app.handler(event, Context()) for _ in range(3)]
with open(sys.argv[1], "w") as fh:
    json.dump({"answers": answers, "failures": app.service.metrics_failures}, fh)
"""


def test_a_closed_pipe_as_stdout_in_a_real_process(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write to stdout gets EPIPE
    result = tmp_path / "result.json"
    env = {**os.environ, "MODEL_PATH": str(ROOT / "examples" / "iris" / "model"), "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, "-u", "-c", CHILD, str(result)], stdout=write_end,
                              stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=120)
    finally:
        os.close(write_end)
    out = json.loads(result.read_text())
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert [a["statusCode"] for a in out["answers"]] == [200, 200, 200]
    assert json.loads(out["answers"][0]["body"])["outputs"]
    assert out["failures"] == 3
    # logging falls back to stderr when stdout itself is what broke: the failure is there, once
    assert proc.stderr.decode(errors="replace").count("metrics not written") == 1
