"""The embedded local target: every step of a push, against an AWS emulator in this process.

    LocalTarget(region).start()
      ├── EmulatorServer        moto + the deployer's extensions (emulator.py) on 127.0.0.1:<free>
      ├── Services              boto3 clients with local-only credentials, bound to that endpoint
      └── smoke(context)        starts the function under the Lambda Runtime Interface Emulator
                                behind the local API Gateway emulation: the pushed image in Docker
                                (container.py) when it is a Docker image that runs, else the same
                                files on the host (deployer.local); sends the manifest's sample,
                                compares, and keeps the endpoint for serving

The same push pipeline runs against it: ECR layer upload, the translated template as a stack
(alias, stage and CodeDeploy resources included), outputs.
Nothing listens beyond 127.0.0.1; the emulator's state lives as long as the process.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from collections.abc import Callable
from typing import Any

from deployer.aws.session import Aws
from deployer.deploy.compat import EndpointKind
from deployer.deploy.context import Services
from deployer.deploy.push import SmokeContext
from deployer.deploy.smoke import SmokeResult, smoke_test

__all__ = ["LocalTarget", "LOCAL_REGION"]

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIAL = "local-target"  # never a real key: the emulator accepts anything


class LocalTarget:
    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_factory: Callable[..., Any] | None = None,
        output: Callable[[str], None] | None = None,
    ) -> None:
        self.region = region or LOCAL_REGION
        self._endpoint_factory = endpoint_factory
        self._output = output
        self._server: Any = None
        self.endpoint: Any = None  # the LocalEndpoint serving the function, once the smoke test ran
        self.served_by = ""
        self.services: Services | None = None

    @property
    def emulator_url(self) -> str:
        return str(self._server.url) if self._server is not None else ""

    def start(self) -> LocalTarget:
        import boto3

        from deployer.local.cloud.emulator import EmulatorServer

        self._server = EmulatorServer().start()
        session = boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIAL, aws_secret_access_key=LOCAL_CREDENTIAL, region_name=self.region
        )
        aws = Aws(session=session, region=self.region, endpoint_url=self._server.url, profile=None, explicit_endpoint=True)
        self.services = Services.connect(aws, endpoint=EndpointKind("emulator", self._server.url), poll_s=0.05)
        return self

    def smoke(self, context: SmokeContext) -> SmokeResult:
        """Serve the function locally (kept for `serve`), then run the smoke test against it.

        The pushed image in Docker when it is a Docker image and runs; else the same files on the host.
        """
        fallback = ""
        if self.endpoint is None and context.docker_image and self._endpoint_factory is None:
            try:
                self.endpoint = self._container(context)
                self.served_by = f"the image {context.docker_image} in Docker"
            except Exception as exc:  # noqa: BLE001 - any Docker failure: say so, serve the files instead
                fallback = f" (the image did not run in Docker: {str(exc).splitlines()[0][:200]})"
        if self.endpoint is None:
            factory = self._endpoint_factory
            if factory is None:
                from deployer.local import LocalEndpoint

                factory = LocalEndpoint
            self.endpoint = factory(
                context.model_folder, port=0, timeout_s=float(context.config.timeout_s),
                memory_mb=context.config.memory_mb, output=self._output or (lambda line: None),
            )  # fmt: skip
            self.served_by = f"the model folder and functions/ on the host{fallback}"

        def send(method: str, path: str, body: bytes, headers: Any) -> tuple[int, bytes]:
            response = self.endpoint.request(method, path, body, dict(headers))
            return response.status, response.body

        result = smoke_test(send, context.manifest)
        return replace(result, reason=f"{result.reason}; served by {self.served_by}")

    def _container(self, context: SmokeContext) -> Any:
        from deployer.deploy.container import ContainerEndpoint
        from deployer.template import function_environment

        config = context.config
        return ContainerEndpoint(
            str(context.docker_image), environment=function_environment(config), timeout_s=config.timeout_s,
            memory_mb=config.memory_mb, output=self._output,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return str(self.endpoint.url) if self.endpoint is not None else ""

    def serve(self, stop: threading.Event) -> None:
        """Block until `stop` is set (Ctrl-C and SIGTERM set it, see api.py)."""
        while not stop.wait(0.5):
            pass

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalTarget:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
