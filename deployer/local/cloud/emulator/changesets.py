"""How a change set runs and how a stack is deleted: what moto's CloudFormationBackend lacks.

moto's `execute_change_set` has a TODO for errors and rollback, and adds before it modifies;
its `delete_stack` walks a set. `patch()` replaces both methods of CloudFormationBackend:

    order      adds and modifications in dependency order (Ref, GetAtt, Sub, DependsOn), removals
               last, as CloudFormation does; moto adds before it modifies, which publishes a new
               Lambda version before the function's new image is set
    events     one IN_PROGRESS / COMPLETE / FAILED event per resource, with the failure's reason
    rollback   a failure rolls the stack back to the previous template and parameters:
               UPDATE_ROLLBACK_COMPLETE (ROLLBACK_COMPLETE for a create); a rollback that fails
               too leaves UPDATE_ROLLBACK_FAILED, as CloudFormation would
    outputs    recomputed after each execution (moto keeps the outputs of the template a stack
               was created with, which for a change set is the empty one)

and for DeleteStack, and the rollback of a failed create:

    order      resources in reverse dependency order; moto walks a set, whose order changes with
               each process's hash seed, so a function could go before its alias, the alias's
               delete then failed and moto raised that Lambda error out of DeleteStack, answering
               a CloudFormation (XML) request with a Lambda JSON 404
    failure    a resource that fails to delete gives DELETE_FAILED (event with the reason, stack
               kept, what it depends on kept too), as CloudFormation does; never an error response
    gone       a resource already gone counts as deleted (an alias goes with its function)

and a JSON template is parsed as JSON (parse_template: moto parsed it as YAML first, slowly).

The order is also what makes a journal replay give the same ids: resources are created in an
order that depends on the template only, never on the process's hash seed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Event, Stack

from deployer.template.refs import depends_on, template_refs

__all__ = ["patch", "execute_change_set", "delete_stack", "dependency_order", "parse_template"]

_original_parse = Stack.parse_template


def patch() -> None:
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
    Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign]
    ChangeSet._parse_template = _change_set_template  # type: ignore[method-assign]


def parse_template(template: str) -> dict[str, Any]:
    """A JSON template parsed as JSON; anything else as moto parses it (YAML, with short-form tags).

    moto parses every template with PyYAML's pure-Python loader first, JSON included: ~0.2 s for
    one of our translated templates, several times per change set, which was three quarters of
    the time a push's journal took to replay. CloudFormation reads a JSON template as JSON.
    """
    if template.lstrip().startswith("{"):
        try:
            parsed: dict[str, Any] = json.loads(template)
            return parsed
        except ValueError:
            pass
    return dict(_original_parse(template))


def _change_set_template(self: Any) -> None:
    self.template_dict = parse_template(self.template)


def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """CloudFormationBackend.execute_change_set with ordering, events, rollback, outputs (module doc)."""
    change_set = self.change_sets.get(change_set_name)
    if change_set is None:
        change_set = next((c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
    if change_set is None:
        raise ValidationError(stack_name or change_set_name)
    stack = self.stacks[change_set.stack_id]
    kind = change_set.change_set_type  # CREATE | UPDATE
    resource_map = stack.resource_map
    before = {
        "template": stack.template,
        "template_dict": dict(resource_map._template or {}),
        "parameters": dict(resource_map.input_parameters or {}),
    }
    stack.status = f"{kind}_IN_PROGRESS"
    _stack_event(stack, stack.status, "User Initiated")
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    try:
        _apply(stack, change_set.template_dict, change_set.parameters)
    except Exception as exc:  # a resource failed: roll back, as CloudFormation does
        change_set.execution_status = "EXECUTE_FAILED"
        _rollback(stack, kind, before, exc)
        return
    stack.template = change_set.template
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    stack.status = f"{kind}_COMPLETE"
    _stack_event(stack, stack.status, None)
    change_set.execution_status = "EXECUTE_COMPLETE"


def _rollback(stack: Any, kind: str, before: dict[str, Any], cause: Exception) -> None:
    reason = f"The following resource(s) failed to {kind.lower()}: [{getattr(cause, '_logical_id', '?')}]."
    if kind == "CREATE":
        stack.status = "ROLLBACK_IN_PROGRESS"
        _stack_event(stack, stack.status, reason)
        failed = _delete_resources(stack, dict(stack.resource_map._resource_json_map))
        stack.status = "ROLLBACK_FAILED" if failed else "ROLLBACK_COMPLETE"
        reason = f"rollback failed: the following resource(s) failed to delete: [{', '.join(failed)}]."
        _stack_event(stack, stack.status, reason if failed else None)
        return
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    _stack_event(stack, stack.status, reason)
    try:
        _apply(stack, before["template_dict"], before["parameters"], rolling_back=True)
    except Exception as exc:  # noqa: BLE001
        stack.status = "UPDATE_ROLLBACK_FAILED"
        _stack_event(stack, stack.status, f"rollback failed: {_reason(exc)}")
        return
    stack.template = before["template"]
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    _stack_event(stack, stack.status, None)


def _apply(stack: Any, template: dict[str, Any], parameters: dict[str, Any] | None, rolling_back: bool = False) -> None:
    """Bring the stack's resources to `template`: adds and modifications in dependency order, then removals."""
    resource_map = stack.resource_map
    diff = resource_map.build_resource_diff(template, parameters)
    old_json = dict(resource_map._resource_json_map)
    resource_map._template = template
    if parameters is not None:
        resource_map.input_parameters = parameters
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    resource_map._resource_json_map = template["Resources"]
    verb = "UPDATE" if rolling_back else None
    for logical_id in dependency_order(template["Resources"]):
        resource_type = template["Resources"][logical_id]["Type"]
        if logical_id in diff["Add"]:
            status = verb or "CREATE"
            _resource_event(stack, logical_id, resource_type, f"{status}_IN_PROGRESS")
            try:
                instance = resource_map[logical_id]
            except Exception as exc:
                _resource_event(stack, logical_id, resource_type, f"{status}_FAILED", _reason(exc))
                exc._logical_id = logical_id  # type: ignore[attr-defined]
                raise
            if instance is not None:
                _resource_event(stack, logical_id, resource_type, f"{status}_COMPLETE", physical=_physical(instance))
        elif logical_id in diff["Modify"]:
            _resource_event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS")
            try:
                changed = parsing.parse_and_update_resource(
                    logical_id, template["Resources"][logical_id], resource_map, resource_map._account_id,
                    resource_map._region_name,
                )  # fmt: skip
            except Exception as exc:
                _resource_event(stack, logical_id, resource_type, "UPDATE_FAILED", _reason(exc))
                exc._logical_id = logical_id  # type: ignore[attr-defined]
                raise
            if changed is not None:
                resource_map._parsed_resources[logical_id] = changed
            _resource_event(stack, logical_id, resource_type, "UPDATE_COMPLETE")
    # CloudFormation's cleanup phase does not fail the update: a removal that fails is kept (DELETE_FAILED event)
    _delete_resources(stack, {k: v for k, v in old_json.items() if k in diff["Remove"]})


def delete_stack(self: Any, name_or_stack_id: str) -> None:
    """CloudFormationBackend.delete_stack: ordered, and a failure is the stack's state (module doc)."""
    stack = self.stacks.get(name_or_stack_id) or next(
        (s for s in self.stacks.values() if s.name == name_or_stack_id), None
    )
    if stack is None:  # CloudFormation answers success for a stack that is not there
        return
    stack.status = "DELETE_IN_PROGRESS"
    _stack_event(stack, stack.status, "User Initiated")
    failed = _delete_resources(stack, dict(stack.resource_map._resource_json_map))
    if failed:
        stack.status = "DELETE_FAILED"
        _stack_event(stack, stack.status, f"The following resource(s) failed to delete: [{', '.join(failed)}].")
        return
    stack.status = "DELETE_COMPLETE"
    _stack_event(stack, stack.status, None)
    self.stacks.pop(stack.stack_id, None)
    self.deleted_stacks[stack.stack_id] = stack
    for export in stack.exports:
        self.exports.pop(export.name, None)


def _delete_resources(stack: Any, resources: dict[str, Any]) -> list[str]:
    """Delete `resources` (logical id -> template JSON) of the stack, dependents first; the ids that failed.

    A resource that fails keeps what it depends on (deleting that would fail, or break it); the
    others go on. A Retain resource is forgotten, not deleted.
    """
    resource_map = stack.resource_map
    failed: list[str] = []
    kept: set[str] = set()
    for logical_id in reversed(dependency_order(resources)):
        resource_json = resources[logical_id]
        parsed = resource_map._parsed_resources.get(logical_id)
        needs = (template_refs(resource_json) | depends_on(resource_json)) & set(resources)
        if logical_id in kept:
            kept |= needs
            continue
        if resource_json.get("DeletionPolicy") == "Retain" or parsed is None or isinstance(parsed, str):
            resource_map._parsed_resources.pop(logical_id, None)
            continue
        resource_type = resource_json["Type"]
        _resource_event(stack, logical_id, resource_type, "DELETE_IN_PROGRESS", physical=_physical(parsed))
        try:
            resource_map._delete_resource(parsed, resource_json)
        except Exception as exc:  # noqa: BLE001 - reported as the resource's event and the stack's state
            _resource_event(stack, logical_id, resource_type, "DELETE_FAILED", _reason(exc), physical=_physical(parsed))
            failed.append(logical_id)
            kept |= needs
            continue
        resource_map._parsed_resources.pop(logical_id, None)
        _resource_event(stack, logical_id, resource_type, "DELETE_COMPLETE", physical=_physical(parsed))
    return failed


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids, each after those it refers to; template order among independent ones."""
    deps = {k: (template_refs(v) | depends_on(v)) & set(resources) - {k} for k, v in resources.items()}
    done: list[str] = []
    placed: set[str] = set()

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if node in placed or node in trail:
            return
        for dep in sorted(deps[node], key=list(resources).index):
            visit(dep, (*trail, node))
        placed.add(node)
        done.append(node)

    for key in resources:
        visit(key, ())
    return done


def _physical(instance: Any) -> str:
    value = getattr(instance, "physical_resource_id", None)
    return str(value) if value is not None else ""


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return re.sub(r"\s+", " ", str(message)).strip()[:500]


def _stack_event(stack: Any, status: str, reason: str | None) -> None:
    stack._add_stack_event(status, resource_status_reason=reason)


def _resource_event(stack: Any, logical_id: str, resource_type: str, status: str, reason: str | None = None,
                    physical: str = "") -> None:  # fmt: skip
    stack.events.append(
        Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
              physical_resource_id=physical, resource_type=resource_type, resource_status=status,
              resource_status_reason=reason, resource_properties=None)  # fmt: skip
    )
