"""`python -m deployer convert` as a user runs it (Typer's CliRunner, no subprocess).

The command is wired in deployer/cli.py with these options: SOURCE --out DIR [--framework]
[--sample FILE] [--quantize int8] [--atol X --rtol Y] [--trust-pickle] [--json]; a test fails
when it is not (it used to skip, which hid a missing command).
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from typer.testing import CliRunner

from deployer.cli import app
from functions.manifest import load_manifest
from tests.unit.model import builders

pytestmark = pytest.mark.convert_cli
runner = CliRunner()


def test_convert_is_a_command() -> None:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    assert "convert" in names
    result = runner.invoke(app, ["convert", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--out", "--framework", "--sample", "--quantize", "--atol", "--rtol", "--trust-pickle", "--json"):
        assert option in result.output


def test_convert_json_prints_one_object(tmp_path: Path) -> None:
    pipe, x = builders.iris_pipeline()
    joblib.dump(pipe, tmp_path / "iris.joblib")
    np.save(tmp_path / "rows.npy", x[:70])
    result = runner.invoke(app, ["convert", str(tmp_path / "iris.joblib"), "--out", str(tmp_path / "iris"),
                                 "--trust-pickle", "--sample", str(tmp_path / "rows.npy"), "--atol", "1e-4",
                                 "--rtol", "1e-3", "--framework", "sklearn", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["name"] == "iris" and summary["parity"]["passed"] and summary["parity"]["rows"] == 70
    assert load_manifest(str(tmp_path / "iris"))["version"] == summary["version"]  # type: ignore[index]


def test_convert_refuses_pickle_without_trust(tmp_path: Path) -> None:
    pipe, _ = builders.iris_pipeline()
    joblib.dump(pipe, tmp_path / "iris.joblib")
    result = runner.invoke(app, ["convert", str(tmp_path / "iris.joblib"), "--out", str(tmp_path / "iris"),
                                 "--json"])
    assert result.exit_code == 1
    assert "--trust-pickle" in json.loads(result.stdout.splitlines()[0])["error"]
    assert "Traceback" not in result.output and not (tmp_path / "iris").exists()


def test_convert_quantize_and_table_output(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "lin.onnx", features=32, outputs=8)
    result = runner.invoke(app, ["convert", str(source), "--out", str(tmp_path / "lin"), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    assert "parity" in result.stdout and (tmp_path / "lin" / "manifest.json").exists()


def test_json_stdout_is_one_object_even_with_tensorflow(tmp_path: Path, keras_sources: dict[str, Path]) -> None:
    """A real process: TensorFlow and the exporters write to stdout from Python and C++."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-m", "deployer", "convert", str(keras_sources["keras"]),
                           "--out", str(tmp_path / "k"), "--json"], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["framework"] == "keras"
