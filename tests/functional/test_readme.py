"""The README's Usage section, run as written (issue 11 #6).

Every fenced `bash` and `python` block under "## Usage" (its ### sections included) is run, command
by command and in order, in a copy of the repository's files (what a fresh clone holds, plus files
not committed yet), with `.venv` linked in, no AWS credentials (so every verb goes to the copy's own
local cloud) and COLUMNS=80. A command that exits non-zero, or prints a traceback, fails the test
with its output; so does a README command that names a file nothing ships or generates.

Treatments, all visible here:
- `NAME=$(...)` lines set a variable for the commands after them, as in one shell.
- a command ending in `&` (`serve`, `logs --follow`) runs in the background; one with `--port N`
  is waited for until the port answers; at the end of its block it gets SIGINT (Ctrl-C) and must
  exit 130 without a traceback.
- NOT_RUN lists the commands that need what a test machine cannot have (an AWS account), each
  with its reason; a stale entry (no longer in the README) fails the test.
- Docker: the image build needs the daemon; without one the two commands are left out with a
  warning, except under CI (CI=true), where that fails.
- Python blocks run with `python -c` in the same copy.

Printed commands and URLs must be copyable at 80 columns: push's curl line and status's URL are
checked whole on one line. Measured: 3 min 49 s wall, 1 min 36 s CPU, on the shared 2-vCPU machine at
load average 6 (pytest -s prints the slowest commands): the churn pushes of the container image
(49, 28 s), the iris push (28 s) and plan (27 s, it builds the retrained model's image) lead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_RUN = {
    "python -m deployer push build/churn --target aws --profile prod --region eu-west-1": "needs an AWS account",
}
NEEDS_DOCKER = ("infra/standin-base/build", "python -m deployer build ")
COMMAND_TIMEOUT_S = 240


def usage_blocks(readme: str) -> list[tuple[str, str]]:
    """(language, text) of each bash/python block between '## Usage' and the next '## ' heading."""
    start = readme.index("\n## Usage\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else len(readme)]
    return re.findall(r"^```(bash|python)\n(.*?)^```", section, flags=re.S | re.M)


def commands_of(block: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", "", block)  # continuation lines
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            commands.append(re.sub(r"\s+#.*$", "", line).strip())  # trailing comments (none sit in quotes here)
    return commands


def test_usage_parsing_finds_every_verb() -> None:
    blocks = usage_blocks((REPO / "README.md").read_text())
    commands = [c for lang, text in blocks if lang == "bash" for c in commands_of(text)]
    verbs = {c.split()[3] for c in commands if c.startswith("python -m deployer ") and len(c.split()) > 3}
    assert {"convert", "template", "build", "push", "plan", "status", "rollback", "delete", "local", "serve",
            "invoke", "metrics", "logs"} <= verbs  # fmt: skip
    assert any(lang == "python" for lang, _ in blocks)
    for command in NOT_RUN:
        assert command in commands, f"NOT_RUN names a command the README no longer has: {command}"


def _fresh_copy(work: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # a file deleted but not yet committed is not copied
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    (work / ".venv").symlink_to(sys.prefix)


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({"COLUMNS": "80", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "SAM_CLI_TELEMETRY": "0", "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    return env


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"background command exited {proc.returncode} before port {port} answered")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"nothing answered on 127.0.0.1:{port} within {timeout_s:.0f} s")


def _check(command: str, proc: subprocess.CompletedProcess[str]) -> None:
    shown = (f"$ {command}\n--- exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
             f"--- stderr\n{proc.stderr[-3000:]}")
    assert proc.returncode == 0, shown
    assert "Traceback (most recent call last)" not in proc.stdout + proc.stderr, shown


def _copyable(command: str, stdout: str) -> None:
    """At 80 columns the lines a person copies are whole."""
    if command == "python -m deployer push build/churn":
        curl = r"^  curl -H 'Content-Type: application/json' -d '\{.*\}' http://127\.0\.0\.1:\d+/v2/models/churn/infer$"
        assert re.search(curl, stdout, flags=re.M), stdout
        assert re.search(r"^url +http://127\.0\.0\.1:\d+/$", stdout, flags=re.M), stdout
    if command == "python -m deployer status build/churn":
        assert re.search(r"^url +http://127\.0\.0\.1:\d+/$", stdout, flags=re.M), stdout
        assert re.search(r"^image +\S+/churn\S+$", stdout, flags=re.M), stdout
    if command == "python -m deployer status --stack-name onnx-iris":
        assert re.search(r"^url +http://127\.0\.0\.1:\d+/$", stdout, flags=re.M), stdout
    if command == "python -m deployer local status" and "onnx-iris" in stdout:
        assert re.search(r"^onnx-iris  http://127\.0\.0\.1:\d+/$", stdout, flags=re.M), stdout


@pytest.mark.local
def test_readme_usage_runs_as_written(tmp_path: Path) -> None:
    work = tmp_path / "clone"
    _fresh_copy(work)
    env = _env(work)
    env["PATH"] = f"{work / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    docker = _docker_ok()
    if not docker and os.environ.get("CI"):
        pytest.fail("CI: the README's build commands need the Docker daemon (./dev test starts it)")
    left_out: list[str] = []
    timings: list[tuple[float, str]] = []  # printed at the end (pytest -s): where the time goes
    try:
        for lang, text in usage_blocks((work / "README.md").read_text()):
            if lang == "python":
                proc = subprocess.run([str(work / ".venv" / "bin" / "python"), "-c", text], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)  # fmt: skip
                _check(text, proc)
                continue
            background: list[tuple[str, subprocess.Popen[bytes]]] = []
            for command in commands_of(text):
                if command in NOT_RUN:
                    continue
                if not docker and any(part in command for part in NEEDS_DOCKER):
                    left_out.append(command)
                    continue
                assignment = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)", command)
                if assignment:
                    proc = subprocess.run(["bash", "-c", f"set -eo pipefail; {assignment[2]}"], cwd=work, env=env,
                                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)  # fmt: skip
                    _check(command, proc)
                    env[assignment[1]] = proc.stdout.strip()
                    continue
                if command.endswith("&"):
                    started = subprocess.Popen(["bash", "-c", f"exec {command[:-1].strip()}"], cwd=work, env=env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                               start_new_session=True)  # fmt: skip
                    background.append((command, started))
                    port = re.search(r"--port (\d+)", command)
                    if port:
                        _wait_for_port(int(port[1]), started)
                    else:
                        time.sleep(3)
                    continue
                began = time.monotonic()
                proc = subprocess.run(["bash", "-c", f"set -eo pipefail; {command}"], cwd=work, env=env,
                                      capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)  # fmt: skip
                timings.append((time.monotonic() - began, command))
                _check(command, proc)
                _copyable(command, proc.stdout)
            for command, started in background:  # Ctrl-C, as a person stops them
                os.killpg(started.pid, signal.SIGINT)
                _, stderr = started.communicate(timeout=60)
                text_err = stderr.decode("utf-8", "replace")
                assert started.returncode == 130, f"$ {command}\n--- exit {started.returncode}\n{text_err[-3000:]}"
                assert "Traceback" not in text_err and "interrupted" in text_err, text_err[-3000:]
    finally:
        from deployer.local.cloud import client

        client.stop(work)
    for seconds, command in sorted(timings, reverse=True)[:8]:
        print(f"{seconds:6.1f} s  {command}")
    if left_out:
        warnings.warn(f"no Docker daemon: left out {left_out}", stacklevel=1)
