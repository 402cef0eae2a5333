"""Change sets as CloudFormation runs them: dependency order, events, rollback, outputs; ordered deletes."""

from __future__ import annotations

import copy
from typing import Any

from tests.functional.cloud.conftest import IMAGE, Cloud, outputs, versioned


def broken(template: dict[str, Any]) -> dict[str, Any]:
    """The template with an alias that names a version that does not exist: it fails to create."""
    bad = copy.deepcopy(template)
    bad["Resources"]["Broken"] = {"Type": "AWS::Lambda::Alias",
                                  "Properties": {"Name": "broken", "FunctionName": {"Ref": "Function"}, "FunctionVersion": "99"}}  # fmt: skip
    return bad


def test_a_create_runs_in_dependency_order_with_an_event_per_resource(cloud: Cloud) -> None:
    stack = cloud.stack("s", versioned("one", "VersionOne"))
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    done = [logical for logical, status in cloud.events("s") if status == "CREATE_COMPLETE"]
    assert done == ["Role", "Function", "VersionOne", "Alias", "s"]
    started = [logical for logical, status in cloud.events("s") if status == "CREATE_IN_PROGRESS"]
    assert started == ["s", "Role", "Function", "VersionOne", "Alias"]


def test_an_update_sets_the_new_image_before_it_publishes_the_version(cloud: Cloud) -> None:
    """moto added before it modified: the new version was published with the old image."""
    cloud.stack("s", versioned("one", "VersionOne"))
    stack = cloud.stack("s", versioned("two", "VersionTwo"))
    assert outputs(stack)["Version"] == "2"
    image = cloud.client("lambda").get_function(FunctionName="model", Qualifier="2")["Code"]["ImageUri"]
    assert image == IMAGE.format(tag="two")


def test_a_failed_create_rolls_back_and_says_which_resource_failed_and_why(cloud: Cloud) -> None:
    stack = cloud.stack("s", broken(versioned("one", "VersionOne")))
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    cfn = cloud.client("cloudformation")
    events = cfn.describe_stack_events(StackName="s")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Broken"] and failed[0]["ResourceStatusReason"]
    assert ("Function", "DELETE_COMPLETE") in cloud.events("s")
    assert cloud.client("lambda").list_functions()["Functions"] == []


def test_a_failed_update_rolls_back_to_the_previous_template_and_its_outputs(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    stack = cloud.stack("s", broken(versioned("two", "VersionTwo")))
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert outputs(stack)["Version"] == "1"
    lam = cloud.client("lambda")
    assert lam.get_alias(FunctionName="model", Name="live")["FunctionVersion"] == "1"
    assert lam.get_function(FunctionName="model")["Code"]["ImageUri"] == IMAGE.format(tag="one")
    statuses = [status for logical, status in cloud.events("s") if logical == "s"]
    assert statuses[-3:] == ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]

    cloud.restart()  # a failed update and its rollback replay to the same state
    stack = cloud.client("cloudformation").describe_stacks(StackName="s")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE" and outputs(stack)["Version"] == "1"
    assert cloud.client("lambda").get_alias(FunctionName="model", Name="live")["FunctionVersion"] == "1"


def test_delete_goes_dependents_first_and_keeps_retained_versions(cloud: Cloud) -> None:
    cloud.stack("s", versioned("one", "VersionOne"))
    cfn = cloud.client("cloudformation")
    stack_id = cfn.describe_stacks(StackName="s")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="s")
    deleted = [logical for logical, status in cloud.events(stack_id) if status == "DELETE_COMPLETE"]
    assert deleted == ["Alias", "Function", "Role", "s"]  # VersionOne: DeletionPolicy Retain, forgotten
    assert cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"][0]["StackId"] == stack_id
