"""The Python API: the CLI's verbs as typed functions that return the objects the CLI prints.

    import deployer

    model = deployer.convert("build/examples/churn.joblib", out="build/churn", trust_pickle=True,
                             sample="build/examples/rows.csv")             # → ConvertResult
    answer = deployer.invoke("build/churn", {"instances": [[12, 70.5, 3, 1, 2, 9.1]]})
    answer.status, answer.json()                                          # 200, {"predictions": ...}
    pushed = deployer.push("build/churn")                                 # → PushResult (local cloud)
    deployer.status(stack_name=pushed.stack).url                          # → StackStatus

One function per verb: options in, the one engine call the CLI makes, a typed result out; `--json`
prints that result's `summary()`. Errors are the `deployer.errors` tree, as in the CLI (a user
error is a DeployerError with `exit_code`; anything else is a bug). Every heavy import happens
inside the function that needs it: `import deployer` stays cheap (a test pins what it loads).

    convert         → ConvertResult   deployer.model.convert
    write_template  → TemplateReport  deployer.template.write_template (`template` in the CLI; the
                                      name is taken by the deployer.template package)
    build           → BuildResult     deployer.image.build
    push            → PushResult      deployer.deploy.run_push (local cloud without AWS credentials)
    plan            → PlanResult      deployer.deploy.run_plan
    status          → StackStatus     deployer.deploy.run_status (typed here: the engine gives a dict)
    rollback        → Rollback        deployer.deploy.run_rollback (idem)
    delete          → Deletion        deployer.deploy.run_delete (idem)
    invoke          → Answer          one request through the local runtime (deployer.local.LocalEndpoint)
    serve           → None            serves until Ctrl-C / SIGTERM / `stop` (deployer.local.serve)

The local cloud a push starts keeps serving after push returns (as with the CLI); stop it with
`deployer.local.cloud.client.stop(project)` or `python -m deployer local down`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployer.deploy import PlanResult, Progress, PushOptions, PushResult
    from deployer.image import BuildResult
    from deployer.template.report import TemplateReport

__all__ = [
    "Answer",
    "Deletion",
    "Rollback",
    "StackStatus",
    "build",
    "convert",
    "delete",
    "invoke",
    "plan",
    "push",
    "rollback",
    "serve",
    "status",
    "write_template",
]

PathLike = str | os.PathLike[str]


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class StackStatus:
    """What runs now, read from the live function and alias (`status`)."""

    stack: str
    region: str
    target: str  # "aws" | "local"
    status: str  # the CloudFormation stack status
    url: str
    alias: str | None
    function_version: str | None
    versions: tuple[str, ...]
    routing: tuple[Mapping[str, Any], ...]  # per version behind the alias: weight, image, model
    model: str
    model_version: str
    image_uri: str
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> StackStatus:
        return cls(stack=str(doc.get("stack", "")), region=str(doc.get("region", "")),
                   target=str(doc.get("target", "")), status=str(doc.get("status") or ""),
                   url=str(doc.get("url") or ""), alias=doc.get("alias"),
                   function_version=doc.get("function_version"), versions=tuple(doc.get("versions") or ()),
                   routing=tuple(doc.get("routing") or ()), model=str(doc.get("model") or ""),
                   model_version=str(doc.get("model_version") or ""), image_uri=str(doc.get("image_uri") or ""),
                   raw=dict(doc))  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """What `status --json` prints."""
        return dict(self.raw)


@dataclass(frozen=True)
class Rollback:
    """The alias moved back (`rollback`); `changed` is False when it already pointed there."""

    stack: str
    alias: str
    from_version: str
    to_version: str
    changed: bool
    image_uri: str
    note: str
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Rollback:
        return cls(stack=str(doc.get("stack", "")), alias=str(doc.get("alias", "")),
                   from_version=str(doc.get("from", "")), to_version=str(doc.get("to", "")),
                   changed=bool(doc.get("changed")), image_uri=str(doc.get("image_uri") or ""),
                   note=str(doc.get("note") or ""), raw=dict(doc))  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """What `rollback --json` prints."""
        return dict(self.raw)


@dataclass(frozen=True)
class Deletion:
    """The stack deleted (`delete`); its images kept unless `images=True`."""

    stack: str
    repository: str
    images_deleted: bool
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Deletion:
        return cls(stack=str(doc.get("stack", "")), repository=str(doc.get("repository") or ""),
                   images_deleted=bool(doc.get("images_deleted")), raw=dict(doc))  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """What `delete --json` prints."""
        return dict(self.raw)


@dataclass(frozen=True)
class Answer:
    """One answer of the model through the local runtime (`invoke`)."""

    status: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not JSON, e.g. a KServe binary answer)."""
        return json.loads(self.body)

    def summary(self) -> dict[str, Any]:
        """What `invoke --json` prints (the body as JSON when it is JSON, else as text)."""
        try:
            body: Any = self.json()
        except ValueError:
            body = self.body.decode("utf-8", "replace")
        return {"status": self.status, "method": self.method, "path": self.path, "body": body}


# ------------------------------------------------------------------------------------------ model


def __getattr__(name: str) -> Any:
    # `convert` is deployer.model.convert itself (its whole signature: opset, size_budget, ...),
    # looked up on first use: importing it loads numpy, which `import deployer.api` must not.
    if name == "convert":
        from deployer.model import convert

        return convert
    raise AttributeError(f"module 'deployer.api' has no attribute {name!r}")


def write_template(
    model_dir: PathLike,
    *,
    out: PathLike = "build/template.yaml",
    project: PathLike = ".",
    check: bool = True,
    **settings: Any,
) -> TemplateReport:
    """Write the SAM template of the model in `model_dir` to `out`, translated and linted offline
    (`python -m deployer template`). `settings` override the config by key: stack_name, region,
    memory_mb, timeout_s, architecture, or dotted keys such as `{"api.auth": "api_key"}`."""
    from deployer.config import load_config
    from deployer.template import write_template as run

    return run(Path(model_dir), Path(out), load_config(Path(project), dict(settings)), check=check)


def build(
    model_dir: PathLike,
    *,
    arch: str | None = None,
    base_image: str | None = None,
    project: PathLike = ".",
    out_dir: PathLike | None = None,
    no_cache: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the function image (dependency, model and code layers; reproducible digests) of the
    model in `model_dir` with Docker (`python -m deployer build`)."""
    from deployer.config import load_config
    from deployer.image import build as run

    config = load_config(Path(project), {"architecture": arch, "image.base": base_image})
    return run(Path(model_dir), arch=arch, base_image=base_image, config=config, no_cache=no_cache,
               out_dir=Path(out_dir) if out_dir is not None else None, progress=progress)  # fmt: skip


# ------------------------------------------------------------------------------------------ deploy


def _options(model: PathLike, **fields: Any) -> PushOptions:
    from deployer.deploy import PushOptions

    given = {key: value for key, value in fields.items() if value is not None}
    return PushOptions(model=Path(model), **given)


def _progress(progress: Progress | None) -> Progress:
    from deployer.deploy import NullProgress

    return progress if progress is not None else NullProgress()


def push(
    model: PathLike = ".",
    *,
    target: str = "auto",
    profile: str | None = None,
    region: str | None = None,
    stack_name: str | None = None,
    image: str | None = None,
    builder: str = "auto",
    arch: str | None = None,
    base_image: str | None = None,
    no_cache: bool = False,
    project: PathLike = ".",
    trust_pickle: bool = False,
    golden: PathLike | None = None,
    progress: Progress | None = None,
) -> PushResult:
    """Deploy `model` (a converted folder, or any file `convert` takes): image, change set, smoke
    test, URL (`python -m deployer push`). `target="auto"`: AWS when credentials, a profile or
    AWS_ENDPOINT_URL are set, else the project's local cloud, which keeps serving after return.
    `arch`, `base_image`, `no_cache`: as for `build` (default: the image `build` made for this
    model and architecture, else the config's base).
    `progress` receives steps, notes and stack events (deployer.deploy.Progress; default: none)."""
    from deployer.deploy import run_push

    options = _options(model, target=target, profile=profile, region=region, stack_name=stack_name, image=image,
                       builder=builder, arch=arch, base_image=base_image, no_cache=no_cache, project=Path(project),
                       trust_pickle=trust_pickle, golden=Path(golden) if golden is not None else None)  # fmt: skip
    return run_push(options, _progress(progress))


def plan(
    model: PathLike = ".",
    *,
    target: str = "auto",
    profile: str | None = None,
    region: str | None = None,
    stack_name: str | None = None,
    image: str | None = None,
    builder: str = "auto",
    arch: str | None = None,
    base_image: str | None = None,
    no_cache: bool = False,
    project: PathLike = ".",
    progress: Progress | None = None,
) -> PlanResult:
    """What `push` would change (image digest, bytes to upload, resources), changing nothing
    (`python -m deployer plan`)."""
    from deployer.deploy import run_plan

    options = _options(model, target=target, profile=profile, region=region, stack_name=stack_name, image=image,
                       builder=builder, arch=arch, base_image=base_image, no_cache=no_cache,
                       project=Path(project))  # fmt: skip
    return run_plan(options, _progress(progress))


def status(
    model: PathLike = ".",
    *,
    stack_name: str | None = None,
    target: str = "auto",
    profile: str | None = None,
    region: str | None = None,
    project: PathLike = ".",
) -> StackStatus:
    """What runs now: alias → versions and weights → images → models, and the URL
    (`python -m deployer status`). Name the stack by `stack_name` or by the model folder pushed."""
    from deployer.deploy import run_status

    options = _options(model, target=target, profile=profile, region=region, stack_name=stack_name,
                       project=Path(project))  # fmt: skip
    return StackStatus.of(run_status(options))


def rollback(
    model: PathLike = ".",
    *,
    to_version: str | None = None,
    stack_name: str | None = None,
    target: str = "auto",
    profile: str | None = None,
    region: str | None = None,
    project: PathLike = ".",
) -> Rollback:
    """Move the alias back to the previous published version, or to `to_version`
    (`python -m deployer rollback`)."""
    from deployer.deploy import run_rollback

    options = _options(model, target=target, profile=profile, region=region, stack_name=stack_name,
                       project=Path(project))  # fmt: skip
    return Rollback.of(run_rollback(options, to_version=to_version))


def delete(
    model: PathLike = ".",
    *,
    images: bool = False,
    stack_name: str | None = None,
    target: str = "auto",
    profile: str | None = None,
    region: str | None = None,
    project: PathLike = ".",
    progress: Progress | None = None,
) -> Deletion:
    """Delete the stack; its images too with `images=True` (`python -m deployer delete`)."""
    from deployer.deploy import run_delete

    options = _options(model, target=target, profile=profile, region=region, stack_name=stack_name,
                       project=Path(project))  # fmt: skip
    return Deletion.of(run_delete(options, _progress(progress), images=images))


# ------------------------------------------------------------------------------------------ local runtime


def invoke(
    model: PathLike,
    data: Any = None,
    *,
    path: str | None = None,
    method: str | None = None,
    content_type: str = "application/json",
    output: Callable[[str], None] | None = None,
) -> Answer:
    """Send one request to `model` (a model folder or .onnx file) through the local runtime (the Lambda
    Runtime Interface Emulator behind API Gateway emulation), as `python -m deployer invoke` does.

    `data`: bytes or str sent as they are, anything else as JSON; the route defaults to the v2 infer
    route (TF Serving's predict for a body with `instances`). `output` receives the function's log
    lines (default: dropped)."""
    from deployer import local, routes

    folder = Path(model)
    body: bytes | None
    if data is None or isinstance(data, bytes):
        body = data
    else:
        body = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    route = path or routes.default_route(routes.model_name(folder), body)
    verb = (method or ("POST" if body is not None else "GET")).upper()
    with local.LocalEndpoint(folder, port=0, output=output or (lambda line: None)) as endpoint:
        response = endpoint.request(verb, route, body, {"Content-Type": content_type})
    return Answer(status=response.status, method=verb, path=route, headers=dict(response.headers), body=response.body)


def serve(
    model: PathLike,
    *,
    port: int = 8080,
    timeout_s: float = 30.0,
    memory_mb: int = 1024,
    concurrency: int | None = None,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve `model` on http://127.0.0.1:`port` through the local runtime until Ctrl-C, SIGTERM or
    `stop` is set (`python -m deployer serve`); `ready(url)` is called once it answers."""
    from deployer import local

    local.serve(Path(model), port=port, timeout_s=timeout_s, memory_mb=memory_mb, ready=ready, stop=stop,
                concurrency=concurrency)  # fmt: skip
