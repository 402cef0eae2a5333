"""The executor: runs `APICall` records against step objects, one by one, reporting each.

`execute(calls, targets, report)` calls `targets[call.service].<call.method>(**call.params)`.
The step objects below adapt the typed AWS wrappers to the records' plain parameters (a blob
is named by its digest in a record; `ImageSteps` finds its bytes). The `plan` verb runs the same
records through a different mapping: `PreviewSteps` reads a change set's difference and deletes
it instead of executing it, and nothing else is executed (manage.preview).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dataclasses import dataclass

from deployer.aws.cloudformation import ChangeSet, CloudFormation, Stack, StackEvent
from deployer.aws.ecr import Ecr
from deployer.aws.errors import AwsError
from deployer.image.blobs import MANIFEST_MEDIA_TYPE, ImageArtifact
from deployer.deploy.errors import DeployError, DeployFailed
from deployer.deploy.plan import APICall

__all__ = ["execute", "ImageSteps", "StackSteps", "PreviewSteps", "LambdaSteps", "StackOutcome", "change_summary",
           "SUCCESS"]


def execute(
    calls: Sequence[APICall],
    targets: Mapping[str, Any],
    report: Callable[[APICall, Any], None] | None = None,
) -> list[Any]:
    results = []
    for record in calls:
        result = getattr(targets[record.service], record.method)(**record.params)
        results.append(result)
        if report is not None:
            report(record, result)
    return results


class ImageSteps:
    """ECR records → Ecr calls, with the artifact's blobs at hand. Counts what it sends."""

    def __init__(self, ecr: Ecr, artifact: ImageArtifact, *, on_bytes: Callable[[int], None] | None = None) -> None:
        self._ecr = ecr
        self._artifact = artifact
        self._blobs = {b.digest: b for b in artifact.blobs}
        self._on_bytes = on_bytes
        self.uploaded_layer_bytes = 0
        self.uploaded_config_bytes = 0
        self.uploaded: list[str] = []

    def create_repository(self, name: str, tags: Mapping[str, str]) -> Any:
        return self._ecr.create_repository(name, dict(tags))

    def upload_blob(self, repository: str, digest: str, size: int) -> int:
        blob = self._blobs[digest]
        sent = self._ecr.upload_blob(repository, digest, size, blob.open, progress=self._on_bytes)  # type: ignore[arg-type]
        if blob.role == "config":
            self.uploaded_config_bytes += sent
        else:
            self.uploaded_layer_bytes += sent
        self.uploaded.append(digest)
        return sent

    def put_image(self, repository: str, tag: str) -> str | None:
        return self._ecr.put_image(repository, tag, self._artifact.manifest(), MANIFEST_MEDIA_TYPE)


class StackSteps:
    """CloudFormation records → CloudFormation calls: preparation (cleanups, waits) and the change set."""

    def __init__(self, cfn: CloudFormation, *, on_event: Callable[[Any], None] | None = None, journal: Any = None,
                 say: Callable[[str], None] = lambda line: None) -> None:  # fmt: skip
        self._cfn = cfn
        self._on_event = on_event
        self._journal = journal
        self._say = say

    def delete_change_set(self, change_set_id: str) -> None:
        self._cfn.delete_change_set(change_set_id)

    def delete_stack(self, stack: str) -> None:
        self._cfn.delete_stack(stack)
        self._cfn.wait_stack(stack, gone_ok=True, on_event=None)

    def wait_stack(self, stack: str) -> Any:
        found, _ = self._cfn.wait_stack(stack, on_event=self._on_event, gone_ok=True)
        return found

    def deploy_change_set(self, stack: str, name: str, change_set_type: str, template_body: str,
                          parameters: Mapping[str, str], tags: Mapping[str, str], capabilities: Sequence[str],
                          description: str) -> StackOutcome:  # fmt: skip
        """Create the change set, wait for it; empty: delete it, "unchanged"; else execute and wait.
        A failed execution raises DeployFailed with the failing events (CloudFormation rolled back)."""
        cfn = self._cfn
        if self._journal is not None:
            self._journal.write("change-set", change_set=name)
        change_set_id = cfn.create_change_set(
            stack=stack, name=name, change_set_type=change_set_type, template_body=template_body,  # type: ignore[arg-type]
            parameters=dict(parameters), tags=dict(tags), capabilities=tuple(capabilities), description=description,
        )  # fmt: skip
        change_set = cfn.wait_change_set(change_set_id) if change_set_id else None
        if change_set is None or change_set.empty:
            if change_set_id:
                cfn.delete_change_set(change_set_id)
            self._say("no changes: the stack already runs this template and image")
            found = cfn.describe_stack(stack)
            if found is None:
                raise DeployError(f"stack {stack} vanished after an empty change set")
            return StackOutcome(found, None, "unchanged")
        if not change_set.ready:
            cfn.delete_change_set(change_set.change_set_id)
            raise DeployFailed(f"CloudFormation refused the change set for {stack}: {change_set.status}: {change_set.reason}")
        changes = change_summary(change_set)
        self._say(f"change set {name}: " + ", ".join(f"{len(v)} {k}" for k, v in changes.items()))
        seen = {e.event_id for e in cfn.events(stack)}
        if self._journal is not None:
            self._journal.write("executing", change_set=name, change_set_id=change_set.change_set_id)
        try:
            cfn.execute_change_set(change_set.change_set_id)
        except AwsError as exc:
            now = cfn.describe_stack(stack)
            state = now.status if now else "gone"
            raise DeployFailed(
                f"executing the change set on {stack} failed ({exc}); the stack is {state}: see `python -m deployer "
                f"status`; the previous version keeps serving"
            ) from exc
        found, events = cfn.wait_stack(stack, seen=seen, on_event=self._on_event)
        if found is None:
            raise DeployFailed(f"stack {stack} disappeared during the deployment")
        if found.status not in SUCCESS:
            raise DeployFailed(_failure_message(found, events, change_set_type))
        return StackOutcome(found, changes, "created" if change_set_type == "CREATE" else "updated")


class PreviewSteps:
    """The `plan` verb's executor: the same records, nothing changed. The change set is created to
    read the difference, then deleted; every other record is only listed."""

    def __init__(self, cfn: CloudFormation) -> None:
        self._cfn = cfn

    def deploy_change_set(self, stack: str, name: str, change_set_type: str, template_body: str,
                          parameters: Mapping[str, str], tags: Mapping[str, str], capabilities: Sequence[str],
                          description: str) -> dict[str, list[str]] | str:  # fmt: skip
        """The changes, or the reason CloudFormation refused the change set."""
        change_set_id = self._cfn.create_change_set(
            stack=stack, name=name.replace("deployer-push-", "deployer-plan-"), change_set_type=change_set_type,  # type: ignore[arg-type]
            template_body=template_body, parameters=dict(parameters), tags=dict(tags), capabilities=tuple(capabilities),
            description="onnx-lambda-deployer plan (deleted after reading)",
        )  # fmt: skip
        if change_set_id is None:
            return {"added": [], "modified": [], "removed": []}
        try:
            change_set = self._cfn.wait_change_set(change_set_id)
            if change_set.empty:
                return {"added": [], "modified": [], "removed": []}
            if not change_set.ready:
                return f"CloudFormation refused the change set: {change_set.reason}"
            return change_summary(change_set)
        finally:
            self._cfn.delete_change_set(change_set_id)


class LambdaSteps:
    """Lambda records → Lambda calls (the alias restored onto the stack's version)."""

    def __init__(self, services: Any) -> None:
        self._services = services

    def restore_alias(self, function: str, alias: str) -> Any:
        version = self._services.cfn.published_version(function)  # read now: after this push's update
        if version is None:
            return None
        return self._services.lam.point_alias(function, alias, version, f"restored to the stack's version {version} by push")


@dataclass(frozen=True)
class StackOutcome:
    stack: Stack
    changes: dict[str, list[str]] | None  # None: the change set was empty
    word: str  # "created" | "updated" | "unchanged"


SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})


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


