"""What a person reads from the CLI: help pages, usage errors under --json, exit codes, Ctrl-C,
progress on a pipe, third-party noise, `./dev` without a command (issue 11 #7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from deployer import _clikit
from deployer.cli import app

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def _commands() -> list[list[str]]:
    """Every command path: ["convert"], ["local", "up"], ..."""
    import typer.main

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(group: Any, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            if getattr(command, "commands", None):
                walk(command, [*prefix, name])
            elif not command.hidden:
                paths.append([*prefix, name])

    walk(root, [])
    return paths


def test_every_help_page_names_arguments_and_flags_plainly() -> None:
    paths = _commands()
    assert {"convert", "push", "serve", "invoke", "status"} <= {p[-1] for p in paths} and ["local", "up"] in paths
    for path in [[], *paths]:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        text = result.output
        assert "<bool>" not in text, (path, text)  # a flag takes no value
        usage = next(line for line in text.splitlines() if line.strip().startswith("Usage:"))
        assert "{" not in usage, (path, usage)  # SOURCE, not {source}
        assert "Exit codes:" in text and "130" in text, path
        flat = " ".join(text.replace("│", " ").split())
        if "--target" in flat:
            assert "aws, local, or auto" in flat, (path, flat)  # the default target says what it does
    usage = runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "80"}).output
    assert "convert [OPTIONS] SOURCE" in usage
    assert "push [OPTIONS] [MODEL]" in runner.invoke(app, ["push", "--help"], env={"COLUMNS": "80"}).output
    assert "auto" in usage and "suffix" in usage  # the `auto` framework is explained


def test_exit_codes_in_help_are_the_error_tree() -> None:
    import deployer.aws.errors  # noqa: F401  (registers the subclasses)
    import deployer.deploy.errors  # noqa: F401
    from deployer.errors import DeployerError

    def tree(cls: type) -> list[type]:
        return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]

    codes = {cls.exit_code for cls in tree(DeployerError)}  # type: ignore[attr-defined]
    assert codes == {1, 2, 3, 4, 5, 6, 7}
    assert codes | {0, 130} == set(_clikit.EXIT_CODES)
    text = runner.invoke(app, ["--help"], env={"COLUMNS": "80"}).output
    for code, meaning in _clikit.EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in text  # one line each at 80 columns


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "--json"],  # missing argument
        ["convert", "model.onnx", "--out", "x", "--json", "--bogus"],  # unknown option
        ["convert", "model.onnx", "--out", "x", "--json", "true"],  # a flag given a value
        ["local", "status", "--json", "--port", "9"],  # unknown option of a sub-group's command
    ],
)
def test_usage_errors_under_json_are_one_json_object(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    doc = json.loads(lines[0])
    assert doc["exit_code"] == 2 and doc["error"]
    assert "Traceback" not in result.output


def test_usage_errors_without_json_print_no_json() -> None:
    result = runner.invoke(app, ["convert"])
    assert result.exit_code == 2 and "Missing argument 'SOURCE'" in result.output and '"exit_code"' not in result.output


def test_user_errors_under_json_carry_their_exit_code(tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(tmp_path / "missing.onnx"), "--out", str(tmp_path / "o"), "--json"])
    doc = json.loads(result.stdout.splitlines()[0])
    assert result.exit_code == doc["exit_code"] == 1 and "missing.onnx" in doc["error"]


def test_ctrl_c_exits_130_with_one_line() -> None:
    small = _clikit.App(name="t", add_completion=False)

    @small.command()
    def wait(as_json: bool = typer.Option(False, "--json")) -> None:
        raise KeyboardInterrupt

    @small.command()
    def other() -> None:
        pass

    result = runner.invoke(small, ["wait"])
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output
    result = runner.invoke(small, ["wait", "--json"])
    assert result.exit_code == 130
    assert json.loads(result.stdout.splitlines()[0]) == {"error": "interrupted", "exit_code": 130}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


def test_native_noise_is_filtered_and_the_rest_kept() -> None:
    proc = _run(
        "import os, sys\n"
        "from rich.console import Console\n"
        "from deployer._clikit import native_noise_filtered\n"
        "err = Console(stderr=True)\n"
        "with native_noise_filtered(err):\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are '\n"
        "             b'written to STDERR\\n')\n"
        "    os.write(2, b'I0000 00:00:1796226399.379587   29819 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "    os.write(2, b'W1202 15:49:13.162000 1975 torch/_registration.py:107] torchvision is not installed\\n')\n"
        "    os.write(2, b'E0000 00:00:1796226399.379587   29819 real.cc:1] a real error\\n')\n"
        "    print('python warning', file=sys.stderr)\n"
        "    err.print('our own line')\n"
        "print('after', file=sys.stderr)\n"
        "import io\n"
        "sys.stderr = io.StringIO()\n"
        "err.print('follows sys.stderr again')\n"
        "assert sys.stderr.getvalue() == 'follows sys.stderr again\\n', sys.stderr.getvalue()\n"
    )
    assert proc.returncode == 0, proc.stderr
    # the console writes to the real stderr, the rest passes the filter: order between them may differ
    assert sorted(proc.stderr.splitlines()) == sorted([
        "E0000 00:00:1796226399.379587   29819 real.cc:1] a real error", "python warning", "our own line", "after"])


def test_noise_filter_leaves_a_replaced_stderr_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runners (CliRunner) replace sys.stderr: nothing is redirected, the console keeps it."""
    import io

    from rich.console import Console

    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    console = Console(stderr=True)
    with _clikit.native_noise_filtered(console):
        console.print("inside")
    console.print("after")
    assert replaced.getvalue() == "inside\nafter\n"


def test_convert_says_what_it_does_on_a_pipe(tmp_path: Path) -> None:
    from tests.unit.model import builders

    source = builders.onnx_linear(tmp_path / "lin.onnx")
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "deployer", "convert", str(source), "--out", str(tmp_path / "lin")],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stderr.splitlines() if line.endswith("…")]
    assert steps[0] == f"converting {source}…" and len(steps) >= 4, proc.stderr
    assert f"→ {tmp_path / 'lin' / 'model.onnx'}" in proc.stdout  # the path on one line, whole


def test_dev_without_a_command_prints_its_usage() -> None:
    proc = subprocess.run(["bash", str(REPO / "dev")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: ./dev COMMAND") and "set -euo" not in proc.stderr + proc.stdout
    for command in ("demo", "test", "setup", "examples"):
        assert f"\n  {command} " in proc.stderr
