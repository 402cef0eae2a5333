"""`push --target aws` against a bare moto server, as the acceptance check runs it (CLI subprocess).

First push, unchanged re-push, `plan` of a model change (nothing changes), the push of it
(only the model layer is uploaded, the stack is updated).
"""

from __future__ import annotations

from pathlib import Path

from tests.functional.conftest import boto, cli, model_variant


def test_first_push_unchanged_repush_plan_and_model_change(moto_url: str, project: Path, tmp_path: Path) -> None:
    model = model_variant(tmp_path, "one")
    first = cli("push", str(model), "--target", "aws", "--builder", "files", "--json", project=project, endpoint=moto_url)
    assert first.code == 0, first.stderr
    report = first.json()
    assert report["target"] == "aws" and report["stack"] == "onnx-iris" and report["status"] == "CREATE_COMPLETE"
    assert report["changed"] is True and report["uploaded_bytes"] > 0
    assert report["smoke_test"]["status"] == "skipped" and "moto server" in report["smoke_test"]["reason"]
    assert report["url"].startswith("https://") and "/live/" in report["url"]
    repo, tag = report["image_uri"].split("/", 1)[1].split(":", 1)
    images = boto("ecr", moto_url).describe_images(repositoryName=repo)["imageDetails"]
    assert [d["imageTags"] for d in images] == [[tag]]
    repository = boto("ecr", moto_url).describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    stack = boto("cloudformation", moto_url).describe_stacks(StackName="onnx-iris")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "Traceback" not in first.stderr

    again = cli("push", str(model), "--target", "aws", "--builder", "files", "--json", project=project, endpoint=moto_url)
    assert again.code == 0, again.stderr
    unchanged = again.json()
    assert (unchanged["changed"], unchanged["uploaded_bytes"], unchanged["uploaded_config_bytes"]) == (False, 0, 0)
    assert unchanged["image_uri"] == report["image_uri"] and "no changes" in again.stderr

    changed_model = model_variant(tmp_path, "two")
    planned = cli("plan", str(changed_model), "--builder", "files", "--json", project=project, endpoint=moto_url)
    assert planned.code == 0, planned.stderr
    plan = planned.json()
    assert plan["changed"] is True and plan["image_digest"] != report["image_digest"] and not plan["image_exists"]
    assert any("ModelFunction (AWS::Lambda::Function)" == item for item in plan["changes"]["modified"])
    # plan changed nothing: same stack state, no new image, no change set left behind
    cfn = boto("cloudformation", moto_url)
    assert cfn.describe_stacks(StackName="onnx-iris")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert len(boto("ecr", moto_url).describe_images(repositoryName=repo)["imageDetails"]) == 1
    assert not [s for s in cfn.list_change_sets(StackName="onnx-iris")["Summaries"] if s["ChangeSetName"].startswith("deployer-plan-")]

    pushed = cli("push", str(changed_model), "--target", "aws", "--builder", "files", "--json", project=project, endpoint=moto_url)
    assert pushed.code == 0, pushed.stderr
    update = pushed.json()
    model_layers = [l for l in update["layers"] if l["role"] == "model"]
    assert update["uploaded_layers"] == [model_layers[0]["digest"]], (update["layers"], report["layers"])
    assert update["uploaded_bytes"] == model_layers[0]["size"] > 0
    # what plan said would be uploaded is what the push uploaded: the new model layer, nothing else
    assert plan["upload_bytes"] == update["uploaded_bytes"]
    assert plan["image_digest"] == update["image_digest"]
    assert update["status"] == "UPDATE_COMPLETE" and update["changed"] is True
    function = boto("lambda", moto_url).get_function(FunctionName="onnx-iris")
    assert function["Code"]["ImageUri"] == update["image_uri"]
