"""AWS::CodeDeploy::Application and ::DeploymentGroup through CloudFormation; their ids survive a replay."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.cloud.conftest import Cloud

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Application": {"Type": "AWS::CodeDeploy::Application", "Properties": {"ComputePlatform": "Lambda"}},
        "Group": {
            "Type": "AWS::CodeDeploy::DeploymentGroup",
            "Properties": {
                "ApplicationName": {"Ref": "Application"}, "ServiceRoleArn": "arn:aws:iam::123456789012:role/deploy",
                "DeploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
                "DeploymentStyle": {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
            },
        },  # fmt: skip
    },
    "Outputs": {"Application": {"Value": {"Ref": "Application"}}, "Group": {"Value": {"Ref": "Group"}}},
}


def names(cloud: Cloud) -> tuple[str, str]:
    found = {o["OutputKey"]: o["OutputValue"] for o in cloud.client("cloudformation").describe_stacks(StackName="s")["Stacks"][0]["Outputs"]}
    return found["Application"], found["Group"]


def test_the_application_and_group_are_stored_and_their_ids_survive_a_restart(cloud: Cloud) -> None:
    assert cloud.stack("s", TEMPLATE)["StackStatus"] == "CREATE_COMPLETE", cloud.events("s")
    application, group = names(cloud)
    assert application.startswith("s-Application-")
    codedeploy = cloud.client("codedeploy")
    app = codedeploy.get_application(applicationName=application)["application"]
    got = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)["deploymentGroupInfo"]
    assert app["computePlatform"] == "Lambda"
    assert got["deploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"

    cloud.restart()
    codedeploy = cloud.client("codedeploy")
    assert codedeploy.get_application(applicationName=application)["application"]["applicationId"] == app["applicationId"]
    again = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)["deploymentGroupInfo"]
    assert again["deploymentGroupId"] == got["deploymentGroupId"]


def test_deleting_the_stack_deletes_both(cloud: Cloud) -> None:
    cloud.stack("s", TEMPLATE)
    application, _ = names(cloud)
    cloud.client("cloudformation").delete_stack(StackName="s")
    codedeploy = cloud.client("codedeploy")
    with pytest.raises(codedeploy.exceptions.ApplicationDoesNotExistException):
        codedeploy.get_application(applicationName=application)
