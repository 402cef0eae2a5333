"""The package surface: cheap to import, lazy names, converters missing → the exact pip command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import deployer.model
from deployer.errors import DependencyError
from deployer.model import convert, manifest_json_schema
from tests.unit.model import builders

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("onnx", "onnxruntime", "torch", "tensorflow", "sklearn", "skl2onnx", "tf2onnx", "numpy", "pydantic")


def test_importing_the_package_is_cheap() -> None:
    code = "import sys, json, deployer.model; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    modules = set(json.loads(result.stdout))
    assert not sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_public_names() -> None:
    assert sorted(deployer.model.__all__) == sorted([
        "convert", "ConvertResult", "manifest_json_schema", "ParityError", "UnsafeModelError",
        "ModelCrashError", "SizeBudgetError"])
    for name in deployer.model.__all__:
        assert getattr(deployer.model, name) is not None
    with pytest.raises(AttributeError):
        getattr(deployer.model, "nope")


def test_json_schema_describes_the_manifest() -> None:
    schema = manifest_json_schema()
    for field in ("name", "version", "model", "runtime", "inputs", "outputs", "labels", "parity", "baseline",
                  "sample", "source", "optimization"):
        assert field in schema["properties"] and field in schema["required"]


@pytest.mark.parametrize(("blocked", "source", "words"), [
    ("skl2onnx", "sklearn", "pip install 'scikit-learn>=1.4' 'skl2onnx>=1.17'"),
    ("onnxscript", "torch", "pip install 'torch>=2.6' 'onnxscript>=0.3'"),
    ("tf2onnx", "keras", "pip install 'tensorflow-cpu>=2.16' 'tf2onnx>=1.17'"),
])
def test_missing_converter_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blocked: str,
                                                 source: str, words: str, request: pytest.FixtureRequest) -> None:
    model: Any
    if source == "sklearn":
        model, _ = builders.iris_pipeline()
    elif source == "torch":
        model = request.getfixturevalue("torch_sources")["module"]
    else:
        model = request.getfixturevalue("keras_sources")["model"]
    for name in list(sys.modules):
        if name == blocked or name.startswith(blocked + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, blocked, None)  # makes `import blocked` fail
    with pytest.raises(DependencyError) as caught:
        convert(model, out=tmp_path / "out")
    assert words in str(caught.value) and blocked in str(caught.value)
    assert not (tmp_path / "out").exists()
