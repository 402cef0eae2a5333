"""AWS::Lambda::Alias: moto 5.2 has no CloudFormation model for it; this one drives moto's Lambda backend.

Create, update and delete go through `lambda_backends[account][region]` (create_alias,
update_alias, delete_alias), so an alias made by a stack is the alias `GetAlias` answers, with
its RoutingConfig (the weights of a traffic shift). `Ref` is the alias ARN, as on AWS.
A function deleted first takes its aliases with it: deleting the alias then counts as done.
A RoutingConfig is stored in the Lambda API's shape (version -> weight), not CloudFormation's list.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import lambda_backends
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random

from deployer.local.cloud.emulator.traffic import move_alias

__all__ = ["LambdaAliasModel", "function_name", "routing_config"]


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
        function = function_name(props["FunctionName"])
        alias = lambda_backends[account_id][region_name].create_alias(
            name=props["Name"], function_name=function, function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""), routing_config=routing_config(props.get("RoutingConfig")),
        )  # fmt: skip
        return cls(alias.arn, function, props["Name"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource: LambdaAliasModel, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> LambdaAliasModel:  # fmt: skip
        props = cloudformation_json["Properties"]
        backend = lambda_backends[account_id][region_name]
        current = backend.get_alias(original_resource.name, original_resource.function).function_version
        # Under a CodeDeploy update policy the deployment (golden set, traffic shift, alarms) runs
        # first, and its failure fails this update (traffic.py); else the alias moves at once.
        # The ids a live deployment draws (weight updates) are not drawn again on replay, where the
        # journaled outcome stands in for it: moto's generator is put back as it was, so the rest of
        # this request draws the same ids in both.
        state = mock_random.getstate()
        try:
            move_alias(account_id, region_name, original_resource.function, original_resource.name, str(current),
                       str(props["FunctionVersion"]), cloudformation_json)  # fmt: skip
        finally:
            mock_random.setstate(state)
        # CloudFormation sets the alias to what the template says: no RoutingConfig there means no
        # weights (moto keeps the old ones when given None: a finished canary's weights would stay).
        routing = routing_config(props.get("RoutingConfig"))
        backend.update_alias(
            name=original_resource.name, function_name=original_resource.function,
            function_version=str(props["FunctionVersion"]), description=props.get("Description", ""),
            routing_config=routing if routing is not None else {"AdditionalVersionWeights": {}},
        )  # fmt: skip
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            lambda_backends[account_id][region_name].delete_alias(self.name, self.function)
        except UnknownFunctionException:  # the function is gone, and its aliases with it
            pass


def routing_config(value: Any) -> Any:
    """CloudFormation's RoutingConfig (a list of FunctionVersion/FunctionWeight) in the Lambda API's shape.

    The API (and moto, which stores what it is given) has `AdditionalVersionWeights` as a map
    version -> weight; stored as CloudFormation writes it, GetAlias answered a list boto3 cannot parse.
    """
    if not isinstance(value, dict):
        return value
    weights = value.get("AdditionalVersionWeights")
    if isinstance(weights, list):
        return {**value, "AdditionalVersionWeights": {str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in weights}}
    return value


def function_name(value: Any) -> str:
    """A function name out of a name or an ARN (moto's Ref of a function is its name)."""
    text = str(value)
    if text.startswith("arn:"):
        return text.split(":function:", 1)[1].split(":", 1)[0]
    return text
