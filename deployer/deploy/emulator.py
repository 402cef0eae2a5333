"""The local target's AWS emulator: moto on 127.0.0.1, plus what moto lacks for our templates.

This module is the one place where the deployer extends moto (the issue allows it: the
embedded local target is part of the product, and an emulator is what it needs). `install()`
is idempotent and changes moto in this process only; `EmulatorServer` serves it on loopback.

What moto 5.x lacks, and what is added (each minimal: enough for what SAM writes for us):

    AWS::Lambda::Alias            create/update/delete through moto's Lambda backend; Ref = alias ARN
    AWS::Lambda::Version          GetAtt Version (moto's model has no attributes); a published
                                  version keeps its own image (moto shares the code dict with
                                  $LATEST, so the next update rewrote old versions' images)
    AWS::ApiGateway::RestApi      the OpenAPI Body is imported (moto ignores it, leaving no method)
    AWS::ApiGateway::Stage        create/update/delete of the stage of a deployment
    AWS::CodeDeploy::Application  the application; Ref = name
    AWS::CodeDeploy::DeploymentGroup  the group (no traffic shifting: the alias moves at once)
    AWS::CloudWatch::Alarm        single-metric alarms are stored; metric-math alarms are stored
                                  without their queries (nothing evaluates them locally)

and in how a change set runs (moto's `execute_change_set` has a TODO for errors and rollback):

    order      adds and modifications in dependency order (Ref, GetAtt, Sub, DependsOn), removals
               last, as CloudFormation does; moto adds before it modifies, which publishes a new
               Lambda version before the function's new image is set
    events     one IN_PROGRESS / COMPLETE / FAILED event per resource, with the failure's reason
    rollback   a failure rolls the stack back to the previous template and parameters:
               UPDATE_ROLLBACK_COMPLETE (ROLLBACK_COMPLETE for a create); a rollback that fails
               too leaves UPDATE_ROLLBACK_FAILED, as CloudFormation would
    outputs    recomputed after each execution (moto keeps the outputs of the template a stack
               was created with, which for a change set is the empty one)

and in how a stack is deleted (DeleteStack, and the rollback of a failed create):

    order      resources in reverse dependency order; moto walks a set, whose order changes with
               each process's hash seed, so a function could go before its alias, the alias's
               delete then failed and moto raised that Lambda error out of DeleteStack, answering
               a CloudFormation (XML) request with a Lambda JSON 404
    failure    a resource that fails to delete gives DELETE_FAILED (event with the reason, stack
               kept, what it depends on kept too), as CloudFormation does; never an error response
    gone       a resource already gone counts as deleted (an alias goes with its function)

`GET /_onnx-lambda/emulator` on the server answers who it is, so a deployer reaching it through
AWS_ENDPOINT_URL deploys the template unchanged (compat.py). tests/functional uses this server.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from deployer.deploy.compat import depends_on, template_refs

__all__ = ["install", "EmulatorServer", "MODELLED_TYPES", "ACCOUNT_ID"]

ACCOUNT_ID = "123456789012"  # moto's default account
MODELLED_TYPES = (
    "AWS::Lambda::Alias",
    "AWS::ApiGateway::Stage",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::CloudWatch::Alarm",
)
_installed = False
_lock = threading.Lock()


def install() -> None:
    """Extend moto in this process (see module doc). Safe to call more than once."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.cloudformation import parsing
        from moto.cloudformation.models import CloudFormationBackend

        models = _models()
        parsing.get_model_list.cache_clear()
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()
        model_map = parsing.get_model_map()
        for model in models:
            model_map[model.cloudformation_type()] = model
        parsing.get_name_type_map().update({m.cloudformation_type(): m.cloudformation_name_type() for m in models})
        _patch_lambda_version()
        CloudFormationBackend.execute_change_set = _execute_change_set  # type: ignore[method-assign]
        CloudFormationBackend.delete_stack = _delete_stack  # type: ignore[method-assign]
        _installed = True


# --------------------------------------------------------------------------- resource models


def _models() -> list[type]:
    from moto.apigateway.models import RestAPI, apigateway_backends
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.awslambda.models import lambda_backends
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.codedeploy.models import codedeploy_backends
    from moto.core.common_models import CloudFormationModel

    class LambdaAliasModel(CloudFormationModel):
        def __init__(self, arn: str, function: str, name: str) -> None:
            self.arn, self.function, self.name = arn, function, name

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("AliasArn",)

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[misc]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> LambdaAliasModel:
            props = cloudformation_json["Properties"]
            function = _function_name(props["FunctionName"])
            alias = lambda_backends[account_id][region_name].create_alias(
                name=props["Name"], function_name=function, function_version=str(props["FunctionVersion"]),
                description=props.get("Description", ""), routing_config=props.get("RoutingConfig"),
            )  # fmt: skip
            return cls(alias.arn, function, props["Name"])

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[misc]
            cls, original_resource: LambdaAliasModel, new_resource_name: str, cloudformation_json: dict[str, Any],
            account_id: str, region_name: str,
        ) -> LambdaAliasModel:  # fmt: skip
            props = cloudformation_json["Properties"]
            lambda_backends[account_id][region_name].update_alias(
                name=original_resource.name, function_name=original_resource.function,
                function_version=str(props["FunctionVersion"]), description=props.get("Description", ""),
                routing_config=props.get("RoutingConfig"),
            )  # fmt: skip
            return original_resource

        def delete(self, account_id: str, region_name: str) -> None:
            try:
                lambda_backends[account_id][region_name].delete_alias(self.name, self.function)
            except UnknownFunctionException:  # the function is gone, and its aliases with it
                pass

    class RestApiModel(RestAPI):
        """moto's RestApi, with the OpenAPI Body imported (SAM writes every route there)."""

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[misc]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> Any:
            api = RestAPI.create_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name)
            body = cloudformation_json["Properties"].get("Body")
            if isinstance(body, dict) and body.get("paths"):
                apigateway_backends[account_id][region_name].put_rest_api(api.id, body, False, mode="overwrite")
            return api

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[misc]
            cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
            account_id: str, region_name: str,
        ) -> Any:  # fmt: skip
            body = cloudformation_json["Properties"].get("Body")
            if isinstance(body, dict) and body.get("paths"):
                apigateway_backends[account_id][region_name].put_rest_api(original_resource.id, body, False, mode="overwrite")
            return original_resource

    class StageModel(CloudFormationModel):
        def __init__(self, api_id: str, name: str) -> None:
            self.api_id, self.name = api_id, name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "StageName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::ApiGateway::Stage"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[misc]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> StageModel:
            props = cloudformation_json["Properties"]
            api = apigateway_backends[account_id][region_name].get_rest_api(props["RestApiId"])
            name = props.get("StageName") or resource_name
            if name in api.stages:
                api.stages[name].deployment_id = _id(props.get("DeploymentId"))
            else:
                api.create_stage(name, _id(props.get("DeploymentId")), props.get("Variables"), props.get("Description", ""),
                                 None, None, None, None)  # fmt: skip
            return cls(api.id, name)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[misc]
            cls, original_resource: StageModel, new_resource_name: str, cloudformation_json: dict[str, Any],
            account_id: str, region_name: str,
        ) -> StageModel:  # fmt: skip
            props = cloudformation_json["Properties"]
            api = apigateway_backends[account_id][region_name].get_rest_api(original_resource.api_id)
            stage = api.stages.get(original_resource.name)
            if stage is not None:
                stage.deployment_id = _id(props.get("DeploymentId"))
            return original_resource

        def delete(self, account_id: str, region_name: str) -> None:
            api = apigateway_backends[account_id][region_name].apis.get(self.api_id)
            if api is not None:
                api.stages.pop(self.name, None)

    class CodeDeployApplicationModel(CloudFormationModel):
        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "ApplicationName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CodeDeploy::Application"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[misc]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> CodeDeployApplicationModel:
            props = cloudformation_json["Properties"]
            codedeploy_backends[account_id][region_name].create_application(
                resource_name, props.get("ComputePlatform", "Lambda"), []
            )
            return cls(resource_name)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[misc]
            cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
            account_id: str, region_name: str,
        ) -> Any:  # fmt: skip
            return original_resource

        def delete(self, account_id: str, region_name: str) -> None:
            codedeploy_backends[account_id][region_name].applications.pop(self.name, None)

    class DeploymentGroupModel(CloudFormationModel):
        def __init__(self, application: str, name: str) -> None:
            self.application, self.name = application, name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "DeploymentGroupName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CodeDeploy::DeploymentGroup"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[misc]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> DeploymentGroupModel:
            props = cloudformation_json["Properties"]
            application = str(props["ApplicationName"])
            codedeploy_backends[account_id][region_name].create_deployment_group(
                application_name=application, deployment_group_name=resource_name,
                deployment_config_name=props.get("DeploymentConfigName"), ec2_tag_filters=None,
                on_premises_instance_tag_filters=None, auto_scaling_groups=None,
                service_role_arn=str(props.get("ServiceRoleArn", "")),
                deployment_style=props.get("DeploymentStyle"),
            )  # fmt: skip
            return cls(application, resource_name)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[misc]
            cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
            account_id: str, region_name: str,
        ) -> Any:  # fmt: skip
            return original_resource

        def delete(self, account_id: str, region_name: str) -> None:
            groups = getattr(codedeploy_backends[account_id][region_name], "deployment_groups", {})
            if isinstance(groups, dict):
                groups.get(self.application, {}).pop(self.name, None) if isinstance(groups.get(self.application), dict) else None

    class AlarmModel(CloudFormationModel):
        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.name

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[misc]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
        ) -> AlarmModel:
            props = cloudformation_json["Properties"]
            cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=resource_name, namespace=props.get("Namespace", ""), metric_name=props.get("MetricName", ""),
                comparison_operator=props["ComparisonOperator"], evaluation_periods=int(props["EvaluationPeriods"]),
                period=int(props.get("Period", 60)), threshold=float(props.get("Threshold", 0)),
                statistic=props.get("Statistic"), description=props.get("AlarmDescription", ""),
                dimensions=[d for d in props.get("Dimensions", []) if isinstance(d.get("Value"), str)],
                alarm_actions=[], datapoints_to_alarm=props.get("DatapointsToAlarm"),
                extended_statistic=props.get("ExtendedStatistic"), treat_missing_data=props.get("TreatMissingData"),
            )  # fmt: skip
            return cls(resource_name)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[misc]
            cls, original_resource: AlarmModel, new_resource_name: str, cloudformation_json: dict[str, Any],
            account_id: str, region_name: str,
        ) -> AlarmModel:  # fmt: skip
            cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.name])
            return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    return [LambdaAliasModel, RestApiModel, StageModel, CodeDeployApplicationModel, DeploymentGroupModel, AlarmModel]


def _patch_lambda_version() -> None:
    from moto.awslambda.models import LambdaVersion

    def get_cfn_attribute(self: Any, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Version":
            return str(self.version)
        raise UnformattedGetAttTemplateException()

    LambdaVersion.get_cfn_attribute = get_cfn_attribute  # type: ignore[attr-defined]
    LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr == "Version")  # type: ignore[assignment]

    from moto.awslambda.models import LambdaStorage

    publish = LambdaStorage.publish_version

    def publish_version(self: Any, name_or_arn: str, description: str = "") -> Any:
        published = publish(self, name_or_arn, description)
        if published is not None:
            latest = self._functions.get(published.function_name, {}).get("latest")
            if latest is not None and published is not latest and published.code is latest.code:
                published.code = copy.deepcopy(latest.code)
        return published

    LambdaStorage.publish_version = publish_version  # type: ignore[method-assign]


def _function_name(value: Any) -> str:
    """A function name out of a name or an ARN (moto's Ref of a function is its name)."""
    text = str(value)
    if text.startswith("arn:"):
        return text.split(":function:", 1)[1].split(":", 1)[0]
    return text


def _id(value: Any) -> str:
    return value if isinstance(value, str) else str(getattr(value, "id", value))


# --------------------------------------------------------------------------- change sets


def _execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """CloudFormationBackend.execute_change_set with ordering, events, rollback, outputs (module doc)."""
    from moto.cloudformation.exceptions import ValidationError

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
    from moto.cloudformation import parsing

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
    for logical_id in _dependency_order(template["Resources"]):
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


def _delete_stack(self: Any, name_or_stack_id: str) -> None:
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
    for logical_id in reversed(_dependency_order(resources)):
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


def _dependency_order(resources: dict[str, Any]) -> list[str]:
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
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
              physical_resource_id=physical, resource_type=resource_type, resource_status=status,
              resource_status_reason=reason, resource_properties=None)  # fmt: skip
    )


# --------------------------------------------------------------------------- server


class EmulatorServer:
    """moto (extended) on http://127.0.0.1:<free port>, in a thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> EmulatorServer:
        install()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        moto_app = DomainDispatcherApplication(create_backend_app)
        marker = json.dumps({"emulator": "onnx-lambda-deployer", "cloudformation_types": list(MODELLED_TYPES)}).encode()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes] | Any:
            if environ.get("PATH_INFO") == "/_onnx-lambda/emulator":
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(marker)))])
                return iter([marker])
            return moto_app(environ, start_response)

        self._server = make_server(self._host, self._port, app, threaded=True, request_handler=_quiet_handler())
        port = self._server.server_address[1]
        self.url = f"http://{self._host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        return self

    def reset(self) -> None:
        """Forget every resource (what POST /moto-api/reset does)."""
        from moto.moto_api import _internal

        _internal.moto_api_backend.reset()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _quiet_handler() -> Any:
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log on the user's terminal
            pass

    return Quiet
