"""CodeDeploy: the application and deployment group SAM writes for a DeploymentPreference.

    AWS::CodeDeploy::Application      created in moto's CodeDeploy backend; Ref = its name
    AWS::CodeDeploy::DeploymentGroup  created there too (moto has neither as a CloudFormation model)

They are stored and nothing more: moto runs no deployment, and the alias moves when the stack
says so. The local cloud's daemon does the traffic shifting on top of them.

Ids: moto's CodeDeploy draws the application, group and deployment ids from `uuid.uuid4()`, the
one place on our path that does not use moto's seeded generator. `patch()` points that module's
`uuid` at a shim drawing from `mock_random`, so a replayed journal gives the same ids.
"""

from __future__ import annotations

import types
from typing import Any

import moto.codedeploy.models as codedeploy_models
from moto.codedeploy.models import codedeploy_backends
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random

from deployer.local.cloud.emulator.traffic import remember_group

__all__ = ["CodeDeployApplicationModel", "DeploymentGroupModel", "patch"]


def patch() -> None:
    codedeploy_models.uuid = types.SimpleNamespace(uuid4=mock_random.uuid4)  # type: ignore[assignment]


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
        remember_group(account_id, region_name, application, resource_name, props)  # config and alarms: traffic.py
        return cls(application, resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> Any:  # fmt: skip
        remember_group(account_id, region_name, original_resource.application, original_resource.name,
                       cloudformation_json["Properties"])  # fmt: skip
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        groups = codedeploy_backends[account_id][region_name].deployment_groups.get(self.application)
        if isinstance(groups, dict):
            groups.pop(self.name, None)
