"""`plan`, `status`, `rollback`, `delete`: the verbs around a push.

    preview(...)   what push would change: push's own plan (plan_push) rendered - the image
                   (digest, blobs to upload), the stack's resources added / modified / removed
                   (read from the change set record run by a display executor that deletes it
                   again), the alias record. Nothing is uploaded, executed or left behind.
    status(...)    stack state, alias → version, image, URL
    rollback(...)  the alias back to the previous published version (or a given one)
    delete(...)    the stack (waiting, with events); the image repository only when asked
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.aws.cloudformation import is_in_progress
from deployer.aws.ecr import split_image_uri
from deployer.aws.errors import AwsError
from deployer.aws.sts import whoami
from deployer.config import load_config
from deployer.deploy.context import Builder, Progress, PushOptions, Services
from deployer.deploy.errors import DeployError, DeployFailed
from deployer.deploy.executor import PreviewSteps, execute
from deployer.deploy.push import plan_push
from deployer.deploy.state import state_dir
from deployer.template import load_model_manifest
from deployer.template.names import ALIAS

__all__ = ["PlanResult", "preview", "status", "rollback", "delete"]


@dataclass
class PlanResult:
    stack: str
    region: str
    endpoint: str | None
    exists: bool = False
    status: str | None = None
    model: str = ""
    model_version: str = ""
    image_digest: str = ""
    image_uri: str = ""
    image_exists: bool = False
    repository_exists: bool = False
    upload_bytes: int = 0
    uploads: list[str] = field(default_factory=list)
    changes: dict[str, list[str]] | None = None
    left_out: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)  # push's records, in order

    @property
    def changed(self) -> bool:
        stack_changes = bool(self.changes and any(self.changes.values()))
        return stack_changes or bool(self.uploads) or not self.image_exists

    def summary(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "exists": self.exists,
            "status": self.status,
            "region": self.region,
            "endpoint": self.endpoint,
            "model": self.model,
            "model_version": self.model_version,
            "image_digest": self.image_digest,
            "image_uri": self.image_uri,
            "image_exists": self.image_exists,
            "repository_exists": self.repository_exists,
            "upload_bytes": self.upload_bytes,
            "uploads": self.uploads,
            "changes": self.changes,
            "changed": self.changed,
            "left_out": self.left_out,
            "notes": self.notes,
            "calls": self.calls,
        }


def preview(
    options: PushOptions,
    services: Services,
    builder: Builder,
    *,
    progress: Progress,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> PlanResult:
    """What `push` would change, changing nothing: push's own plan (plan_push), rendered.

    The records are push's; only the executor differs: the change set is created to read the
    difference and deleted (PreviewSteps), every other record is listed, none is executed.
    """
    identity = whoami(services.sts)
    planned = plan_push(options, services, builder, account=identity.account, progress=progress,
                        root=state_dir(options.project), environ=environ, clock=clock, total=3)  # fmt: skip
    manifest, image, stack = planned.manifest, planned.image, planned.stack
    result = PlanResult(stack=stack.stack, region=services.region, endpoint=services.endpoint.url,
                        model=manifest["name"], model_version=manifest["version"])  # fmt: skip
    result.image_digest, result.image_uri = planned.artifact.digest, image.image_uri
    result.image_exists, result.repository_exists = image.image_exists, image.repository_exists
    result.upload_bytes = image.upload_bytes
    result.uploads = [call.why for call in image.calls]
    result.left_out = planned.left_out
    result.calls = [{"service": c.service, "method": c.method, "why": c.why} for c in planned.calls]
    for line in result.uploads or ["the image is in the registry already: nothing to upload"]:
        progress.info(line)
    result.exists = stack.status is not None and stack.change_set_type == "UPDATE"
    result.status = stack.status
    result.notes += list(stack.recovering)
    if not result.exists:
        result.changes = {"added": [f"{k} ({v['Type']})" for k, v in planned.translation["Resources"].items()],
                          "modified": [], "removed": []}  # fmt: skip
        result.notes.append(f"stack {stack.stack} does not exist yet: push creates every resource")
    elif is_in_progress(stack.status or ""):
        result.notes.append(f"stack {stack.stack} is {stack.status}: push would wait for it first")
    else:
        (changes,) = execute([planned.deploy], {"cloudformation": PreviewSteps(services.cfn)})
        if isinstance(changes, str):
            result.notes.append(changes)
        else:
            result.changes = changes
    result.notes += [call.why for call in planned.alias]
    if result.changes is not None:
        counts = ", ".join(f"{len(v)} {k}" for k, v in result.changes.items())
        progress.info(f"stack {stack.stack}: {counts}" if any(result.changes.values()) else f"stack {stack.stack}: no changes")
    return result


def stack_name_for(options: PushOptions, environ: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """The stack a verb acts on: --stack-name, else the model's (PATH), else the project config's name."""
    base = load_config(options.project, options.config_overrides(), environ=environ)
    if base.stack_name:
        return base.stack_name, base
    if options.model and Path(options.model).exists():
        folder = Path(options.model)
        if folder.is_dir():
            manifest = load_model_manifest(folder)
            config = base.for_model(manifest["name"])
            return str(config.stack_name), config
    if base.name:
        config = base.for_model(base.name)
        return str(config.stack_name), config
    raise DeployError("which stack? pass --stack-name NAME, or the model folder (PATH) the stack was pushed from")


def status(services: Services, stack_name: str, *, served: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The truth from the live function and alias: alias → version(s) and weights → image → model.

    Never from stack tags (they say what the last push meant, not what runs after a rollback or
    during a traffic shift). `served` is the local cloud's view of this stack (its URL and, per
    version, the image digest and the model read from the image itself).
    """
    stack = services.cfn.describe_stack(stack_name)
    if stack is None:
        raise DeployError(f"no stack {stack_name} in {services.region}{_at(services)}; push creates it")
    function = services.lam.get_function(stack_name)
    alias = services.lam.get_alias(stack_name, ALIAS)
    versions = services.lam.versions(stack_name) if function else []
    served_versions = {str(v.get("version")): v for v in (served or {}).get("versions", [])}
    routing: list[dict[str, Any]] = []
    if alias is not None:
        shares = [(alias.function_version, 1.0 - sum(w for _, w in alias.weights)), *alias.weights]
        for version, weight in shares:
            entry: dict[str, Any] = {"version": version, "weight": round(weight, 4),
                                     "image_uri": services.lam.version_image(stack_name, version)}
            seen = served_versions.get(version, {})
            for key in ("image_digest", "image_kind", "model", "model_version", "parity_passed"):
                if key in seen:
                    entry[key] = seen[key]
            routing.append(entry)
    live = routing[0] if routing else {}
    return {
        "stack": stack.name,
        "status": stack.status,
        "reason": stack.reason,
        "updated": str(stack.updated or ""),
        "region": services.region,
        "endpoint": services.endpoint.url,
        "function": function.name if function else None,
        "function_state": function.state if function else None,
        "alias": alias.name if alias else None,
        "function_version": alias.function_version if alias else (versions[-1] if versions else None),
        "routing": routing,
        "shifting": bool(alias and alias.weights),
        "image_uri": live.get("image_uri") or (function.image_uri if function else ""),
        "image_digest": live.get("image_digest", ""),
        "model": live.get("model", ""),
        "model_version": live.get("model_version", ""),
        "versions": versions,
        "url": (served or {}).get("url") or stack.outputs.get("ApiUrl", ""),
        "outputs": dict(stack.outputs),
    }


def rollback(services: Services, stack_name: str, *, to_version: str | None = None) -> dict[str, Any]:
    alias = services.lam.get_alias(stack_name, ALIAS)
    if alias is None:
        raise DeployError(
            f"function {stack_name} has no '{ALIAS}' alias in {services.region}{_at(services)}: nothing to roll back "
            f"(an endpoint without Lambda aliases, or a stack that was never pushed)"
        )
    versions = services.lam.versions(stack_name)
    current = alias.function_version
    if to_version is not None:
        if to_version not in versions:
            raise DeployError(f"version {to_version} of {stack_name} does not exist; published: {', '.join(versions) or 'none'}")
        target = to_version
    else:
        older = [v for v in versions if v.isdigit() and current.isdigit() and int(v) < int(current)]
        if not older:
            raise DeployError(f"alias {ALIAS} of {stack_name} is at version {current}, the oldest published: nothing older to go back to")
        target = older[-1]
    if target == current:
        return {"stack": stack_name, "alias": ALIAS, "from": current, "to": target, "changed": False,
                "image_uri": services.lam.version_image(stack_name, target)}  # fmt: skip
    services.lam.point_alias(stack_name, ALIAS, target, f"rolled back from {current} by onnx-lambda-deployer")
    return {
        "stack": stack_name,
        "alias": ALIAS,
        "from": current,
        "to": target,
        "changed": True,
        "image_uri": services.lam.version_image(stack_name, target),
        "note": "the stack still names the newer version; the next push that changes the function moves the alias again",
    }


def delete(services: Services, stack_name: str, *, images: bool, progress: Progress) -> dict[str, Any]:
    stack = services.cfn.describe_stack(stack_name)
    if stack is None:
        raise DeployError(f"no stack {stack_name} in {services.region}{_at(services)}: nothing to delete")
    if is_in_progress(stack.status):
        raise DeployError(f"stack {stack_name} is {stack.status}: wait for it to finish, then delete")
    image_uri = stack.outputs.get("ImageUri", "")
    function = services.lam.get_function(stack_name)
    if function is not None and function.image_uri:
        image_uri = function.image_uri
    seen = {e.event_id for e in services.cfn.events(stack.stack_id)}
    services.cfn.delete_stack(stack_name)
    final, events = services.cfn.wait_stack(stack.stack_id, seen=seen, on_event=progress.event, gone_ok=True)
    if final is not None and final.status != "DELETE_COMPLETE":
        failing = "; ".join(str(e) for e in events if e.failed) or final.reason
        raise DeployFailed(f"deleting {stack_name} failed ({final.status}): {failing}")
    out: dict[str, Any] = {"stack": stack_name, "deleted": True, "images_deleted": False, "repository": None}
    repository = _repository_of(image_uri)
    if repository:
        out["repository"] = repository
        if images:
            try:
                services.ecr.delete_repository(repository, force=True)
                out["images_deleted"] = True
            except AwsError as exc:
                if exc.code != "RepositoryNotFoundException":
                    raise
    return out


def _repository_of(image_uri: str) -> str | None:
    if ".dkr.ecr." not in image_uri or "/" not in image_uri:
        return None
    return split_image_uri(image_uri)[0] or None


def _at(services: Services) -> str:
    return f" at {services.endpoint.url}" if services.endpoint.url else ""
