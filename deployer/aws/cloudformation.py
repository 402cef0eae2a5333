"""CloudFormation: stacks, change sets, events, outputs.

A thin typed wrapper over an injected boto3 client; `sleep` and `clock` are injected too, so
the waits are instant in tests. Waiting polls DescribeStacks and streams new stack events
(DescribeStackEvents is newest first: pages are read until an event already seen).

Change set statuses (CloudFormation): CREATE_PENDING → CREATE_IN_PROGRESS → CREATE_COMPLETE,
or FAILED with a reason; "The submitted information didn't contain changes" (or "No updates
are to be performed") is FAILED too, and means "nothing to do" (`ChangeSet.empty`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from deployer.aws._call import call
from deployer.aws.errors import AwsError

__all__ = [
    "Stack",
    "StackEvent",
    "ResourceChange",
    "ChangeSet",
    "ChangeSetSummary",
    "CloudFormation",
    "is_in_progress",
    "FAILED_STATES",
    "EMPTY_CHANGE_SET_REASONS",
]

EMPTY_CHANGE_SET_REASONS = ("didn't contain changes", "No updates are to be performed")
# A stack in one of these did not get where the last operation wanted it to go.
FAILED_STATES = frozenset(
    {
        "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED",
    }
)  # fmt: skip


def is_in_progress(status: str) -> bool:
    """An operation is running on the stack (REVIEW_IN_PROGRESS is not one: it waits for a change set)."""
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


@dataclass(frozen=True)
class Stack:
    name: str
    stack_id: str
    status: str
    reason: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    updated: datetime | None = None


@dataclass(frozen=True)
class StackEvent:
    event_id: str
    logical_id: str
    resource_type: str
    status: str
    reason: str
    timestamp: datetime | None

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")

    def __str__(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.logical_id} ({self.resource_type}) {self.status}{reason}"


@dataclass(frozen=True)
class ResourceChange:
    action: Literal["Add", "Modify", "Remove", "Import", "Dynamic"] | str
    logical_id: str
    resource_type: str
    replacement: str = ""  # "True" | "False" | "Conditional" for Modify


@dataclass(frozen=True)
class ChangeSet:
    change_set_id: str
    name: str
    stack_id: str
    status: str
    execution_status: str
    reason: str
    changes: tuple[ResourceChange, ...]

    @property
    def empty(self) -> bool:
        """FAILED because there is nothing to change (an unchanged push)."""
        return self.status == "FAILED" and any(text in self.reason for text in EMPTY_CHANGE_SET_REASONS)

    @property
    def ready(self) -> bool:
        return self.status == "CREATE_COMPLETE" and self.execution_status in ("AVAILABLE", "")


@dataclass(frozen=True)
class ChangeSetSummary:
    change_set_id: str
    name: str
    status: str
    execution_status: str


class CloudFormation:
    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = 2.0,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._clock = clock
        self._poll_s = poll_s

    # ------------------------------------------------------------------ describe

    def describe_stack(self, name: str) -> Stack | None:
        try:
            answer = call(self._client, "describe_stacks", StackName=name)
        except AwsError as exc:
            if exc.code == "ValidationError" and "does not exist" in str(exc):
                return None
            raise
        stacks = answer.get("Stacks") or []
        live = [s for s in stacks if s.get("StackStatus") != "DELETE_COMPLETE"]
        return _stack(live[0]) if live else None

    def list_change_sets(self, stack: str) -> list[ChangeSetSummary]:
        found: list[ChangeSetSummary] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"StackName": stack}
            if token:
                params["NextToken"] = token
            try:
                answer = call(self._client, "list_change_sets", **params)
            except AwsError as exc:
                if exc.code == "ValidationError":
                    return found
                raise
            for item in answer.get("Summaries", []):
                if item.get("StackName", stack) not in (stack, None):
                    continue
                found.append(
                    ChangeSetSummary(
                        change_set_id=item["ChangeSetId"],
                        name=item["ChangeSetName"],
                        status=item.get("Status", ""),
                        execution_status=item.get("ExecutionStatus", ""),
                    )
                )
            token = answer.get("NextToken")
            if not token:
                return found

    def describe_change_set(self, change_set_id: str) -> ChangeSet:
        changes: list[ResourceChange] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"ChangeSetName": change_set_id}
            if token:
                params["NextToken"] = token
            answer = call(self._client, "describe_change_set", **params)
            for change in answer.get("Changes", []):
                rc = change.get("ResourceChange", {})
                changes.append(
                    ResourceChange(
                        action=rc.get("Action", ""),
                        logical_id=rc.get("LogicalResourceId", ""),
                        resource_type=rc.get("ResourceType", ""),
                        replacement=str(rc.get("Replacement", "")),
                    )
                )
            token = answer.get("NextToken")
            if not token:
                break
        return ChangeSet(
            change_set_id=answer.get("ChangeSetId", change_set_id),
            name=answer.get("ChangeSetName", ""),
            stack_id=answer.get("StackId", ""),
            status=answer.get("Status", ""),
            execution_status=answer.get("ExecutionStatus", ""),
            reason=answer.get("StatusReason", "") or "",
            changes=tuple(changes),
        )

    def resources(self, stack: str) -> dict[str, tuple[str, str]]:
        """logical id → (type, physical id) of the stack's resources."""
        found: dict[str, tuple[str, str]] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"StackName": stack}
            if token:
                params["NextToken"] = token
            answer = call(self._client, "list_stack_resources", **params)
            for item in answer.get("StackResourceSummaries", []):
                found[item["LogicalResourceId"]] = (item.get("ResourceType", ""), item.get("PhysicalResourceId", ""))
            token = answer.get("NextToken")
            if not token:
                return found

    def published_version(self, stack: str) -> str | None:
        """The Lambda version the stack's template publishes (its AWS::Lambda::Version resource), or None."""
        for kind, physical in self.resources(stack).values():
            if kind == "AWS::Lambda::Version" and physical:
                return physical.rsplit(":", 1)[-1]
        return None

    def events(self, stack: str, *, after: Iterable[str] = ()) -> list[StackEvent]:
        """The stack's events not in `after` (ids already seen), oldest first."""
        seen = set(after)
        fresh: list[StackEvent] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"StackName": stack}
            if token:
                params["NextToken"] = token
            answer = call(self._client, "describe_stack_events", **params)
            page = answer.get("StackEvents", [])
            for item in page:
                if item["EventId"] in seen:
                    return list(reversed(fresh))
                fresh.append(_event(item))
            token = answer.get("NextToken")
            if not token:
                return list(reversed(fresh))

    # ------------------------------------------------------------------ mutations

    def create_change_set(
        self,
        *,
        stack: str,
        name: str,
        change_set_type: Literal["CREATE", "UPDATE"],
        template_body: str,
        parameters: Mapping[str, str],
        tags: Mapping[str, str],
        capabilities: Sequence[str],
        description: str,
    ) -> str | None:
        """The new change set's id; None when the service refuses it because nothing would change."""
        try:
            answer = call(
                self._client,
                "create_change_set",
                StackName=stack,
                ChangeSetName=name,
                ChangeSetType=change_set_type,
                TemplateBody=template_body,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            Capabilities=list(capabilities),
            Description=description[:1024],
            )
        except AwsError as exc:
            if exc.code == "ValidationError" and any(text in str(exc) for text in EMPTY_CHANGE_SET_REASONS):
                return None
            raise
        return str(answer["Id"])

    def wait_change_set(self, change_set_id: str, *, timeout_s: float = 300.0) -> ChangeSet:
        deadline = self._clock() + timeout_s
        while True:
            change_set = self.describe_change_set(change_set_id)
            if change_set.status not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
                return change_set
            if self._clock() > deadline:
                raise AwsError(f"change set {change_set.name} still {change_set.status} after {timeout_s:.0f} s")
            self._sleep(self._poll_s)

    def execute_change_set(self, change_set_id: str) -> None:
        call(self._client, "execute_change_set", ChangeSetName=change_set_id)

    def delete_change_set(self, change_set_id: str) -> None:
        try:
            call(self._client, "delete_change_set", ChangeSetName=change_set_id)
        except AwsError as exc:
            if exc.code in ("ChangeSetNotFound", "ChangeSetNotFoundException"):
                return
            raise

    def delete_stack(self, name: str) -> None:
        call(self._client, "delete_stack", StackName=name)

    def wait_stack(
        self,
        name: str,
        *,
        seen: Iterable[str] = (),
        on_event: Callable[[StackEvent], None] | None = None,
        timeout_s: float = 3600.0,
        gone_ok: bool = False,
    ) -> tuple[Stack | None, list[StackEvent]]:
        """Poll until no operation runs on the stack; returns it and the events seen meanwhile.

        `seen`: event ids from before the operation (not reported again). With `gone_ok`, a
        stack that disappears (deleted) ends the wait with None.
        """
        known = set(seen)
        events: list[StackEvent] = []
        deadline = self._clock() + timeout_s
        while True:
            stack = self.describe_stack(name)
            if stack is None:
                if gone_ok:
                    return None, events
                raise AwsError(f"stack {name} disappeared while waiting for it")
            for event in self.events(stack.stack_id, after=known):
                known.add(event.event_id)
                events.append(event)
                if on_event is not None:
                    on_event(event)
            if not is_in_progress(stack.status):
                return stack, events
            if self._clock() > deadline:
                raise AwsError(f"stack {name} still {stack.status} after {timeout_s:.0f} s; see `status`")
            self._sleep(self._poll_s)


def _stack(data: dict[str, Any]) -> Stack:
    return Stack(
        name=data["StackName"],
        stack_id=data["StackId"],
        status=data["StackStatus"],
        reason=data.get("StackStatusReason", "") or "",
        outputs={o["OutputKey"]: str(o.get("OutputValue", "")) for o in data.get("Outputs") or []},
        parameters={p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in data.get("Parameters") or []},
        tags={t["Key"]: t["Value"] for t in data.get("Tags") or []},
        updated=data.get("LastUpdatedTime") or data.get("CreationTime"),
    )


def _event(data: dict[str, Any]) -> StackEvent:
    return StackEvent(
        event_id=data["EventId"],
        logical_id=data.get("LogicalResourceId", ""),
        resource_type=data.get("ResourceType", ""),
        status=data.get("ResourceStatus", ""),
        reason=data.get("ResourceStatusReason", "") or "",
        timestamp=data.get("Timestamp"),
    )
