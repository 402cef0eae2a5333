"""Children die with their parent: a SIGKILLed `serve` (or emulator) leaves no process running.

Real processes, real SIGKILL: `python -m deployer serve` as a user runs it, its emulators and
their runtimes found in /proc, then checked gone. An orderly stop is covered in test_lifecycle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from deployer.local import LocalEndpoint
from tests.local.conftest import HERE, IRIS, REPO, TEST_HANDLER

pytestmark = pytest.mark.local


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_sigkill_of_serve_leaves_no_emulator_and_no_runtime() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", "serve", str(IRIS), "--port", "0", "--json"],
        cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    family: list[int] = []
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        with urllib.request.urlopen(url + "/v2/models/iris", timeout=30) as response:  # the runtime is up
            assert response.status == 200
        family = descendants(proc.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in family]
        assert any(b"aws-lambda-rie" in c.split(b"\0")[0] for c in commands), commands  # the emulator
        assert any(c.split(b"\0")[1:2] == [b"-c"] for c in commands), commands  # and its runtime
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert wait_until(lambda: not [pid for pid in family if alive(pid)]), [pid for pid in family if alive(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in family:  # never leave them to the next test, even when the check failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_runtime_dies_with_a_sigkilled_emulator_and_the_endpoint_recovers() -> None:
    with LocalEndpoint(IRIS, handler=TEST_HANDLER, code_root=HERE, timeout_s=5) as ep:
        runtime = ep.request("GET", "/echo").json()["pid"]
        emulator = next(pid for pid in ep.pids() if pid != runtime)
        os.kill(emulator, signal.SIGKILL)
        assert wait_until(lambda: not alive(runtime)), "the runtime outlived its emulator"
        statuses = [ep.request("GET", "/echo").status for _ in range(2)]
        assert statuses[-1] == 200  # the gateway restarted the environment
        assert ep.request("GET", "/echo").json()["pid"] != runtime
