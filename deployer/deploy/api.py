"""The entry points the CLI calls: one function per verb, every object built here.

    run_push(options, progress, ...)      → PushResult   (serves the local target until stopped)
    run_plan(options, progress, ...)      → PlanResult
    run_status / run_rollback / run_delete (options, ...) → dict

Where a push goes (`options.target`):
    aws     boto3's session: --profile, --region (else config, AWS_REGION, the profile), and
            AWS_ENDPOINT_URL when set (a moto server, for example)
    local   the embedded local target (local_target.py)
    auto    aws when credentials, a profile or an endpoint are configured; else local, said in one line

`environ`, `session_factory` and `local_factory` are injectable; the CLI passes none of them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from deployer.aws.session import AwsSettings, connect, endpoint_from_env, has_credentials
from deployer.config import load_config
from deployer.deploy.artifact import BlobStore, default_cache_dir
from deployer.deploy.context import Progress, PushOptions, Services, choose_builder
from deployer.deploy.local_target import LocalTarget
from deployer.deploy.manage import PlanResult, delete, preview, rollback, stack_name_for, status
from deployer.deploy.push import PushResult, push
from deployer.deploy.remote import aws_smoke
from deployer.deploy.state import state_dir
from deployer.deploy.errors import DeployError
from deployer.errors import ConfigError

__all__ = ["run_push", "run_plan", "run_status", "run_rollback", "run_delete", "resolve_target", "LOCAL_NOTICE"]

LOCAL_NOTICE = (
    "no AWS credentials, profile or endpoint configured: deploying to the local target (an AWS emulator and the "
    "Lambda runtime on 127.0.0.1); --target aws deploys to AWS"
)


def resolve_target(
    options: PushOptions,
    environ: Mapping[str, str] | None = None,
    session_factory: Callable[..., Any] | None = None,
) -> str:
    env = os.environ if environ is None else environ
    if options.target not in ("auto", "aws", "local"):
        raise ConfigError(f"--target {options.target!r}: use aws or local (or leave it out)")
    if options.target != "auto":
        return options.target
    if options.profile or env.get("AWS_PROFILE") or endpoint_from_env(env):
        return "aws"
    return "aws" if has_credentials(AwsSettings(), session_factory) else "local"


def _region(options: PushOptions, environ: Mapping[str, str] | None) -> str | None:
    """--region, else the config's (file or ONNX_LAMBDA_REGION); None lets boto3 decide."""
    return load_config(options.project, options.config_overrides(), environ=environ).region


def aws_services(
    options: PushOptions,
    environ: Mapping[str, str] | None = None,
    session_factory: Callable[..., Any] | None = None,
) -> Services:
    settings = AwsSettings(profile=options.profile, region=_region(options, environ))
    return Services.connect(connect(settings, session_factory=session_factory, environ=environ))


def run_push(
    options: PushOptions,
    progress: Progress,
    *,
    environ: Mapping[str, str] | None = None,
    session_factory: Callable[..., Any] | None = None,
    ready: Callable[[PushResult, str], None] | None = None,
    stop: threading.Event | None = None,
    local_factory: Callable[[], LocalTarget] | None = None,
    output: Callable[[str], None] | None = None,
) -> PushResult:
    """Push (api module doc). For the local target with `options.serve`, `ready(result, url)` is
    called once the smoke test ran, then this blocks until `stop` is set, Ctrl-C or SIGTERM."""
    target = resolve_target(options, environ, session_factory)
    store = BlobStore(default_cache_dir(dict(environ) if environ is not None else None) / "blobs")
    build_root = state_dir(options.project) / "build"
    from deployer.local import find_code_root

    if target == "aws":
        services = aws_services(options, environ, session_factory)
        builder, source = choose_builder(image=options.image, store=store, allow_files=services.endpoint.kind != "aws",
                                         code_root=find_code_root, build_root=build_root, mode=options.builder)  # fmt: skip
        return push(options, services, builder, target="aws", smoke=aws_smoke, progress=progress,
                    image_source=source, environ=environ)  # fmt: skip

    if options.target == "auto":
        progress.info(LOCAL_NOTICE)
    region = _region(options, environ)
    local = local_factory() if local_factory is not None else LocalTarget(region=region, output=output)
    with local:
        assert local.services is not None
        builder, source = choose_builder(image=options.image, store=store, allow_files=True, code_root=find_code_root,
                                         build_root=build_root, mode=options.builder)  # fmt: skip
        result = push(options, local.services, builder, target="local", smoke=local.smoke, progress=progress,
                      image_source=source, environ=environ)  # fmt: skip
        result.url = local.url or result.url
        result.notes.append(f"AWS emulator (this process, until it exits): AWS_ENDPOINT_URL={local.emulator_url}")
        if options.serve and result.smoke_test.status != "failed" and local.endpoint is not None:
            if ready is not None:
                ready(result, local.url)
            event = stop or threading.Event()
            restore = _stop_on_sigterm(event)
            try:
                local.serve(event)
            except KeyboardInterrupt:
                pass
            finally:
                restore()
    return result


def run_plan(
    options: PushOptions,
    progress: Progress,
    *,
    environ: Mapping[str, str] | None = None,
    session_factory: Callable[..., Any] | None = None,
) -> PlanResult:
    target = resolve_target(options, environ, session_factory)
    if target == "local":
        raise DeployError(
            "plan compares with a deployed stack, and the local target keeps none between runs: configure AWS "
            "credentials (or AWS_ENDPOINT_URL) and pass --target aws"
        )
    services = aws_services(options, environ, session_factory)
    from deployer.local import find_code_root

    store = BlobStore(default_cache_dir(dict(environ) if environ is not None else None) / "blobs")
    builder, _ = choose_builder(image=options.image, store=store, allow_files=services.endpoint.kind != "aws",
                                code_root=find_code_root, build_root=state_dir(options.project) / "build",
                                mode=options.builder)  # fmt: skip
    return preview(options, services, builder, progress=progress, environ=environ)


def run_status(options: PushOptions, *, environ: Mapping[str, str] | None = None,
               session_factory: Callable[..., Any] | None = None) -> dict[str, Any]:  # fmt: skip
    services = aws_services(options, environ, session_factory)
    stack, _ = stack_name_for(options, environ)
    return status(services, stack)


def run_rollback(options: PushOptions, *, to_version: str | None = None, environ: Mapping[str, str] | None = None,
                 session_factory: Callable[..., Any] | None = None) -> dict[str, Any]:  # fmt: skip
    services = aws_services(options, environ, session_factory)
    stack, _ = stack_name_for(options, environ)
    return rollback(services, stack, to_version=to_version)


def run_delete(options: PushOptions, progress: Progress, *, images: bool = False,
               environ: Mapping[str, str] | None = None,
               session_factory: Callable[..., Any] | None = None) -> dict[str, Any]:  # fmt: skip
    services = aws_services(options, environ, session_factory)
    stack, _ = stack_name_for(options, environ)
    return delete(services, stack, images=images, progress=progress)


def _stop_on_sigterm(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handle)
    return lambda: signal.signal(signal.SIGTERM, previous)
