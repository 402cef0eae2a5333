"""AWS::ApiGateway::RestApi (OpenAPI body imported) and AWS::ApiGateway::Stage through CloudFormation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.cloud.conftest import Cloud

BODY = {
    "openapi": "3.0.1",
    "info": {"title": "model", "version": "1"},
    "paths": {
        "/v2/models/iris/infer": {
            "post": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                         "uri": "arn:aws:apigateway:us-east-1:lambda:path/x"}}  # fmt: skip
        },
        "/v2/health/ready": {
            "get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                        "uri": "arn:aws:apigateway:us-east-1:lambda:path/x"}}  # fmt: skip
        },
    },
}


def api(deployment: str, body: dict[str, Any] = BODY) -> dict[str, Any]:
    return {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "model", "Body": body}},
            deployment: {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": "Api"}}},
            "Stage": {"Type": "AWS::ApiGateway::Stage",
                      "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "live", "DeploymentId": {"Ref": deployment}}},  # fmt: skip
        },
        "Outputs": {"ApiId": {"Value": {"Ref": "Api"}}, "Stage": {"Value": {"Ref": "Stage"}}},
    }


def routes(cloud: Cloud, api_id: str) -> set[tuple[str, str]]:
    items = cloud.client("apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]
    return {(item["path"], method) for item in items for method in item.get("resourceMethods", {})}


def test_the_body_becomes_the_apis_routes_and_the_stage_serves_the_deployment(cloud: Cloud) -> None:
    stack = cloud.stack("s", api("DeploymentA"))
    assert stack["StackStatus"] == "CREATE_COMPLETE", cloud.events("s")
    api_id = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "ApiId")
    assert routes(cloud, api_id) == {("/v2/models/iris/infer", "POST"), ("/v2/health/ready", "GET")}
    gateway = cloud.client("apigateway")
    stage = gateway.get_stage(restApiId=api_id, stageName="live")
    assert stage["deploymentId"] in {d["id"] for d in gateway.get_deployments(restApiId=api_id)["items"]}


def test_an_update_reimports_the_body_and_moves_the_stage_to_the_new_deployment(cloud: Cloud) -> None:
    api_id = cloud.stack("s", api("DeploymentA"))["Outputs"][0]["OutputValue"]
    gateway = cloud.client("apigateway")
    first = gateway.get_stage(restApiId=api_id, stageName="live")["deploymentId"]
    smaller = {**BODY, "paths": {"/v2/health/ready": BODY["paths"]["/v2/health/ready"]}}
    assert cloud.stack("s", api("DeploymentB", smaller))["StackStatus"] == "UPDATE_COMPLETE", cloud.events("s")
    assert routes(cloud, api_id) == {("/v2/health/ready", "GET")}
    second = gateway.get_stage(restApiId=api_id, stageName="live")["deploymentId"]
    assert second != first

    cloud.restart()
    gateway = cloud.client("apigateway")
    assert gateway.get_stage(restApiId=api_id, stageName="live")["deploymentId"] == second  # same ids after replay
    assert routes(cloud, api_id) == {("/v2/health/ready", "GET")}


def test_deleting_the_stack_removes_the_stage_then_the_api(cloud: Cloud) -> None:
    api_id = cloud.stack("s", api("DeploymentA"))["Outputs"][0]["OutputValue"]
    stack_id = cloud.client("cloudformation").describe_stacks(StackName="s")["Stacks"][0]["StackId"]
    cloud.client("cloudformation").delete_stack(StackName="s")
    deleted = [logical for logical, status in cloud.events(stack_id) if status == "DELETE_COMPLETE"]
    assert deleted.index("Stage") < deleted.index("Api")
    gateway = cloud.client("apigateway")
    with pytest.raises(gateway.exceptions.NotFoundException):
        gateway.get_rest_api(restApiId=api_id)
