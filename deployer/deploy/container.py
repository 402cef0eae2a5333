"""The local target's function in Docker: the pushed image itself, under its Runtime Interface Emulator.

When the image a push made is a Docker image (the function image of `deployer.image`, or
`--image`) and a daemon answers, the local target runs that very image: `docker run` with the
function's environment, the RIE's port published on 127.0.0.1 only, a read-only root file
system with a writable /tmp (as Lambda), and the local API Gateway emulation of deployer.local
in front. Same interface as `deployer.local.LocalEndpoint` (`url`, `request`, `close`).
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from deployer.deploy.errors import DeployError

__all__ = ["ContainerEndpoint"]

HOST = "127.0.0.1"
RIE_PORT = "8080/tcp"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


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
    ) -> None:
        import docker

        from deployer.local import Gateway

        self._client = client or docker.from_env(timeout=30)
        self._timeout_s = timeout_s
        port = _free_port()
        env = {**environment, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
        self._container = self._client.containers.run(
            image, detach=True, environment=env, ports={RIE_PORT: (HOST, port)}, read_only=True,
            tmpfs={"/tmp": "rw,size=512m"}, mem_limit=f"{max(memory_mb, 128)}m", labels={"onnx-lambda.local-target": "1"},
        )  # fmt: skip
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

    def _invoke(self, payload: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, self._rie_port, timeout=self._timeout_s + 10)
        try:
            conn.request("POST", INVOKE_PATH, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

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

    def close(self) -> None:
        self._gateway.close()
        self._remove()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
