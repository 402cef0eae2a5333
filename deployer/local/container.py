"""The local target's function in Docker: the pushed image itself, under its Runtime Interface Emulator.

When the image a push made is a Docker image (the function image of `deployer.image`, or
`--image`) and a daemon answers, the local target runs that very image: `docker run` with the
function's environment, the RIE's port published on 127.0.0.1 only, a read-only root file
system with a writable /tmp (as Lambda), and the local API Gateway emulation of deployer.local
in front. Same interface as `deployer.local.LocalEndpoint` (`url`, `request`, `invoke`, `close`).

One container is one execution environment, and its emulator takes one event at a time (two at
once make the RIE panic with a nil pointer dereference, and the container exits): an event that
finds it busy is refused as Lambda throttles, `deployer.local.Throttled` → 429 at the gateway.

A container is the Docker daemon's child, not ours, so it outlives a deployer that is SIGKILLed
(or crashes) unless something removes it. Two things do:
- a watchdog process per container (`python -c WATCHDOG <id>`, its own session so a Ctrl-C to the
  terminal's group does not stop it first) blocks reading a pipe only we hold; when we die, in any
  way, the kernel closes the pipe, the read returns, and the watchdog removes the container. On
  an orderly `close()` we remove the container ourselves and kill the watchdog.
- every container is labelled with its owner: pid, the pid's start time (pids are reused) and a
  scope (boot id and pid namespace: a pid means nothing on another host or namespace sharing the
  daemon). Each start removes the containers of its scope whose owner is gone: what a watchdog
  could not remove (it was SIGKILLed too, the daemon was down) goes at the next run.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deployer.deploy.errors import DeployError

__all__ = ["ContainerEndpoint", "OWNER_PID", "OWNER_START", "OWNER_SCOPE", "owner_labels", "remove_orphans"]

HOST = "127.0.0.1"
RIE_PORT = "8080/tcp"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
OWNER_PID = "onnx-lambda-deployer.owner-pid"
OWNER_START = "onnx-lambda-deployer.owner-start"
OWNER_SCOPE = "onnx-lambda-deployer.owner-scope"
_PROC = Path("/proc")

# Blocks until the pipe on stdin reaches EOF (its only writer, the owner, closed it or died),
# then removes the container. Ctrl-C goes to the terminal's group: this one outlives it.
WATCHDOG = (
    "import signal,sys\n"
    "signal.signal(signal.SIGINT,signal.SIG_IGN)\n"
    "sys.stdin.buffer.read()\n"
    "import docker\n"
    "try:docker.from_env(timeout=30).containers.get(sys.argv[1]).remove(force=True)\n"
    "except Exception:pass\n"
)


class ContainerEndpoint:
    def __init__(
        self,
        image: str,
        *,
        environment: Mapping[str, str],
        timeout_s: int,
        memory_mb: int,
        output: Callable[[str], None] | None = None,
        client: Any = None,
        start_timeout_s: float = 30.0,
        watchdog: bool = True,
    ) -> None:
        import docker

        from deployer.local import Gateway

        self._client = client or docker.from_env(timeout=30)
        self._timeout_s = timeout_s
        self._busy = threading.Lock()
        self._log = output or (lambda line: None)
        remove_orphans(self._client, self._log)
        port = _free_port()
        env = {**environment, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
        labels = {"onnx-lambda.local-target": "1", **owner_labels()}
        self._container = self._client.containers.run(
            image, detach=True, environment=env, ports={RIE_PORT: (HOST, port)}, read_only=True,
            tmpfs={"/tmp": "rw,size=512m"}, mem_limit=f"{max(memory_mb, 128)}m", labels=labels,
        )  # fmt: skip
        self._watchdog = _start_watchdog(self._container.id) if watchdog else None
        self._rie_port = port
        try:
            self._wait(start_timeout_s)
            self._gateway = Gateway(invoke=self._invoke, timeout_s=timeout_s, port=0, log=output)
        except BaseException:
            self._remove()
            raise
        self._gateway.start()
        self.url = self._gateway.url
        self.port = self._gateway.port

    @property
    def container_id(self) -> str:
        return str(self._container.id)

    def _wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._container.reload()
            if self._container.status == "exited":
                logs = self._container.logs(tail=5).decode("utf-8", "replace").strip()
                raise DeployError(f"the function's container exited at start: {logs or 'no output'}")
            # docker-proxy accepts connections before the RIE inside listens: wait for an HTTP answer.
            conn = http.client.HTTPConnection(HOST, self._rie_port, timeout=2)
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                return
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
            finally:
                conn.close()
        raise DeployError(f"the function's container did not open its runtime port within {timeout_s:.0f} s")

    def invoke(self, payload: bytes) -> tuple[int, bytes]:
        """One event straight to the function (no gateway): (status, body) as the emulator answers."""
        return self._invoke(payload)

    def _invoke(self, payload: bytes) -> tuple[int, bytes]:
        from deployer.local import Throttled

        if not self._busy.acquire(blocking=False):
            raise Throttled(
                "Rate Exceeded: the function's one execution environment (its container) is busy and its concurrency "
                "limit is 1 (Lambda's TooManyRequestsException); retry later"
            )
        conn = http.client.HTTPConnection(HOST, self._rie_port, timeout=self._timeout_s + 10)
        try:
            conn.request("POST", INVOKE_PATH, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()
            self._busy.release()

    def request(self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> Any:
        from deployer.local import LocalResponse

        conn = http.client.HTTPConnection(HOST, self.port, timeout=self._timeout_s + 30)
        try:
            conn.request(method.upper(), path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return LocalResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def _remove(self) -> None:
        try:
            self._container.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        if self._watchdog is not None:  # its work is done: stop it before it imports docker for nothing
            self._watchdog.kill()
            self._watchdog.wait()
            if self._watchdog.stdin is not None:
                self._watchdog.stdin.close()
            self._watchdog = None

    def close(self) -> None:
        self._gateway.close()
        self._remove()

    def __enter__(self) -> ContainerEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def owner_labels(pid: int | None = None) -> dict[str, str]:
    """The labels that name a container's owner process (only the pid where there is no /proc)."""
    pid = os.getpid() if pid is None else pid
    labels = {OWNER_PID: str(pid)}
    started, scope = _start_time(pid), _scope()
    if started is not None and scope is not None:
        labels.update({OWNER_START: started, OWNER_SCOPE: scope})
    return labels


def remove_orphans(client: Any, log: Callable[[str], None] = lambda line: None) -> list[str]:
    """Remove the containers of this scope whose owner process is gone; their ids."""
    scope = _scope()
    if scope is None:
        return []
    removed = []
    for container in client.containers.list(all=True, filters={"label": f"{OWNER_SCOPE}={scope}"}):
        labels = container.labels or {}
        pid, started = labels.get(OWNER_PID, ""), labels.get(OWNER_START)
        if pid.isdigit() and started is not None and _start_time(int(pid)) == started:
            continue  # its owner runs: not ours to touch
        try:
            container.remove(force=True)
        except Exception:  # noqa: BLE001 - removed meanwhile (its watchdog, another run): fine
            continue
        removed.append(str(container.id))
        log(f"[container] removed {str(container.id)[:12]}, left running by process {pid}, which is gone")
    return removed


def _start_watchdog(container_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, container_id], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks after boot), or None when it is gone or a zombie."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


def _scope() -> str | None:
    """This boot and pid namespace: where an owner pid can be checked (None without /proc)."""
    try:
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        return None
    return f"{boot}.{namespace.strip('pid:[]')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
