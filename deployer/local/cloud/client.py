"""Finding, starting and stopping a project's local cloud from any command.

    ensure(project)   the running cloud (started in the background when none runs), as CloudInfo
    running(project)  the running cloud, or None; never starts one
    stop(project)     stops it (SIGTERM, then SIGKILL after a grace period); False when none ran
    status / refresh  the cloud's view: stacks, their URLs, alias → versions, weights, images, models

The cloud is found through <project>/.deployer/cloud/cloud.json and proven alive by its control
server answering; a file left by a killed cloud is ignored. The background process gets a new
session (Ctrl-C in the terminal that started it does not reach it), no AWS credential of the
user's shell, and its output in <state>/cloud.log.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deployer.errors import LocalRuntimeError

__all__ = ["CloudInfo", "cloud_state", "ensure", "running", "stop", "status", "refresh"]

STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CloudInfo:
    pid: int
    emulator_url: str
    control_url: str
    region: str
    state: Path
    started_now: bool = False


def cloud_state(project: Path) -> Path:
    from deployer.deploy.state import state_dir

    return state_dir(Path(project)).resolve() / "cloud"


def _call(control_url: str, method: str, path: str, timeout: float = 60.0) -> dict[str, Any]:
    parts = urlsplit(control_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        response = conn.getresponse()
        doc = json.loads(response.read() or b"{}")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise LocalRuntimeError(f"the local cloud at {control_url} did not answer {method} {path}: {exc}") from exc
    finally:
        conn.close()
    if response.status >= 400:
        raise LocalRuntimeError(f"the local cloud answered {response.status} to {method} {path}: {doc.get('error')}")
    return doc


def running(project: Path) -> CloudInfo | None:
    state = cloud_state(project)
    try:
        info = json.loads((state / "cloud.json").read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(info.get("pid", 0))):
        return None
    try:
        _call(str(info["control_url"]), "GET", "/status", timeout=10)
    except LocalRuntimeError:
        return None
    return CloudInfo(int(info["pid"]), str(info["emulator_url"]), str(info["control_url"]), str(info["region"]), state)


def ensure(project: Path, *, port: int = 0, environ: dict[str, str] | None = None) -> CloudInfo:
    """The project's running cloud; started (and waited for) when none runs."""
    found = running(project)
    if found is not None:
        return found
    return start(project, port=port, environ=environ)


def start(project: Path, *, port: int = 0, environ: dict[str, str] | None = None) -> CloudInfo:
    """Start the cloud in the background; LocalRuntimeError (with its log) when it does not come up."""
    state = cloud_state(project)
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "cloud.log"
    from deployer.local._lambda_env import CREDENTIAL_VARS

    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if k not in CREDENTIAL_VARS and not k.startswith("AWS_ENDPOINT_URL")}  # fmt: skip
    root = Path(__file__).resolve().parents[3]
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(root), env.get("PYTHONPATH", "")] if p)
    mark = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "deployer.local.cloud", "--state", str(state), "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(Path(project).resolve()),
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise LocalRuntimeError(f"the local cloud did not start (exit {code}): {_log_tail(log_path, mark)}")
        found = running(project)
        if found is not None and found.pid == process.pid:
            return CloudInfo(found.pid, found.emulator_url, found.control_url, found.region, state, started_now=True)
        time.sleep(0.1)
    process.kill()
    raise LocalRuntimeError(f"the local cloud did not come up within {STARTUP_TIMEOUT_S:g} s: {_log_tail(log_path, mark)}")


def stop(project: Path, *, grace_s: float = 20.0) -> bool:
    found = running(project)
    if found is None:
        return False
    try:
        _call(found.control_url, "POST", "/stop", timeout=10)
    except LocalRuntimeError:
        os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _alive(found.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(found.pid):
        os.kill(found.pid, signal.SIGKILL)
    return True


def status(info: CloudInfo) -> dict[str, Any]:
    return _call(info.control_url, "GET", "/status")


def refresh(info: CloudInfo) -> dict[str, Any]:
    """Routes re-read from the AWS state now (after a push or a rollback, before answering)."""
    return _call(info.control_url, "POST", "/refresh")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _log_tail(path: Path, mark: int, lines: int = 15) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(mark)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail) or "(the log is empty)"
