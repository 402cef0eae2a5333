"""The entry points the CLI calls: one function per verb, every object built here.

    run_push(options, progress, ...)      → PushResult   (serves the local target until stopped)
    run_plan(options, progress, ...)      → PlanResult
    run_status / run_rollback / run_delete (options, ...) → dict

Where a verb goes (`options.target`, for push, plan, status, rollback and delete alike):
    aws     boto3's session: --profile, --region (else config, AWS_REGION, the profile), and
            AWS_ENDPOINT_URL when set (a moto server, for example)
    local   the project's local cloud (deployer.local.cloud): started in the background when it
            does not run, found again by every later command; no credentials or variables needed
    auto    aws when credentials, a profile or an endpoint are configured; else local, said in one line

`environ` and `session_factory` are injectable; the CLI passes neither.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from deployer.aws.session import AwsSettings, connect, endpoint_from_env, has_credentials
from deployer.config import load_config
from deployer.image.blobs import BlobStore, cache_root
from deployer.deploy.context import Progress, PushOptions, Services, choose_builder
from deployer.deploy.manage import PlanResult, delete, preview, rollback, stack_name_for, status
from deployer.deploy.push import PushResult, push
from deployer.deploy.remote import aws_smoke
from deployer.deploy.state import state_dir
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


def local_services(options: PushOptions, environ: Mapping[str, str] | None = None) -> tuple[Services, Any]:
    """Services bound to the project's local cloud (started when it does not run), and its CloudInfo."""
    import boto3

    from deployer.aws.session import Aws
    from deployer.deploy.compat import EndpointKind
    from deployer.local.cloud import client
    from deployer.local.cloud.daemon import LOCAL_CREDENTIAL

    info = client.ensure(options.project, environ=dict(environ) if environ is not None else None)
    session = boto3.session.Session(aws_access_key_id=LOCAL_CREDENTIAL, aws_secret_access_key=LOCAL_CREDENTIAL,
                                    region_name=info.region)  # fmt: skip
    aws = Aws(session=session, region=info.region, endpoint_url=info.emulator_url, profile=None, explicit_endpoint=True)
    return Services.connect(aws, endpoint=EndpointKind("emulator", info.emulator_url), poll_s=0.05), info


def _services(options: PushOptions, environ: Mapping[str, str] | None,
              session_factory: Callable[..., Any] | None) -> tuple[Services, Any]:  # fmt: skip
    if resolve_target(options, environ, session_factory) == "local":
        return local_services(options, environ)
    return aws_services(options, environ, session_factory), None


def run_push(
    options: PushOptions,
    progress: Progress,
    *,
    environ: Mapping[str, str] | None = None,
    session_factory: Callable[..., Any] | None = None,
) -> PushResult:
    """Push (api module doc). On the local target the cloud keeps serving after push returns."""
    target = resolve_target(options, environ, session_factory)
    store = BlobStore(cache_root(dict(environ) if environ is not None else None) / "blobs")
    build_root = state_dir(options.project) / "build"
    from deployer.local import find_code_root

    if target == "aws":
        services = aws_services(options, environ, session_factory)
        builder, source = choose_builder(image=options.image, store=store, allow_files=services.endpoint.kind != "aws",
                                         code_root=find_code_root, build_root=build_root, mode=options.builder,
                                         base_image=options.base_image, no_cache=options.no_cache)  # fmt: skip
        return push(options, services, builder, target="aws", smoke=aws_smoke, progress=progress,
                    image_source=source, environ=environ)  # fmt: skip

    if options.target == "auto":
        progress.info(LOCAL_NOTICE)
    from deployer.local.cloud.smoke import cloud_smoke

    services, info = local_services(options, environ)
    progress.info(("started " if info.started_now else "using ") + f"the local cloud (pid {info.pid}): AWS endpoint "
                  f"{info.emulator_url}; `python -m deployer local down` stops it")  # fmt: skip
    _say_time_scale(options, info, environ, progress)
    builder, source = choose_builder(image=options.image, store=store, allow_files=True, code_root=find_code_root,
                                     build_root=build_root, mode=options.builder, base_image=options.base_image,
                                     no_cache=options.no_cache)  # fmt: skip
    result = push(options, services, builder, target="local", smoke=cloud_smoke(info), progress=progress,
                  image_source=source, environ=environ)  # fmt: skip
    served = _served(info, result.stack)
    result.url = str(served.get("url") or "")
    result.notes.append(f"served by the local cloud (pid {info.pid}) until `python -m deployer local down`; "
                        f"its AWS endpoint: {info.emulator_url}")  # fmt: skip
    return result


def _say_time_scale(options: PushOptions, info: Any, environ: Mapping[str, str] | None, progress: Progress) -> None:
    from deployer.local.cloud import client
    from deployer.local.cloud.shift import steps_of

    kind = load_config(options.project, options.config_overrides(), environ=environ).deployment.type
    seconds = sum(s for _, s in steps_of(kind))
    if seconds:
        scale = float(client.status(info).get("time_scale") or 1)
        progress.info(f"a {kind} traffic shift runs {scale:g}x faster in the local cloud: {seconds / scale:.0f} s instead "
                      f"of {seconds / 60:.0f} min (the golden set is checked first; alarms are watched throughout)")


def _served(info: Any, stack: str) -> dict[str, Any]:
    from deployer.local.cloud import client

    return next((s for s in client.status(info)["stacks"] if s["stack"] == stack), {})


def run_plan(
    options: PushOptions,
    progress: Progress,
    *,
    environ: Mapping[str, str] | None = None,
    session_factory: Callable[..., Any] | None = None,
) -> PlanResult:
    services, _ = _services(options, environ, session_factory)
    from deployer.local import find_code_root

    store = BlobStore(cache_root(dict(environ) if environ is not None else None) / "blobs")
    builder, _ = choose_builder(image=options.image, store=store, allow_files=services.endpoint.kind != "aws",
                                code_root=find_code_root, build_root=state_dir(options.project) / "build",
                                mode=options.builder, base_image=options.base_image,
                                no_cache=options.no_cache)  # fmt: skip
    return preview(options, services, builder, progress=progress, environ=environ)


def run_status(options: PushOptions, *, environ: Mapping[str, str] | None = None,
               session_factory: Callable[..., Any] | None = None) -> dict[str, Any]:  # fmt: skip
    services, info = _services(options, environ, session_factory)
    stack, _ = stack_name_for(options, environ)
    served = _served(info, stack) if info is not None else None
    return {**status(services, stack, served=served), "target": "local" if info is not None else "aws"}


def run_rollback(options: PushOptions, *, to_version: str | None = None, environ: Mapping[str, str] | None = None,
                 session_factory: Callable[..., Any] | None = None) -> dict[str, Any]:  # fmt: skip
    services, info = _services(options, environ, session_factory)
    stack, _ = stack_name_for(options, environ)
    result = rollback(services, stack, to_version=to_version)
    if info is not None:
        from deployer.local.cloud import client

        client.refresh(info)  # the URL answers from the version the alias points at, from now on
    return result


def run_delete(options: PushOptions, progress: Progress, *, images: bool = False,
               environ: Mapping[str, str] | None = None,
               session_factory: Callable[..., Any] | None = None) -> dict[str, Any]:  # fmt: skip
    services, info = _services(options, environ, session_factory)
    stack, _ = stack_name_for(options, environ)
    result = delete(services, stack, images=images, progress=progress)
    if info is not None:
        from deployer.local.cloud import client

        client.refresh(info)  # the stage's gateway closes: its URL refuses from now on
    return result
