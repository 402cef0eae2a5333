"""GET /v2 is the Open Inference Protocol's server metadata: name, version and extensions (issue 13 #2)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from functions.app import SERVER, VERSION
from tests.unit.functions.conftest import Client

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_server_metadata_carries_name_version_and_extensions(pair: Client) -> None:
    answer = pair.request("GET", "/v2")
    assert answer.status == 200
    assert answer.json() == {"name": "onnx-lambda-deployer", "version": VERSION, "extensions": ["binary_tensor_data", "classification"]}
    assert SERVER["version"] == VERSION


def test_server_version_is_the_package_version() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert VERSION == project["version"], "functions/app.py VERSION must follow pyproject.toml's version"
