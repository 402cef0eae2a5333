"""`push`: a model → an image in ECR → a CloudFormation stack → a smoke-tested endpoint.

    0 account    whoami: credentials, region and endpoint proven before anything else happens
    1 model      a converted folder as is; a model file converted (cached by content hash)
    2 build      the image's blobs (sources.py), cached by content
    3 image      plan_image → execute: repository, only the blobs ECR lacks, the manifest
    4 template   generate + translate (aws-sam-translator, offline) with the pushed ImageUri
    5 stack      plan_stack → cleanups → change set → empty? "no changes" : execute, wait, events
    6 outputs    the stack's outputs, the alias's version
    7 smoke      the manifest's sample through the endpoint (injected: see smoke.py)
    8 endpoint   the URL and an example request

Every step is skipped when its inputs did not change (cached conversion and blobs, blobs the
registry has, an image tag that exists, an empty change set). The lock and journal (state.py)
are held from step 1 to the end. A failed change rolls back through CloudFormation and raises
`DeployFailed` with the failing events; the previous version keeps serving.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.aws.cloudformation import ChangeSet, Stack, StackEvent
from deployer.aws.errors import AwsError
from deployer.aws.sts import whoami
from deployer.config import DeployConfig, load_config
from deployer.deploy.artifact import ImageArtifact
from deployer.deploy.compat import adapt
from deployer.deploy.context import Builder, Progress, PushOptions, Services, registry_host
from deployer.deploy.errors import DeployError, DeployFailed
from deployer.deploy.executor import ImageSteps, StackSteps, execute
from deployer.deploy.model_input import prepare_model
from deployer.deploy.plan import CAPABILITIES, CHANGE_SET_PREFIX, APICall, ImagePlan, plan_image, plan_stack
from deployer.deploy.smoke import SmokeResult, skipped
from deployer.deploy.state import Journal, StackKey, StackLock, state_dir
from deployer.template import generate, load_model_manifest, translate
from deployer.template.names import ALIAS

__all__ = ["PushResult", "push", "TOTAL_STEPS", "Smoke", "SmokeContext", "stack_tags", "translated_body", "TEMPLATE_BODY_LIMIT"]

TOTAL_STEPS = 8
TEMPLATE_BODY_LIMIT = 51_200  # CloudFormation's TemplateBody limit, in bytes
SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})



@dataclass(frozen=True)
class SmokeContext:
    """What a smoke test may need: the deployed model, its config, the stack's outputs, the services."""

    manifest: Mapping[str, Any]
    config: DeployConfig
    outputs: Mapping[str, str]
    services: Services
    model_folder: Path
    docker_image: str | None = None  # the pushed image as a local Docker tag, when it came from Docker


Smoke = Callable[[SmokeContext], SmokeResult]


@dataclass
class PushResult:
    target: str
    stack: str
    region: str
    endpoint: str | None
    account: str = ""
    model: str = ""
    model_version: str = ""
    model_folder: str = ""
    status: str = ""
    changed: bool = False
    image_uri: str = ""
    image_digest: str = ""
    image_source: str = ""
    image_kind: str = ""
    uploaded_bytes: int = 0
    uploaded_config_bytes: int = 0
    uploaded_layers: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    api_url: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    function_version: str | None = None
    alias: str | None = None
    change_set: dict[str, list[str]] | None = None
    smoke_test: SmokeResult = field(default_factory=lambda: skipped("not run"))
    left_out: list[dict[str, str]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "stack": self.stack,
            "status": self.status,
            "changed": self.changed,
            "image_uri": self.image_uri,
            "image_digest": self.image_digest,
            "image_source": self.image_source,
            "image_kind": self.image_kind,
            "uploaded_bytes": self.uploaded_bytes,
            "uploaded_config_bytes": self.uploaded_config_bytes,
            "uploaded_layers": self.uploaded_layers,
            "layers": self.layers,
            "url": self.url,
            "api_url": self.api_url,
            "smoke_test": self.smoke_test.summary(),
            "function_version": self.function_version,
            "alias": self.alias,
            "change_set": self.change_set,
            "region": self.region,
            "endpoint": self.endpoint,
            "account": self.account,
            "model": self.model,
            "model_version": self.model_version,
            "model_folder": self.model_folder,
            "outputs": self.outputs,
            "left_out": self.left_out,
            "recovered": self.recovered,
            "steps": self.steps,
            "notes": self.notes,
        }


def stack_tags(manifest: Mapping[str, Any], artifact: ImageArtifact) -> dict[str, str]:
    return {
        "onnx-lambda:model": str(manifest["name"]),
        "onnx-lambda:model-version": str(manifest["version"]),
        "onnx-lambda:image": artifact.tag[:256],
    }


def translated_body(
    manifest: Mapping[str, Any], config: DeployConfig, image_uri: str, services: Services
) -> tuple[dict[str, Any], str, list[dict[str, str]]]:
    """The translation deployed (minus what a bare moto endpoint cannot create), its JSON text, what was left out."""
    translation = translate(generate(manifest, config), region=services.region, parameters={"ImageUri": image_uri})
    left_out: list[dict[str, str]] = []
    if services.endpoint.unsupported or services.endpoint.failing:
        translation, left_out = adapt(translation, services.endpoint.unsupported, services.endpoint.failing)
    body = json.dumps(translation, separators=(",", ":"))
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        raise DeployError(
            f"the translated template is {len(body.encode()):,} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT:,}-byte "
            f"TemplateBody limit; fewer routes or a shorter description would bring it under"
        )
    return translation, body, left_out


def push(
    options: PushOptions,
    services: Services,
    builder: Builder,
    *,
    target: str,
    smoke: Smoke,
    progress: Progress,
    image_source: str = "",
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    state_root: Path | None = None,
) -> PushResult:
    """Run the push (module doc). Raises DeployerError subclasses for everything a user can fix."""
    root = state_root or state_dir(options.project)
    base_config = load_config(options.project, options.config_overrides(), environ=environ)
    result = PushResult(target=target, stack="", region=services.region, endpoint=services.endpoint.url,
                        image_source=image_source)  # fmt: skip

    identity = whoami(services.sts)
    result.account = identity.account

    progress.step(1, TOTAL_STEPS, "model")
    model = prepare_model(options.model, root / "build", trust_pickle=options.trust_pickle, progress=progress.info)
    manifest = load_model_manifest(model.folder)
    folder = model.folder
    if options.golden is not None:
        from deployer.deploy.golden import read_golden, with_golden

        golden = read_golden(options.golden, manifest)
        folder = with_golden(model.folder, golden, root / "build")
        progress.info(f"golden set: {len(next(iter(golden['inputs'].values())))} row(s) from {options.golden}, "
                      f"compared with {'the live version' if golden['compare'] == 'live' else 'expected outputs'} "
                      "before any traffic moves")  # fmt: skip
    config = base_config.for_model(manifest["name"])
    stack_name = str(config.stack_name)
    result.stack, result.model, result.model_version = stack_name, manifest["name"], manifest["version"]
    result.model_folder = str(folder)
    result.steps["model"] = "converted" if model.converted else "unchanged"
    progress.info(f"{manifest['name']} {manifest['version']} from {model.folder}" + (" (converted)" if model.converted else ""))

    key = StackKey(stack_name, services.region, services.endpoint.url)
    with StackLock(root, key, clock=clock):
        journal = Journal(root, key, clock=clock)
        interrupted = journal.interrupted()
        if interrupted:
            note = f"an earlier push of {stack_name} was interrupted in phase {interrupted.get('phase')!r}: recovering"
            result.recovered.append(note)
            progress.warn(note)
        journal.write("build", target=target, stack=stack_name, model_version=manifest["version"])
        try:
            _run(options, services, builder, manifest, config, result, journal, interrupted, smoke, progress, clock)
        except BaseException:
            phase = journal.read().get("phase")
            # A failure leaves "failed"; an interruption (Ctrl-C, kill) leaves the phase it was in.
            if not isinstance(sys.exc_info()[1], (KeyboardInterrupt, SystemExit)):
                journal.write("failed", failed_in=phase)
            raise
        journal.write("done", image_uri=result.image_uri, status=result.status)
    return result


def _run(
    options: PushOptions,
    services: Services,
    builder: Builder,
    manifest: Mapping[str, Any],
    config: DeployConfig,
    result: PushResult,
    journal: Journal,
    interrupted: Mapping[str, Any] | None,
    smoke: Smoke,
    progress: Progress,
    clock: Callable[[], float],
) -> None:
    stack_name = result.stack
    progress.step(2, TOTAL_STEPS, "build")
    artifact = builder(Path(result.model_folder), config, progress)
    result.image_digest, result.image_kind, result.image_source = artifact.digest, artifact.kind, artifact.source
    progress.info(f"{len(artifact.layers)} layers, {sum(b.size for b in artifact.layers):,} bytes compressed ({artifact.source})")
    if artifact.kind == "files":
        result.notes.append(f"image kind 'files' (the model and code layers, no base layer): {artifact.source}")

    progress.step(3, TOTAL_STEPS, "image")
    repository = str(config.image.repository)
    journal.write("image")
    plan = plan_image(services.ecr, artifact, repository, registry_uri=registry_host(result.account, services.region),
                      tags={"onnx-lambda:model": str(manifest["name"])})  # fmt: skip
    if plan.repository_exists:
        _warn_repository_settings(services, repository, artifact.tag, result, progress)
    steps = ImageSteps(services.ecr, artifact)
    execute(plan.calls, {"ecr": steps}, lambda call, _: progress.info(call.why))
    result.image_uri = plan.image_uri
    result.uploaded_bytes = steps.uploaded_layer_bytes
    result.uploaded_config_bytes = steps.uploaded_config_bytes
    result.uploaded_layers = [d for d in steps.uploaded if d != artifact.config.digest]
    result.layers = [{"digest": b.digest, "size": b.size, "role": b.role, "uploaded": b.digest in steps.uploaded}
                     for b in artifact.layers]  # fmt: skip
    result.steps["image"] = "pushed" if plan.calls else "unchanged"
    if not plan.calls:
        progress.info(f"{plan.image_uri}: already in the registry, nothing uploaded")
    else:
        progress.info(f"{plan.image_uri}: {result.uploaded_bytes:,} layer bytes uploaded")

    progress.step(4, TOTAL_STEPS, "template")
    journal.write("template", image_uri=plan.image_uri)
    translation, body, left_out = translated_body(manifest, config, plan.image_uri, services)
    result.left_out = left_out
    progress.info(f"translated with aws-sam-translator: {len(translation['Resources'])} resources, {len(body):,} bytes")
    if left_out:
        types = sorted({item["type"] for item in left_out if item["reason"].startswith("not created")})
        progress.warn(
            f"{services.endpoint.describe()} cannot create {', '.join(types)}: {len(left_out)} resources left out of "
            f"the stack there (the full translation was checked offline)"
        )

    progress.step(5, TOTAL_STEPS, "stack")
    stack = _deploy_stack(services, stack_name, body, plan, manifest, artifact, result, journal, interrupted, progress, clock)
    result.changed = bool(plan.calls) or result.change_set is not None

    progress.step(6, TOTAL_STEPS, "outputs")
    result.status = stack.status
    result.outputs = dict(stack.outputs) or derived_outputs(services, stack.name, config)
    if result.outputs and not stack.outputs:
        result.notes.append(
            f"{services.endpoint.describe()} reported no stack outputs; ApiUrl and FunctionArn were derived from the "
            f"stack's resources"
        )
    result.api_url = result.outputs.get("ApiUrl", "")
    result.url = result.api_url
    alias = services.lam.get_alias(stack_name, ALIAS)
    named = _stack_version(services, stack_name)
    if alias is not None and named and (alias.function_version != named or alias.weights):
        # A rollback moved the alias off the version this stack names; an unchanged template does not
        # move it back (CloudFormation sees no change), so the push does, as the user asked for this model.
        alias = services.lam.point_alias(stack_name, ALIAS, named, f"restored to the stack's version {named} by push "
                                         f"(it was at {alias.function_version})")  # fmt: skip
        result.steps["alias"] = "restored"
        progress.info(f"alias {ALIAS} moved back to version {named}, the version this stack deploys (a rollback had "
                      "moved it)")  # fmt: skip
    if alias is not None:
        result.alias, result.function_version = alias.name, alias.function_version
    else:
        versions = services.lam.versions(stack_name)
        result.function_version = versions[-1] if versions else None
        if not result.left_out:
            result.notes.append(f"the function has no '{ALIAS}' alias")
    progress.info(f"{stack.status}; version {result.function_version or '-'}" + (f" behind alias {result.alias}" if result.alias else ""))

    progress.step(7, TOTAL_STEPS, "smoke test")
    journal.write("smoke")
    context = SmokeContext(manifest, config, result.outputs, services, Path(result.model_folder), artifact.docker_tag)
    result.smoke_test = smoke(context)
    progress.info(f"{result.smoke_test.status}: {result.smoke_test.reason}")


def _deploy_stack(
    services: Services,
    stack_name: str,
    body: str,
    image: ImagePlan,
    manifest: Mapping[str, Any],
    artifact: ImageArtifact,
    result: PushResult,
    journal: Journal,
    interrupted: Mapping[str, Any] | None,
    progress: Progress,
    clock: Callable[[], float],
) -> Stack:
    cfn = services.cfn
    resume = bool(interrupted and interrupted.get("phase") == "executing")
    stack_plan = plan_stack(cfn, stack_name, resume_in_progress=resume)
    for note in stack_plan.recovering:
        result.recovered.append(note)
        progress.warn(note)
    steps = StackSteps(cfn, on_event=progress.event)
    execute(stack_plan.calls, {"cloudformation": steps}, lambda call, _: progress.info(call.why))
    if any(call.method == "wait_stack" for call in stack_plan.calls):
        stack_plan = plan_stack(cfn, stack_name)  # the wait is over: decide again from the new state
        execute(stack_plan.calls, {"cloudformation": steps}, lambda call, _: progress.info(call.why))

    name = f"{CHANGE_SET_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime(clock()))}-{artifact.digest[7:15]}"
    journal.write("change-set", change_set=name)
    change_set_id = cfn.create_change_set(
        stack=stack_name, name=name, change_set_type=stack_plan.change_set_type, template_body=body,  # type: ignore[arg-type]
        parameters={"ImageUri": image.image_uri}, tags=stack_tags(manifest, artifact), capabilities=CAPABILITIES,
        description=f"onnx-lambda-deployer: {manifest['name']} {manifest['version']}, image {artifact.tag[:19]}",
    )  # fmt: skip
    change_set = cfn.wait_change_set(change_set_id) if change_set_id else None
    if change_set is None or change_set.empty:
        if change_set_id:
            cfn.delete_change_set(change_set_id)
        progress.info("no changes: the stack already runs this template and image")
        result.steps["stack"] = "unchanged"
        stack = cfn.describe_stack(stack_name)
        if stack is None:
            raise DeployError(f"stack {stack_name} vanished after an empty change set")
        return stack
    if not change_set.ready:
        cfn.delete_change_set(change_set.change_set_id)
        raise DeployFailed(f"CloudFormation refused the change set for {stack_name}: {change_set.status}: {change_set.reason}")
    result.change_set = change_summary(change_set)
    counts = ", ".join(f"{len(v)} {k}" for k, v in result.change_set.items())
    progress.info(f"change set {name}: {counts}")

    seen = {e.event_id for e in cfn.events(stack_name)}
    journal.write("executing", change_set=name, change_set_id=change_set.change_set_id)
    try:
        cfn.execute_change_set(change_set.change_set_id)
    except AwsError as exc:
        stack = cfn.describe_stack(stack_name)
        state = stack.status if stack else "gone"
        raise DeployFailed(
            f"executing the change set on {stack_name} failed ({exc}); the stack is {state}: see `python -m deployer "
            f"status`; the previous version keeps serving"
        ) from exc
    stack, events = cfn.wait_stack(stack_name, seen=seen, on_event=progress.event)
    if stack is None:
        raise DeployFailed(f"stack {stack_name} disappeared during the deployment")
    if stack.status not in SUCCESS:
        raise DeployFailed(_failure_message(stack, events, stack_plan.change_set_type))
    result.steps["stack"] = "created" if stack_plan.change_set_type == "CREATE" else "updated"
    return stack


def _warn_repository_settings(services: Services, repository: str, tag: str, result: PushResult,
                              progress: Progress) -> None:  # fmt: skip
    """An existing repository with mutable tags or no scan on push is used as it is, but said, with the fix.

    Changing a repository's settings silently is not ours to do (others may push there too).
    """
    try:
        fixes = services.ecr.repository_fixes(repository, tag)
    except AwsError as exc:  # a role that may push but not describe: nothing to say
        progress.info(f"repository settings of {repository} not checked: {exc}")
        return
    for fix in fixes:
        line = f"{fix.warning}; to fix: {fix.command}" if fix.command else fix.warning
        progress.warn(line)
        result.notes.append(line)


def _stack_version(services: Services, stack: str) -> str | None:
    """The Lambda version the stack's template publishes (its AWS::Lambda::Version resource)."""
    for kind, physical in services.cfn.resources(stack).values():
        if kind == "AWS::Lambda::Version" and physical:
            return physical.rsplit(":", 1)[-1]
    return None


def derived_outputs(services: Services, stack: str, config: DeployConfig) -> dict[str, str]:
    """ApiUrl and FunctionArn from the stack's resources, for endpoints that report no outputs (moto)."""
    from deployer.template.names import API, FUNCTION

    resources = services.cfn.resources(stack)
    out: dict[str, str] = {}
    if API in resources and resources[API][1]:
        out["ApiUrl"] = f"https://{resources[API][1]}.execute-api.{services.region}.amazonaws.com/{config.api.stage}/"
    function = services.lam.get_function(stack) if FUNCTION in resources else None
    if function is not None:
        out["FunctionArn"] = function.arn
        out["ImageUri"] = function.image_uri
    return out


def change_summary(change_set: ChangeSet) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"added": [], "modified": [], "removed": []}
    names = {"Add": "added", "Modify": "modified", "Remove": "removed"}
    for change in change_set.changes:
        out.setdefault(names.get(change.action, change.action.lower()), []).append(f"{change.logical_id} ({change.resource_type})")
    return out


def _failure_message(stack: Stack, events: list[StackEvent], kind: str) -> str:
    failing = [e for e in events if e.failed and e.reason and "cancelled" not in e.reason.lower()]
    failing = failing or [e for e in events if e.failed]
    cause = "; ".join(str(e) for e in failing[:3]) or stack.reason or "no failing event was reported"
    if stack.status == "UPDATE_ROLLBACK_FAILED":
        return (
            f"the update of {stack.name} failed and its rollback failed too (UPDATE_ROLLBACK_FAILED): {cause}. Fix the "
            f"cause, run `aws cloudformation continue-update-rollback --stack-name {stack.name}`, then push again"
        )
    if kind == "CREATE":
        return (
            f"creating {stack.name} failed and CloudFormation rolled it back ({stack.status}): {cause}. Fix the cause "
            f"and push again (the empty stack is deleted and created anew)"
        )
    return (
        f"updating {stack.name} failed and CloudFormation rolled it back ({stack.status}): {cause}. The previous "
        f"version keeps serving"
    )


def describe_calls(calls: tuple[APICall, ...]) -> list[str]:
    return [call.why for call in calls]
