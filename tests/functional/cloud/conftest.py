"""The local cloud's emulator, tested as AWS clients use it: boto3 against a real EmulatorServer on 127.0.0.1.

`cloud` is a server with a state dir under tmp_path; `cloud.restart()` stops it and starts a new
one on the same state dir (a replay), so every resource kind is also checked to come back.
`stack(...)` deploys a template the way push does: a change set, created then executed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer.local.cloud.emulator import EmulatorServer

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/iris:{tag}"


def client(service: str, url: str) -> Any:
    import boto3

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return session.client(service, region_name=REGION, endpoint_url=url)


class Cloud:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.server = EmulatorServer(state_dir=state).start()

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, service: str) -> Any:
        return client(service, self.url)

    def restart(self) -> EmulatorServer:
        self.server.stop()
        self.server = EmulatorServer(state_dir=self.state).start()
        assert self.server.replay.diverged == []
        return self.server

    def stack(self, name: str, template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
        """Create or update `name` through a change set; the stack's description afterwards."""
        cfn = self.client("cloudformation")
        exists = any(s["StackName"] == name for s in cfn.list_stacks()["StackSummaries"]
                     if s["StackStatus"] != "DELETE_COMPLETE")  # fmt: skip
        change_set = cfn.create_change_set(
            StackName=name, ChangeSetName=f"c{len(cfn.describe_stack_events(StackName=name)['StackEvents']) if exists else 0}",
            TemplateBody=json.dumps(template), ChangeSetType="UPDATE" if exists else "CREATE",
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )  # fmt: skip
        cfn.execute_change_set(ChangeSetName=change_set["Id"])
        return dict(cfn.describe_stacks(StackName=name)["Stacks"][0])

    def events(self, stack: str) -> list[tuple[str, str]]:
        """(logical id, status) of the stack's events, oldest first."""
        events = self.client("cloudformation").describe_stack_events(StackName=stack)["StackEvents"][::-1]
        return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    running = Cloud(tmp_path / "state")
    try:
        yield running
    finally:
        running.server.stop()


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def role() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
        },
    }


def function(tag: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": "model", "PackageType": "Image", "Code": {"ImageUri": IMAGE.format(tag=tag)},
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        },
    }  # fmt: skip


def versioned(tag: str, version_id: str, **alias_properties: Any) -> dict[str, Any]:
    """Function + Version (named per image, retained, as SAM writes them) + alias `live` on it."""
    return {
        "Resources": {
            "Role": role(),
            "Function": function(tag),
            version_id: {"Type": "AWS::Lambda::Version", "DeletionPolicy": "Retain",
                         "Properties": {"FunctionName": {"Ref": "Function"}}},  # fmt: skip
            "Alias": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {"Name": "live", "FunctionName": {"Ref": "Function"},
                               "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]}, **alias_properties},  # fmt: skip
            },
        },
        "Outputs": {
            "AliasArn": {"Value": {"Ref": "Alias"}},
            "Version": {"Value": {"Fn::GetAtt": [version_id, "Version"]}},
        },
    }
