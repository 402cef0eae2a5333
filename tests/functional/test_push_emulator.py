"""push, status, rollback, delete against the local target's emulator (extended moto), CLI as a subprocess.

Here CloudFormation has what moto lacks (alias, stage, CodeDeploy, alarms, ordering, rollback),
so versions, the alias and a failed update's rollback can be checked for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.functional.conftest import boto, cli, model_variant
from tests.functional.failing_models import FAIL_NAMESPACE, failing_dashboards, undeletable_dashboards

PUSH = ("push", "--target", "aws", "--builder", "files", "--json")


def alias_version(url: str) -> str:
    return str(boto("lambda", url).get_alias(FunctionName="onnx-iris", Name="live")["FunctionVersion"])


def test_a_model_change_publishes_a_version_and_rollback_moves_the_alias_back(emulator: Any, project: Path, tmp_path: Path) -> None:
    url = emulator.url
    first = cli(PUSH[0], str(model_variant(tmp_path, "one")), *PUSH[1:], project=project, endpoint=url)
    assert first.code == 0, first.stderr
    one = first.json()
    assert (one["status"], one["alias"], one["function_version"]) == ("CREATE_COMPLETE", "live", "1")
    assert one["left_out"] == [] and "emulator" in one["smoke_test"]["reason"]
    assert one["url"].endswith("/live/") and one["outputs"]["AliasArn"].endswith(":onnx-iris:live")

    second = cli(PUSH[0], str(model_variant(tmp_path, "two")), *PUSH[1:], project=project, endpoint=url)
    assert second.code == 0, second.stderr
    two = second.json()
    assert (two["status"], two["function_version"]) == ("UPDATE_COMPLETE", "2")
    assert [l["role"] for l in two["layers"] if l["uploaded"]] == ["model"]
    assert "ModelFunction (AWS::Lambda::Function)" in two["change_set"]["modified"]
    lam = boto("lambda", url)
    assert lam.get_function(FunctionName="onnx-iris", Qualifier="2")["Code"]["ImageUri"] == two["image_uri"]

    status = cli("status", "--stack-name", "onnx-iris", "--json", project=project, endpoint=url)
    assert status.code == 0, status.stderr
    assert status.json()["function_version"] == "2" and status.json()["status"] == "UPDATE_COMPLETE"

    back = cli("rollback", "--stack-name", "onnx-iris", "--json", project=project, endpoint=url)
    assert back.code == 0, back.stderr
    assert (back.json()["from"], back.json()["to"]) == ("2", "1")
    assert alias_version(url) == "1"
    assert back.json()["image_uri"] == one["image_uri"]


def test_a_failing_resource_rolls_back_and_the_previous_version_keeps_serving(emulator: Any, project: Path, tmp_path: Path) -> None:
    url = emulator.url
    first = cli(PUSH[0], str(model_variant(tmp_path, "one")), *PUSH[1:], project=project, endpoint=url)
    assert first.code == 0, first.stderr
    before = first.json()

    with failing_dashboards():
        failed = cli(PUSH[0], str(model_variant(tmp_path, "two")), *PUSH[1:], project=project, endpoint=url,
                     ONNX_LAMBDA_METRICS_NAMESPACE=FAIL_NAMESPACE)  # fmt: skip
    assert failed.code == 5, failed.stderr
    assert "Traceback" not in failed.stderr
    assert "UPDATE_FAILED Dashboard (AWS::CloudWatch::Dashboard): Dashboard body names the namespace" in failed.stderr
    error = failed.json()["error"]
    assert "rolled it back (UPDATE_ROLLBACK_COMPLETE)" in error and "previous version keeps serving" in error
    stack = boto("cloudformation", url).describe_stacks(StackName="onnx-iris")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert boto("lambda", url).get_function(FunctionName="onnx-iris")["Code"]["ImageUri"] == before["image_uri"]
    assert alias_version(url) == before["function_version"]

    fixed = cli(PUSH[0], str(model_variant(tmp_path, "two")), *PUSH[1:], project=project, endpoint=url)
    assert fixed.code == 0, fixed.stderr
    assert fixed.json()["status"] == "UPDATE_COMPLETE" and alias_version(url) != before["function_version"]


def test_delete_keeps_images_unless_asked(emulator: Any, project: Path, tmp_path: Path) -> None:
    url = emulator.url
    model = model_variant(tmp_path, "one")
    assert cli(PUSH[0], str(model), *PUSH[1:], project=project, endpoint=url).code == 0
    gone = cli("delete", str(model), "--json", project=project, endpoint=url)
    assert gone.code == 0, gone.stderr
    assert gone.json() == {"stack": "onnx-iris", "deleted": True, "images_deleted": False, "repository": "iris"}
    assert boto("ecr", url).describe_images(repositoryName="iris")["imageDetails"]
    cfn = boto("cloudformation", url)
    stacks = cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])
    assert not stacks["StackSummaries"]
    deleted = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"][0]["StackId"]
    events = cfn.describe_stack_events(StackName=deleted)["StackEvents"][::-1]  # oldest first
    order = [e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "DELETE_COMPLETE"]
    # dependents first, whatever the process's hash seed (moto walked a set; the alias failed after its function)
    assert order.index("ModelFunctionAliaslive") < order.index("ModelFunction") < order.index("ModelFunctionRole")
    assert not [i for i in order if i.startswith("ModelFunctionVersion") and "Permission" not in i]  # SAM: Retain
    assert order.index("ModelApiliveStage") < order.index("ModelApi") and order[-1] == "onnx-iris"
    again = cli("delete", str(model), project=project, endpoint=url)
    assert again.code != 0 and "no stack onnx-iris" in again.stderr and "Traceback" not in again.stderr


def test_a_resource_that_cannot_be_deleted_fails_the_delete_clearly(emulator: Any, project: Path, tmp_path: Path) -> None:
    url = emulator.url
    model = model_variant(tmp_path, "one")
    assert cli(PUSH[0], str(model), *PUSH[1:], project=project, endpoint=url).code == 0
    with undeletable_dashboards():
        stuck = cli("delete", str(model), "--json", project=project, endpoint=url)
    assert stuck.code != 0 and "Traceback" not in stuck.stderr
    error = stuck.json()["error"]
    assert "deleting onnx-iris failed (DELETE_FAILED)" in error
    assert "Dashboard (AWS::CloudWatch::Dashboard) DELETE_FAILED: Dashboard onnx-iris cannot be deleted" in error
    stack = boto("cloudformation", url).describe_stacks(StackName="onnx-iris")["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"

    again = cli("delete", str(model), "--json", project=project, endpoint=url)  # the cause fixed: a retry finishes
    assert again.code == 0, again.stderr
    assert again.json()["deleted"] is True
