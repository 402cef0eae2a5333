"""`python -m deployer serve` and `invoke` as a user runs them: a subprocess, HTTP on loopback.

The model has two inputs of different dtypes and a dynamic batch; every answer is compared with
onnxruntime's own run, every bad input gets its status, and the server keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tests.local.conftest import REPO
from tests.models import sample_pair, two_input_folder
from tests.unit.functions.test_errors import CASES, good

pytestmark = pytest.mark.local


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url

    def call(self, method: str, path: str, body: bytes | str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if headers is None else headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_input_folder(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(pair_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = (tmp_path_factory.mktemp("log") / "stderr.txt").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", "serve", str(pair_model), "--port", "0", "--json"],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        log.seek(0)
        pytest.fail(f"serve did not start: {log.read()[-2000:]}")
    info = json.loads(line)
    assert info["url"].startswith("http://127.0.0.1:") and info["model"] == "pair"
    server = Server(proc, info["url"])
    server.log = log  # type: ignore[attr-defined]
    yield server
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=20) == 130  # Ctrl-C ends serve as it ends any command: 130, as shells expect
    log.close()


@pytest.fixture(scope="module")
def session(pair_model: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(pair_model / "model.onnx"), providers=["CPUExecutionProvider"])


def test_v2_infer_and_tf_predict_equal_onnxruntime(server: Server, session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=7, seed=3)
    want = dict(zip(["total", "doubled"], session.run(None, {"a": a, "b": b})))
    body = {"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [7, 3], "data": a.ravel().tolist()},
        {"name": "b", "datatype": "INT64", "shape": [7, 3], "data": b.ravel().tolist()},
    ]}
    status, _, raw = server.call("POST", "/v2/models/pair/infer", json.dumps(body))
    assert status == 200, raw
    got = {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in json.loads(raw)["outputs"]}
    np.testing.assert_allclose(got["total"], want["total"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["doubled"], want["doubled"])

    rows = [{"a": a[i].tolist(), "b": b[i].tolist()} for i in range(7)]
    status, _, raw = server.call("POST", "/v1/models/pair:predict", json.dumps({"instances": rows}))
    assert status == 200, raw
    predictions = json.loads(raw)["predictions"]
    np.testing.assert_allclose(np.array([p["total"] for p in predictions]), want["total"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.array([p["doubled"] for p in predictions]), want["doubled"])

    status, _, raw = server.call("POST", "/v1/models/pair:predict", json.dumps({"inputs": {"a": a.tolist(), "b": b.tolist()}}))
    assert status == 200
    np.testing.assert_allclose(np.array(json.loads(raw)["outputs"]["total"]), want["total"], rtol=1e-6, atol=1e-6)


def test_binary_tensor_body_through_the_gateway(server: Server, session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=2, seed=5)
    raw_a, raw_b = a.tobytes(), b.astype("<i8").tobytes()
    header = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": len(raw_a)}},
        {"name": "b", "datatype": "INT64", "shape": [2, 3], "parameters": {"binary_data_size": len(raw_b)}},
    ], "parameters": {"binary_data_output": True}}).encode()
    status, headers, raw = server.call("POST", "/v2/models/pair/infer", header + raw_a + raw_b, {
        "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
    assert status == 200, raw
    size = int(headers["Inference-Header-Content-Length"])
    doc = json.loads(raw[:size])
    total_size = doc["outputs"][0]["parameters"]["binary_data_size"]
    total = np.frombuffer(raw[size : size + total_size], dtype="<f4").reshape(2, 3)
    np.testing.assert_array_equal(total, session.run(["total"], {"a": a, "b": b})[0])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_over_http(server: Server, case: tuple[Any, ...]) -> None:
    _, method, path, body, headers, status, words = case
    got, response_headers, raw = server.call(method, path, body if body is not None else None, headers)
    assert got == status, raw
    message = json.loads(raw)["error"]
    assert all(word in message for word in words), message
    assert server.call("POST", "/v2/models/pair/infer", json.dumps(good()))[0] == 200


def test_limits_over_http(server: Server) -> None:
    big = json.dumps(good()) + " " * (6 * 1024 * 1024 + 10)
    status, _, raw = server.call("POST", "/v2/models/pair/infer", big)
    assert status == 413 and "error" in json.loads(raw)
    status, _, raw = server.call("POST", "/v2/models/pair/infer", json.dumps(good(rows=1025)))
    assert status == 413 and "1025" in json.loads(raw)["error"]
    started = time.perf_counter()
    status, _, raw = server.call("POST", "/v2/models/pair/infer", '{"inputs": ' + "[" * 50_000 + "]" * 50_000 + "}")
    assert status == 400 and time.perf_counter() - started < 1.0
    assert server.call("POST", "/v2/models/pair/infer", json.dumps(good()))[0] == 200


def test_emf_each_invocation_and_cold_start_once(server: Server) -> None:
    for _ in range(3):
        assert server.call("POST", "/v2/models/pair/infer", json.dumps(good()))[0] == 200
    time.sleep(0.3)  # the log reader thread drains the pipe
    server.log.seek(0)  # type: ignore[attr-defined]
    docs = [json.loads(line[line.index("{"):]) for line in server.log.read().splitlines() if '"_aws"' in line]  # type: ignore[attr-defined]
    main = [d for d in docs if "RequestMs" in d]
    assert len(main) >= 3
    assert sum(d.get("ColdStart", [0])[0] for d in main) == 1
    assert all({"RequestMs", "PayloadBytes"} <= d.keys() for d in main)
    assert any({"InferenceMs", "BatchSize"} <= d.keys() for d in main)


def test_invoke_cli_json(pair_model: Path, session: ort.InferenceSession) -> None:
    a, b = sample_pair(rows=1, seed=9)
    body = json.dumps({"instances": [{"a": a[0].tolist(), "b": b[0].tolist()}]})
    result = subprocess.run([sys.executable, "-m", "deployer", "invoke", str(pair_model), "--data", body, "--json"],
                            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == 200 and doc["path"] == "/v1/models/pair:predict"
    assert doc["body"]["predictions"][0]["doubled"] == (b[0] * 2).tolist()
    assert '"_aws"' in result.stderr  # the function's EMF line is shown


def test_invoke_cli_errors_are_one_line(pair_model: Path, tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "deployer", "invoke", str(pair_model), "--data", "{\"inputs\": []}", "--no-logs"],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "400" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "deployer", "invoke", str(tmp_path / "nope"), "--data", "{}"],
                             cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "nope" in missing.stderr
