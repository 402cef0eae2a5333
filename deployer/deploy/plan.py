"""The planner: describe calls only, and a list of frozen `APICall` records out.

Two planners, one per half of a push:

    plan_image(ecr, artifact, repository)  → ImagePlan   what the registry lacks, and the calls to fix it
    plan_stack(cfn, stack_name, ...)       → StackPlan   how to get a change set onto the stack

Neither mutates anything: they call `describe_*` / `list_*` / `batch_check_*` on the readers
they are given and decide. `executor.execute` runs the records; `push` and `plan` share the
planners (the `plan` verb runs no image record at all, and for the stack only creates the
change set to read the difference, then deletes it). Unit tests pass fake readers and assert
on the records.

Stack states and what the planner does about them (the recovery rules of an interrupted or
failed push live here, in one place):

    no stack                                  CREATE change set
    REVIEW_IN_PROGRESS (a CREATE change set   delete the empty stack (it holds no resource), wait,
      that never ran: interrupted, or plan)   then CREATE change set
    ROLLBACK_COMPLETE, CREATE_FAILED          the first create failed and rolled back: delete the
                                              empty stack, then CREATE (CloudFormation's own rule)
    *_COMPLETE, UPDATE_ROLLBACK_COMPLETE      UPDATE change set
    an operation in progress                  ours, interrupted (the journal says so): wait for it,
                                              then UPDATE; anyone else's: refused (ConcurrentPushError)
    UPDATE_ROLLBACK_FAILED, ROLLBACK_FAILED,  refused with guidance (StackStateError): a person must
      DELETE_FAILED                           look; retrying blindly would fail the same way

Change sets this tool left behind (name prefix `deployer-push-`, not executed) are deleted
first: a push interrupted between creating and executing one leaves exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from deployer.aws.cloudformation import ChangeSetSummary, Stack, is_in_progress
from deployer.aws.ecr import Repository
from deployer.image.blobs import ImageArtifact
from deployer.deploy.errors import ConcurrentPushError, StackStateError

__all__ = [
    "APICall",
    "ImagePlan",
    "StackPlan",
    "plan_image",
    "plan_stack",
    "CHANGE_SET_PREFIX",
    "PLAN_CHANGE_SET_PREFIX",
    "CAPABILITIES",
]

CHANGE_SET_PREFIX = "deployer-push-"
PLAN_CHANGE_SET_PREFIX = "deployer-plan-"
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM")

_NEEDS_A_PERSON = {
    "UPDATE_ROLLBACK_FAILED": (
        "CloudFormation could not roll the last failed update back. Fix what the failing events name, then run "
        "`aws cloudformation continue-update-rollback --stack-name {stack}` (add --resources-to-skip for resources "
        "that cannot be restored) and push again; a plain retry would fail the same way"
    ),
    "ROLLBACK_FAILED": (
        "the first create failed and its rollback failed too; delete the stack (python -m deployer delete, or "
        "`aws cloudformation delete-stack --stack-name {stack}`, retaining what cannot be deleted) and push again"
    ),
    "DELETE_FAILED": (
        "deleting the stack failed; see `python -m deployer status` for the resource that blocks it, remove the "
        "cause, then delete again"
    ),
    "IMPORT_ROLLBACK_FAILED": "a resource import failed and could not be rolled back; fix it in the CloudFormation console",
}
_RECREATE = frozenset({"REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "CREATE_FAILED"})


@dataclass(frozen=True)
class APICall:
    """One call the executor will make: `targets[service].<method>(**params)`."""

    service: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    why: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def brief(self) -> tuple[str, str]:
        return self.service, self.method


class EcrReader(Protocol):
    def describe_repository(self, name: str) -> Repository | None: ...
    def available_layers(self, repository: str, digests: Sequence[str]) -> set[str]: ...
    def image_exists(self, repository: str, tag: str) -> bool: ...


class CfnReader(Protocol):
    def describe_stack(self, name: str) -> Stack | None: ...
    def list_change_sets(self, stack: str) -> list[ChangeSetSummary]: ...


@dataclass(frozen=True)
class ImagePlan:
    repository: str
    repository_uri: str
    tag: str
    digest: str
    repository_exists: bool
    image_exists: bool
    missing: tuple[str, ...]  # blob digests the registry lacks
    upload_bytes: int  # layer bytes to send (the config blob not counted)
    calls: tuple[APICall, ...]

    @property
    def image_uri(self) -> str:
        return f"{self.repository_uri}:{self.tag}"

    @property
    def changes_anything(self) -> bool:
        return bool(self.calls)


@dataclass(frozen=True)
class StackPlan:
    stack: str
    change_set_type: str  # "CREATE" | "UPDATE"
    status: str | None  # the stack's status now (None: no stack)
    calls: tuple[APICall, ...]  # preparation: cleanups, waits, deletes (before the change set)
    recovering: tuple[str, ...] = ()  # what is being recovered from, in words


def plan_image(
    ecr: EcrReader,
    artifact: ImageArtifact,
    repository: str,
    *,
    registry_uri: str,
    tags: Mapping[str, str] | None = None,
) -> ImagePlan:
    """What the registry lacks of `artifact`. `registry_uri`: `<account>.dkr.ecr.<region>.<suffix>`."""
    existing = ecr.describe_repository(repository)
    blobs = artifact.blobs
    calls: list[APICall] = []
    if existing is None:
        calls.append(
            APICall("ecr", "create_repository", {"name": repository, "tags": dict(tags or {})},
                    f"create the ECR repository {repository} (immutable tags, scan on push)")  # fmt: skip
        )
        available: set[str] = set()
        image_exists = False
        uri = f"{registry_uri}/{repository}"
    else:
        available = ecr.available_layers(repository, [b.digest for b in blobs])
        image_exists = ecr.image_exists(repository, artifact.tag)
        uri = existing.uri
    missing = [b for b in blobs if b.digest not in available]
    for blob in missing:
        what = "the image config" if blob.role == "config" else f"the {blob.role} layer"
        calls.append(
            APICall("ecr", "upload_blob", {"repository": repository, "digest": blob.digest, "size": blob.size},
                    f"upload {what} {blob.digest[:19]} ({blob.size:,} bytes)")  # fmt: skip
        )
    if not image_exists:
        calls.append(
            APICall("ecr", "put_image", {"repository": repository, "tag": artifact.tag},
                    f"put the manifest as {repository}:{artifact.tag[:19]}")  # fmt: skip
        )
    return ImagePlan(
        repository=repository,
        repository_uri=uri,
        tag=artifact.tag,
        digest=artifact.digest,
        repository_exists=existing is not None,
        image_exists=image_exists,
        missing=tuple(b.digest for b in missing),
        upload_bytes=sum(b.size for b in missing if b.role != "config"),
        calls=tuple(calls),
    )


def plan_stack(cfn: CfnReader, stack_name: str, *, resume_in_progress: bool = False) -> StackPlan:
    """How to bring a change set onto `stack_name` (see the module doc for every state).

    `resume_in_progress`: the journal says an operation on this stack is our own interrupted push,
    so waiting for it is recovery, not a race.
    """
    stack = cfn.describe_stack(stack_name)
    if stack is None:
        return StackPlan(stack_name, "CREATE", None, ())
    status = stack.status
    calls: list[APICall] = []
    recovering: list[str] = []
    if status in _NEEDS_A_PERSON:
        reason = f" ({stack.reason})" if stack.reason else ""
        raise StackStateError(f"stack {stack_name} is {status}{reason}: " + _NEEDS_A_PERSON[status].format(stack=stack_name))
    if is_in_progress(status):
        if not resume_in_progress:
            raise ConcurrentPushError(
                f"stack {stack_name} is {status}: another deployment is running on it; wait for it to finish "
                f"(python -m deployer status) and push again"
            )
        recovering.append(f"the interrupted push's {status} on {stack_name}: waiting for it to finish")
        calls.append(APICall("cloudformation", "wait_stack", {"stack": stack_name}, f"wait for {status} to finish"))
    for leftover in cfn.list_change_sets(stack_name):
        if leftover.name.startswith(CHANGE_SET_PREFIX) and not leftover.execution_status.startswith("EXECUTE_"):
            recovering.append(f"change set {leftover.name} left by an interrupted push")
            calls.append(
                APICall("cloudformation", "delete_change_set", {"change_set_id": leftover.change_set_id},
                        f"delete the change set {leftover.name} an interrupted push left")  # fmt: skip
            )
    if status in _RECREATE:
        why = {
            "REVIEW_IN_PROGRESS": "holds no resource: a create that never ran",
            "ROLLBACK_COMPLETE": "its first create failed and rolled back",
            "CREATE_FAILED": "its first create failed",
        }[status]
        recovering.append(f"stack {stack_name} is {status} ({why}): deleting it and creating it again")
        calls.append(
            APICall("cloudformation", "delete_stack", {"stack": stack_name},
                    f"delete the empty stack {stack_name} ({status})")  # fmt: skip
        )
        return StackPlan(stack_name, "CREATE", status, tuple(calls), tuple(recovering))
    return StackPlan(stack_name, "UPDATE", status, tuple(calls), tuple(recovering))
