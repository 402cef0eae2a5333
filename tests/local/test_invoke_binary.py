"""`deployer invoke` shows a KServe v2 binary answer as its outputs' values, not as raw bytes (issue 13 #11).

The decoding is checked on the handler's own binary answers for every datatype and for strings, then
`python -m deployer invoke` is run as a user runs it, through the local runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deployer.cli import _binary_answer
from functions.app import Service
from functions.tensors import DATATYPE_TO_DTYPE
from tests.local.conftest import REPO
from tests.models import identity_model, sample_pair, two_input_folder
from tests.unit.functions.conftest import Client


def _binary(client: Client, name: str, body: dict) -> tuple[dict[str, str], bytes]:
    answer = client.infer(name, {**body, "parameters": {"binary_data_output": True}})
    assert answer.status == 200, answer.body
    assert "Inference-Header-Content-Length" in answer.headers
    return {k.lower(): v for k, v in answer.headers.items()}, answer.body


@pytest.mark.parametrize("datatype", sorted(DATATYPE_TO_DTYPE))
def test_every_datatype_decodes_to_its_values(tmp_path: Path, datatype: str) -> None:
    client = Client(Service(str(identity_model(tmp_path / "id.onnx", datatype))))
    values = np.array([[1, 0], [0, 1]] if datatype == "BOOL" else [[1, 2], [3, 100]], dtype=DATATYPE_TO_DTYPE[datatype])
    headers, body = _binary(client, "id", {"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 2],
                                                       "data": values.ravel().tolist()}]})
    doc = _binary_answer(headers, body)
    assert doc is not None
    (output,) = doc["outputs"]
    assert output["name"] == "y" and output["datatype"] == datatype and output["shape"] == [2, 2]
    assert output["data"] == values.ravel().tolist()


def test_strings_decode_to_text(tmp_path: Path) -> None:
    client = Client(Service(str(identity_model(tmp_path / "words.onnx", "BYTES", ["N"]))))
    headers, body = _binary(client, "words", {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [3],
                                                          "data": ["héllo", "", "onnx"]}]})
    doc = _binary_answer(headers, body)
    assert doc is not None and doc["outputs"][0]["data"] == ["héllo", "", "onnx"]


def test_json_answers_are_left_alone() -> None:
    assert _binary_answer({"content-type": "application/json"}, b'{"outputs": []}') is None


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "PYTHONPATH": str(REPO)}


@pytest.mark.local
def test_invoke_prints_a_binary_answer_decoded(tmp_path: Path) -> None:
    model = two_input_folder(tmp_path / "pair")
    a, b = sample_pair(rows=2, seed=3)
    body = json.dumps({"inputs": [{"name": "a", "datatype": "FP32", "shape": [2, 3], "data": a.ravel().tolist()},
                                  {"name": "b", "datatype": "INT64", "shape": [2, 3], "data": b.ravel().tolist()}],
                       "parameters": {"binary_data_output": True}})
    result = subprocess.run([sys.executable, "-m", "deployer", "invoke", str(model), "--data", body, "--json",
                             "--no-logs"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == 200
    outputs = {o["name"]: o for o in doc["body"]["outputs"]}
    assert outputs["doubled"]["data"] == (b * 2).ravel().tolist()
    np.testing.assert_allclose(outputs["total"]["data"], (a + b).ravel(), rtol=1e-6)
    table = subprocess.run([sys.executable, "-m", "deployer", "invoke", str(model), "--data", body, "--no-logs"],
                           cwd=REPO, env={**_env(), "COLUMNS": "200"}, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "doubled" in table.stdout and "INT64" in table.stdout
    assert json.dumps((b * 2).ravel().tolist()[:3])[1:-1] in table.stdout  # the values, not raw bytes
