"""API Gateway: the REST API's OpenAPI body, and its stage.

    AWS::ApiGateway::RestApi  moto's model, plus the `Body` imported (moto ignores it and the API
                              has no method: SAM writes every route there, and moto then refuses
                              the Deployment). Imported with moto's own PutRestApi (mode overwrite)
                              on create and on update. And deleted with its stack: moto's RestAPI
                              has no delete, so DeleteStack left the API (and its stages) behind.
    AWS::ApiGateway::Stage    moto 5.2 has no model: the stage of a deployment, created, moved to
                              the new deployment on update, removed on delete. Ref = stage name.

`RestApiModel` is a subclass of moto's RestAPI (not a direct CloudFormationModel subclass), so
moto's model map does not pick it up by itself: `install()` registers it by type.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.models import RestAPI, apigateway_backends
from moto.core.common_models import CloudFormationModel

__all__ = ["RestApiModel", "StageModel"]


class RestApiModel(RestAPI):
    """moto's RestApi, with the OpenAPI Body imported (SAM writes every route there)."""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        api = RestAPI.create_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name)
        _import_body(api.id, cloudformation_json, account_id, region_name)
        return api

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> Any:  # fmt: skip
        _import_body(original_resource.id, cloudformation_json, account_id, region_name)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        apigateway_backends[account_id][region_name].apis.pop(resource_name, None)


def _import_body(api_id: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
    body = cloudformation_json["Properties"].get("Body")
    if isinstance(body, dict) and body.get("paths"):
        apigateway_backends[account_id][region_name].put_rest_api(api_id, body, False, mode="overwrite")


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
        deployment = _id(props.get("DeploymentId"))
        if name in api.stages:  # the Deployment of a stage-named API already made it: point it at this deployment
            api.stages[name].deployment_id = deployment
        else:
            api.create_stage(name, deployment, props.get("Variables"), props.get("Description", ""), None, None, None, None)
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


def _id(value: Any) -> str:
    """moto's Deployment has no physical_resource_id, so a Ref to one resolves to the object: take its id."""
    return value if isinstance(value, str) else str(getattr(value, "id", value))
