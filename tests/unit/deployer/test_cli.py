"""The CLI's surface: version, help, --json, and one clear line for each user error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from deployer import __version__
from deployer.cli import app
from deployer.routes import default_route, model_name

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model"


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("serve", "invoke"):
        assert verb in result.output


def test_invoke_refuses_an_unreadable_data_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["invoke", str(EXAMPLE), "--data", f"@{tmp_path}/nope.json", "--json"])
    assert result.exit_code == 2
    assert "cannot read" in json.loads(result.stdout.splitlines()[0])["error"]
    assert "Traceback" not in result.output


def test_invoke_refuses_a_missing_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["invoke", str(tmp_path / "missing"), "--data", "{}"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_model_name_and_default_route(tmp_path: Path) -> None:
    assert model_name(EXAMPLE) == "iris"
    assert model_name(tmp_path / "scorer.onnx") == "scorer"
    assert default_route("iris", None) == "/v2/models/iris"
    assert default_route("iris", b'{"instances": [[1, 2, 3, 4]]}') == "/v1/models/iris:predict"
    assert default_route("iris", b'{"inputs": {"X": [[1, 2, 3, 4]]}}') == "/v1/models/iris:predict"
    assert default_route("iris", b'{"inputs": [{"name": "X"}]}') == "/v2/models/iris/infer"
    assert default_route("iris", b"not json") == "/v2/models/iris/infer"


def test_example_request_is_a_valid_infer_body_for_the_model(tmp_path: Path) -> None:
    from deployer.routes import example_request
    from functions.app import Service
    from tests.models import two_input_folder
    from tests.unit.functions.conftest import Client

    body = json.loads(example_request(EXAMPLE))
    assert body["inputs"][0]["data"] == [[5.1, 3.5, 1.4, 0.2]] and body["inputs"][0]["shape"] == [1, 4]
    assert Client(Service(str(EXAMPLE))).infer("iris", body).status == 200
    pair = two_input_folder(tmp_path / "pair")  # no sample in its manifest: zeros of the right shape
    assert Client(Service(str(pair))).infer("pair", json.loads(example_request(pair))).status == 200


def test_the_cli_loads_only_what_a_command_needs() -> None:
    """A CLI start pays for typer and the command's own work, nothing else (`invoke`'s loop, issue 12):
    importing deployer.cli loads no rich (a console is made on first print), no importlib.metadata
    (the version is read on --version), and parsing a command's options no pydantic (typer 0.29
    built a pydantic TypeAdapter per option, ~70 ms: typer is pinned below it in pyproject.toml)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from deployer.cli import app\n"
        "heavy = ('rich', 'pydantic', 'importlib.metadata', 'deployer.local', 'numpy', 'deployer.monitor')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "try:\n"
        "    app(['invoke', '/nonexistent/model', '--data', '{}', '--json'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[]"
    assert json.loads(lines[1])["error"].startswith("model not found")
    assert lines[2] == "['deployer.local', 'rich']"  # the command's engine, and the console of its error line
