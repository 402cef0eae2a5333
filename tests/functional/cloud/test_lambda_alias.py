"""AWS::Lambda::Alias through CloudFormation: created, moved, weighted, deleted, and back after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.functional.cloud.conftest import REGION, Cloud, client, outputs, versioned


def test_a_stack_alias_is_the_alias_lambda_answers(cloud: Cloud) -> None:
    stack = cloud.stack("s", versioned("one", "VersionOne"))
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    alias = cloud.client("lambda").get_alias(FunctionName="model", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert outputs(stack)["AliasArn"] == alias["AliasArn"] and alias["AliasArn"].endswith(":function:model:live")


def test_an_update_moves_the_alias_and_keeps_the_weights_it_is_given(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    routing = {"AdditionalVersionWeights": [{"FunctionVersion": "1", "FunctionWeight": 0.9}]}
    stack = cloud.stack("s", versioned("two", "VersionTwo", RoutingConfig=routing))
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    alias = cloud.client("lambda").get_alias(FunctionName="model", Name="live")
    assert alias["FunctionVersion"] == "2"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.9}}


def test_the_alias_and_its_revision_come_back_after_a_restart(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    cloud.stack("s", versioned("two", "VersionTwo"))
    before = cloud.client("lambda").get_alias(FunctionName="model", Name="live")
    cloud.restart()
    after = cloud.client("lambda").get_alias(FunctionName="model", Name="live")
    assert (after["FunctionVersion"], after["RevisionId"]) == ("2", before["RevisionId"])


def test_deleting_the_stack_deletes_the_alias_before_its_function(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    stack_id = cloud.client("cloudformation").describe_stacks(StackName="s")["Stacks"][0]["StackId"]
    cloud.client("cloudformation").delete_stack(StackName="s")
    deleted = [logical for logical, status in cloud.events(stack_id) if status == "DELETE_COMPLETE"]
    assert deleted.index("Alias") < deleted.index("Function")
    lam = cloud.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName="model", Name="live")


def test_a_deployment_run_inside_an_alias_update_replays_to_the_same_ids(tmp_path: Path) -> None:
    """The daemon's shift runs inside ExecuteChangeSet, moves weights (drawing ids) and records its outcome."""
    from moto.awslambda.models import lambda_backends
    from moto.moto_api._internal import mock_random

    from deployer.local.cloud.emulator import ACCOUNT_ID, EmulatorServer, traffic

    def with_policy(template: dict[str, Any]) -> dict[str, Any]:
        template["Resources"]["Alias"]["UpdatePolicy"] = {
            "CodeDeployLambdaAliasUpdate": {"ApplicationName": "app", "DeploymentGroupName": "group"}
        }
        return template

    shifts: list[str] = []

    def shifter(request: traffic.ShiftRequest) -> dict[str, Any]:
        backend = lambda_backends[ACCOUNT_ID][REGION]
        for weight in (0.9, 0.5):
            backend.update_alias(request.alias, request.function, request.from_version, "",
                                 {"AdditionalVersionWeights": {request.to_version: 1 - weight}})  # fmt: skip
            mock_random.uuid4()  # what a live shift draws (a deployment id, a log stream): not drawn on replay
        outcome = {"outcome": "succeeded"}
        cloud.server.record(traffic.REPLAY_KIND, {"key": request.key, **outcome})
        shifts.append(request.key)
        return outcome

    cloud = Cloud(tmp_path)
    cloud.server.stop()
    cloud.server = EmulatorServer(state_dir=tmp_path)
    cloud.server.on_replay(traffic.REPLAY_KIND, traffic.replayed)
    cloud.server.start()
    traffic.set_shifter(shifter)
    try:
        cloud.stack("s", with_policy(versioned("one", "VersionOne")))
        stack = cloud.stack("s", with_policy(versioned("two", "VersionTwo")))
    finally:
        traffic.set_shifter(None)
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and len(shifts) == 1
    before = (cloud.client("lambda").get_alias(FunctionName="model", Name="live"),
              cloud.client("cloudformation").describe_stack_events(StackName="s")["StackEvents"])  # fmt: skip
    cloud.server.stop()

    again = EmulatorServer(state_dir=tmp_path)
    again.on_replay(traffic.REPLAY_KIND, traffic.replayed)
    with again:
        assert again.replay.diverged == [] and len(shifts) == 1  # the outcome stood in for the shift
        alias = client("lambda", again.url).get_alias(FunctionName="model", Name="live")
        events = client("cloudformation", again.url).describe_stack_events(StackName="s")["StackEvents"]
    assert (alias["FunctionVersion"], alias["RevisionId"]) == ("2", before[0]["RevisionId"])
    assert [e["EventId"] for e in events] == [e["EventId"] for e in before[1]]
