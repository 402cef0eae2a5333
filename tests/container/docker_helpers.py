"""Helpers of the container tier: run docker and the infra scripts, start function
containers that are always removed, and invoke them through the emulator's HTTP API.

Everything runs through the docker CLI with AWS credentials stripped from its environment
and the classic builder (no BuildKit here). Ports are published on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deployer.local._lambda_env import CREDENTIAL_VARS as AWS_CREDENTIAL_VARS

REPO = Path(__file__).resolve().parents[2]
DOCKERD_START = REPO / "infra" / "dockerd" / "start"
STANDIN_BUILD = REPO / "infra" / "standin-base" / "build"
PROBE_FUNCTION = Path(__file__).resolve().parent / "probe_function"

INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def subprocess_env() -> dict[str, str]:
    """The environment for docker and the infra scripts: no AWS credentials, classic builder."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_CREDENTIAL_VARS}
    env["DOCKER_BUILDKIT"] = "0"
    # The stand-in build finds the Runtime Interface Emulator in this Python's aws-sam-cli.
    env.setdefault("STANDIN_HOST_PYTHON", sys.executable)
    return env


def run(
    args: list[str], *, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, fail the test with its output rather than a bare status."""
    try:
        proc = subprocess.run(
            args,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout}s: {' '.join(args)}\n{exc.stderr or ''}")
    if check and proc.returncode != 0:
        pytest.fail(
            f"exit {proc.returncode}: {' '.join(args)}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], timeout=timeout, check=check)


@dataclass
class RunningFunction:
    """A container serving the Runtime Interface Emulator's invoke API on 127.0.0.1."""

    container_id: str
    url: str

    def logs(self) -> str:
        proc = docker("logs", self.container_id, check=False)
        return proc.stdout + proc.stderr

    def running(self) -> bool:
        proc = docker("inspect", "--format", "{{.State.Running}}", self.container_id, check=False)
        return proc.stdout.strip() == "true"

    def invoke(self, event: Any, *, wait_s: float = 30.0) -> Any:
        """POST the event to the invoke endpoint and return the decoded answer.

        Retries only while the emulator is not listening yet (docker-proxy accepts the
        connection and drops it); a container that exited fails at once, with its logs.
        """
        body = json.dumps(event).encode()
        deadline = time.monotonic() + wait_s
        while True:
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                pytest.fail(f"invoke answered HTTP {exc.code}: {exc.read()!r}\n{self.logs()}")
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError) as exc:
                if not self.running():
                    pytest.fail(f"the function's container exited: {exc}\n{self.logs()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no answer from {self.url} in {wait_s}s: {exc}\n{self.logs()}")
                time.sleep(0.2)


@dataclass
class Containers:
    """Starts function containers and removes every one of them in `remove_all`."""

    started: list[str] = field(default_factory=list)

    def run_function(
        self, image: str, *docker_args: str, command: tuple[str, ...] = ()
    ) -> RunningFunction:
        name = f"onnx-lambda-test-{uuid.uuid4().hex[:12]}"
        proc = docker(
            "run", "--detach", "--name", name, "--label", "onnx-lambda.test=1",
            "--publish", "127.0.0.1::8080", *docker_args, image, *command,
        )
        container_id = proc.stdout.strip()
        self.started.append(container_id)
        published = docker("port", container_id, "8080/tcp").stdout.strip().splitlines()[0]
        host, _, port = published.rpartition(":")
        assert host == "127.0.0.1", f"port published on {host}, not on loopback"
        return RunningFunction(container_id, f"http://127.0.0.1:{port}{INVOKE_PATH}")

    def remove_all(self) -> None:
        for container_id in self.started:
            docker("rm", "--force", "--volumes", container_id, check=False)
        self.started.clear()
