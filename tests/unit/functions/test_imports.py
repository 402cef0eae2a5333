"""functions/ stands alone and starts lean: importing it pulls in nothing heavy it does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# Cold start loads only what the first request needs (functions/logs.py, functions/metrics.py):
# Powertools (~30 ms with its `logging`, botocore, jmespath) is loaded only on a bug's path, and
# the OpenAPI document only when asked for.
FORBIDDEN = ("deployer", "boto3", "botocore", "pydantic", "aws_xray_sdk", "requests", "urllib3",
             "typer", "rich", "onnx", "sklearn", "skl2onnx", "scipy", "jmespath", "aws_lambda_powertools",
             "logging", "typing_extensions", "functions.openapi", "hashlib", "_hashlib")  # hashlib: OpenSSL, ~3 ms


def test_importing_the_handler_loads_only_what_it_needs() -> None:
    code = (
        "import sys, json; import functions.app; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    env = {**os.environ, "MODEL_PATH": str(ROOT / "examples" / "iris" / "model"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    modules = set(json.loads(result.stdout.splitlines()[-1]))
    assert {"onnxruntime", "numpy", "orjson", "functions.kserve", "functions.tfserving"} <= modules
    loaded = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN or m in FORBIDDEN)
    assert loaded == [], f"functions.app pulled in {loaded}"


def test_functions_never_imports_deployer() -> None:
    for path in (ROOT / "functions").rglob("*.py"):
        text = path.read_text()
        assert "import deployer" not in text and "from deployer" not in text, path


def _modules_after_import(model_path: Path) -> set[str]:
    code = "import sys, json; import functions.app; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "MODEL_PATH": str(model_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_drift_monitor_is_imported_only_for_a_model_with_a_baseline(tmp_path: Path) -> None:
    from tests.models import two_input_folder

    bare = _modules_after_import(two_input_folder(tmp_path))  # a manifest without baseline or predictions
    assert "functions.model" in bare and "functions.drift" not in bare
    iris = _modules_after_import(ROOT / "examples" / "iris" / "model")  # its manifest has both
    assert "functions.drift" in iris
