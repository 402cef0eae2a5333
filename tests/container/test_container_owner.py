"""A Docker-backed local target leaves no container behind when its process is SIGKILLed.

A real owner process (a Python subprocess holding a `ContainerEndpoint` on the probe image) is
SIGKILLed: its watchdog removes the container at once; without the watchdog (or when it died
too) the next start removes the container, found by its owner labels, and keeps those of live
owners.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from deployer.local.container import OWNER_PID, OWNER_SCOPE, OWNER_START, ContainerEndpoint, remove_orphans
from tests.container.docker_helpers import REPO, subprocess_env

pytestmark = pytest.mark.container

OWNER = """
import json, sys, time
from deployer.local.container import ContainerEndpoint
endpoint = ContainerEndpoint(sys.argv[1], environment={}, timeout_s=10, memory_mb=256, watchdog=sys.argv[2] == "1")
print(json.dumps({"id": endpoint.container_id}), flush=True)
time.sleep(600)
"""


@pytest.fixture
def client(docker_daemon: None) -> Iterator[Any]:
    import docker

    made = docker.from_env(timeout=30)
    yield made
    made.close()


def start_owner(image: str, watchdog: bool) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, image, "1" if watchdog else "0"], cwd=REPO,
        env={**subprocess_env(), "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the owner process did not start its container"
    return proc, json.loads(line)["id"]


def exists(client: Any, container_id: str) -> bool:
    import docker

    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return True


def wait_gone(client: Any, container_id: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not exists(client, container_id):
            return True
        time.sleep(0.2)
    return not exists(client, container_id)


def test_the_container_of_a_sigkilled_owner_is_removed_by_its_watchdog(probe_image: str, client: Any) -> None:
    proc, container_id = start_owner(probe_image, watchdog=True)
    try:
        labels = client.containers.get(container_id).labels
        assert labels[OWNER_PID] == str(proc.pid) and labels[OWNER_START] and labels[OWNER_SCOPE]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert wait_gone(client, container_id, 15), "the container outlived its SIGKILLed owner"
    finally:
        _cleanup(proc, client, container_id)


def test_the_next_start_removes_containers_whose_owner_is_gone(probe_image: str, client: Any) -> None:
    proc, orphan = start_owner(probe_image, watchdog=False)
    live: ContainerEndpoint | None = None
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        time.sleep(1)
        assert exists(client, orphan)  # nothing removed it: the case the labels are for
        live = ContainerEndpoint(probe_image, environment={}, timeout_s=10, memory_mb=256, client=client)
        assert not exists(client, orphan)  # the start removed it
        assert remove_orphans(client) == []  # the live endpoint's own container is not an orphan
        assert exists(client, live.container_id)
    finally:
        _cleanup(proc, client, orphan)
        if live is not None:
            live.close()
    assert not exists(client, live.container_id)


def _cleanup(proc: subprocess.Popen[str], client: Any, container_id: str) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if exists(client, container_id):
        client.containers.get(container_id).remove(force=True)
