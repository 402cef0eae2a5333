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

from deployer.aws.errors import AwsError
from deployer.aws.sts import whoami
from deployer.config import DeployConfig, load_config
from deployer.image.blobs import ImageArtifact
from deployer.deploy.compat import adapt
from deployer.deploy.context import Builder, Progress, PushOptions, Services, registry_host
from deployer.deploy.errors import DeployError
from deployer.deploy.executor import ImageSteps, LambdaSteps, StackSteps, execute
from deployer.deploy.model_input import ModelInput, prepare_model
from deployer.deploy.plan import CAPABILITIES, CHANGE_SET_PREFIX, APICall, ImagePlan, StackPlan, plan_image, plan_stack
from deployer.deploy.smoke import SmokeResult, skipped
from deployer.deploy.state import Journal, StackKey, StackLock, state_dir
from deployer.template import generate, load_model_manifest, translate
from deployer.template.names import ALIAS

__all__ = ["PushResult", "PushPlan", "push", "plan_push", "change_set_record", "TOTAL_STEPS", "Smoke", "SmokeContext", "stack_tags", "translated_body", "TEMPLATE_BODY_LIMIT"]

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


@dataclass(frozen=True)
class PushPlan:
    """Everything a push would do, decided with describe calls only (plan.py's records).

    `push` executes the records with the real steps (executor.py); `plan` renders them, with a
    display executor that only reads the change set's difference (manage.preview). One pipeline.
    """

    manifest: Mapping[str, Any]
    config: DeployConfig
    folder: Path
    converted: bool
    artifact: ImageArtifact
    image: ImagePlan
    translation: dict[str, Any]
    left_out: list[dict[str, str]]
    stack: StackPlan
    deploy: APICall  # the change set: create, wait, execute, wait (or, for plan, create, read, delete)
    alias: tuple[APICall, ...]  # the alias back onto the stack's version when a rollback moved it

    @property
    def calls(self) -> tuple[APICall, ...]:
        return (*self.image.calls, *self.stack.calls, self.deploy, *self.alias)


def plan_push(
    options: PushOptions,
    services: Services,
    builder: Builder,
    *,
    account: str,
    progress: Progress,
    root: Path,
    environ: Mapping[str, str] | None = None,
    interrupted: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
    total: int = TOTAL_STEPS,
    model: ModelInput | None = None,
) -> PushPlan:
    """The local stages (model, build, template) and the planners' records; changes nothing in AWS.
    `model`: the model already prepared by the caller (push needs its name for the lock first)."""
    base_config = load_config(options.project, options.config_overrides(), environ=environ)
    progress.step(1, total, "model")
    if model is None:
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
    progress.info(f"{manifest['name']} {manifest['version']} from {model.folder}" + (" (converted)" if model.converted else ""))

    progress.step(2, total, "build")
    artifact = builder(folder, config, progress)
    progress.info(f"{len(artifact.layers)} layers, {sum(b.size for b in artifact.layers):,} bytes compressed ({artifact.source})")

    progress.step(3, total, "plan")
    repository = str(config.image.repository)
    image = plan_image(services.ecr, artifact, repository, registry_uri=registry_host(account, services.region),
                       tags={"onnx-lambda:model": str(manifest["name"])})  # fmt: skip
    translation, body, left_out = translated_body(manifest, config, image.image_uri, services)
    progress.info(f"translated with aws-sam-translator: {len(translation['Resources'])} resources, {len(body):,} bytes")
    resume = bool(interrupted and interrupted.get("phase") == "executing")
    stack = plan_stack(services.cfn, stack_name, resume_in_progress=resume)
    deploy = change_set_record(stack, body, image, manifest, artifact, clock)
    alias = _alias_records(services, stack_name) if stack.status is not None else ()
    return PushPlan(manifest, config, folder, model.converted, artifact, image, translation, left_out, stack, deploy, alias)


def change_set_record(stack: StackPlan, body: str, image: ImagePlan, manifest: Mapping[str, Any],
                      artifact: ImageArtifact, clock: Callable[[], float]) -> APICall:  # fmt: skip
    name = f"{CHANGE_SET_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.gmtime(clock()))}-{artifact.digest[7:15]}"
    params = {
        "stack": stack.stack, "name": name, "change_set_type": stack.change_set_type, "template_body": body,
        "parameters": {"ImageUri": image.image_uri}, "tags": stack_tags(manifest, artifact),
        "capabilities": CAPABILITIES,
        "description": f"onnx-lambda-deployer: {manifest['name']} {manifest['version']}, image {artifact.tag[:19]}",
    }  # fmt: skip
    verb = "create the stack" if stack.change_set_type == "CREATE" else "update the stack"
    return APICall("cloudformation", "deploy_change_set", params,
                   f"{verb} {stack.stack} through change set {name} (executed, then waited for)")  # fmt: skip


def _alias_records(services: Services, stack: str) -> tuple[APICall, ...]:
    """The alias back onto the version the stack names, when a rollback moved it off (an unchanged
    template would not move it: CloudFormation sees no change)."""
    alias = services.lam.get_alias(stack, ALIAS)
    named = services.cfn.published_version(stack)
    if alias is None or not named or (alias.function_version == named and not alias.weights):
        return ()
    if named in dict(alias.weights):
        return ()  # a deployment is shifting traffic to the stack's version: never cut it short
    return (APICall("lambda", "restore_alias", {"function": stack, "alias": ALIAS},
                    f"move alias {ALIAS} from version {alias.function_version} back to the stack's version "
                    f"(a rollback had moved it)"),)  # fmt: skip


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
    """Plan (plan_push), then execute the records (module doc). Raises DeployerError subclasses for
    everything a user can fix."""
    root = state_root or state_dir(options.project)
    result = PushResult(target=target, stack="", region=services.region, endpoint=services.endpoint.url,
                        image_source=image_source)  # fmt: skip
    identity = whoami(services.sts)
    result.account = identity.account
    # The stack's name is known before the lock: from the model's manifest (cheap; converted and cached).
    base = load_config(options.project, options.config_overrides(), environ=environ)
    model = prepare_model(options.model, root / "build", trust_pickle=options.trust_pickle, progress=progress.info)
    stack_name = str(base.for_model(load_model_manifest(model.folder)["name"]).stack_name)
    key = StackKey(stack_name, services.region, services.endpoint.url)
    with StackLock(root, key, clock=clock):
        journal = Journal(root, key, clock=clock)
        interrupted = journal.interrupted()
        if interrupted:
            note = f"an earlier push of {stack_name} was interrupted in phase {interrupted.get('phase')!r}: recovering"
            result.recovered.append(note)
            progress.warn(note)
        journal.write("build", target=target, stack=stack_name)
        try:
            planned = plan_push(options, services, builder, account=identity.account, progress=progress, root=root,
                                environ=environ, interrupted=interrupted, clock=clock, model=model)  # fmt: skip
            _execute(planned, services, result, journal, interrupted, smoke, progress, clock)
        except BaseException:
            phase = journal.read().get("phase")
            # A failure leaves "failed"; an interruption (Ctrl-C, kill) leaves the phase it was in.
            if not isinstance(sys.exc_info()[1], (KeyboardInterrupt, SystemExit)):
                journal.write("failed", failed_in=phase)
            raise
        journal.write("done", image_uri=result.image_uri, status=result.status)
    return result


def _execute(
    planned: PushPlan,
    services: Services,
    result: PushResult,
    journal: Journal,
    interrupted: Mapping[str, Any] | None,
    smoke: Smoke,
    progress: Progress,
    clock: Callable[[], float],
) -> None:
    manifest, config, artifact, image = planned.manifest, planned.config, planned.artifact, planned.image
    result.stack, result.model, result.model_version = planned.stack.stack, manifest["name"], manifest["version"]
    result.model_folder = str(planned.folder)
    result.steps["model"] = "converted" if planned.converted else "unchanged"
    result.image_digest, result.image_kind, result.image_source = artifact.digest, artifact.kind, artifact.source
    result.left_out = planned.left_out
    if artifact.kind == "files":
        result.notes.append(f"image kind 'files' (the model and code layers, no base layer): {artifact.source}")
    if planned.left_out:
        types = sorted({item["type"] for item in planned.left_out if item["reason"].startswith("not created")})
        progress.warn(
            f"{services.endpoint.describe()} cannot create {', '.join(types)}: {len(planned.left_out)} resources left "
            f"out of the stack there (the full translation was checked offline)"
        )

    progress.step(4, TOTAL_STEPS, "image")
    journal.write("image", image_uri=image.image_uri)
    if image.repository_exists:
        _warn_repository_settings(services, image.repository, artifact.tag, result, progress)
    steps = ImageSteps(services.ecr, artifact)
    execute(image.calls, {"ecr": steps}, lambda call, _: progress.info(call.why))
    result.image_uri = image.image_uri
    result.uploaded_bytes = steps.uploaded_layer_bytes
    result.uploaded_config_bytes = steps.uploaded_config_bytes
    result.uploaded_layers = [d for d in steps.uploaded if d != artifact.config.digest]
    result.layers = [{"digest": b.digest, "size": b.size, "role": b.role, "uploaded": b.digest in steps.uploaded}
                     for b in artifact.layers]  # fmt: skip
    result.steps["image"] = "pushed" if image.calls else "unchanged"
    progress.info(f"{image.image_uri}: " + (f"{result.uploaded_bytes:,} layer bytes uploaded" if image.calls
                                            else "already in the registry, nothing uploaded"))  # fmt: skip

    progress.step(5, TOTAL_STEPS, "stack")
    for note in planned.stack.recovering:
        result.recovered.append(note)
        progress.warn(note)
    stack_steps = StackSteps(services.cfn, on_event=progress.event, journal=journal, say=progress.info)
    targets = {"cloudformation": stack_steps, "lambda": LambdaSteps(services)}
    report = lambda call, _: progress.info(call.why)  # noqa: E731
    execute(planned.stack.calls, targets, report)
    deploy = planned.deploy
    if any(call.method == "wait_stack" for call in planned.stack.calls):
        again = plan_stack(services.cfn, planned.stack.stack)  # the wait is over: decide again from the new state
        execute(again.calls, targets, report)
        deploy = change_set_record(again, deploy.params["template_body"], image, manifest, artifact, clock)
    (outcome,) = execute([deploy], targets, report)
    result.change_set = outcome.changes
    result.steps["stack"] = outcome.word
    result.changed = bool(image.calls) or result.change_set is not None
    alias_calls = planned.alias or _alias_records(services, planned.stack.stack)  # a rollback during this push, too
    if alias_calls:
        execute(alias_calls, targets, report)
        result.steps["alias"] = "restored"

    progress.step(6, TOTAL_STEPS, "outputs")
    stack = outcome.stack
    result.status = stack.status
    result.outputs = dict(stack.outputs) or derived_outputs(services, stack.name, config)
    if result.outputs and not stack.outputs:
        result.notes.append(
            f"{services.endpoint.describe()} reported no stack outputs; ApiUrl and FunctionArn were derived from the "
            f"stack's resources"
        )
    result.api_url = result.outputs.get("ApiUrl", "")
    result.url = result.api_url
    alias = services.lam.get_alias(stack.name, ALIAS)
    if alias is not None:
        result.alias, result.function_version = alias.name, alias.function_version
    else:
        versions = services.lam.versions(stack.name)
        result.function_version = versions[-1] if versions else None
        if not result.left_out:
            result.notes.append(f"the function has no '{ALIAS}' alias")
    progress.info(f"{stack.status}; version {result.function_version or '-'}" + (f" behind alias {result.alias}" if result.alias else ""))

    progress.step(7, TOTAL_STEPS, "smoke test")
    journal.write("smoke")
    context = SmokeContext(manifest, config, result.outputs, services, planned.folder, artifact.docker_tag)
    result.smoke_test = smoke(context)
    progress.info(f"{result.smoke_test.status}: {result.smoke_test.reason}")


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
