"""The planners: describe calls in, a list of APICall records out; no cloud at all."""

from __future__ import annotations

import pytest

from deployer.aws.cloudformation import ChangeSetSummary
from deployer.deploy.errors import ConcurrentPushError, StackStateError
from deployer.deploy.plan import APICall, plan_image, plan_stack
from tests.unit.deploy.fakes import FakeCfn, FakeEcr, artifact

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def methods(calls: tuple[APICall, ...]) -> list[tuple[str, str]]:
    return [call.brief() for call in calls]


def test_a_new_repository_gets_everything_in_order() -> None:
    image = artifact()
    ecr = FakeEcr(repository=False)
    plan = plan_image(ecr, image, "iris", registry_uri=REGISTRY, tags={"onnx-lambda:model": "iris"})
    assert methods(plan.calls) == [("ecr", "create_repository")] + [("ecr", "upload_blob")] * 4 + [("ecr", "put_image")]
    assert [c.params["digest"] for c in plan.calls[1:5]] == [b.digest for b in image.blobs]
    assert plan.calls[0].params["tags"] == {"onnx-lambda:model": "iris"}
    assert plan.upload_bytes == 1230  # layers only: the config blob is not a layer
    assert plan.image_uri == f"{REGISTRY}/iris:{image.tag}"
    assert ecr.calls == [("describe_repository", "iris")]  # nothing else can be asked of a missing repository


def test_an_unchanged_image_plans_no_call() -> None:
    image = artifact()
    ecr = FakeEcr(layers=[b.digest for b in image.blobs], tags=[image.tag])
    plan = plan_image(ecr, image, "iris", registry_uri=REGISTRY)
    assert plan.calls == ()
    assert plan.upload_bytes == 0 and plan.image_exists and not plan.changes_anything


def test_a_changed_model_uploads_only_the_model_layer_and_the_config() -> None:
    old, new = artifact("b"), artifact("d")
    ecr = FakeEcr(layers=[b.digest for b in old.blobs], tags=[old.tag])
    plan = plan_image(ecr, new, "iris", registry_uri=REGISTRY)
    uploads = [c.params["digest"] for c in plan.calls if c.method == "upload_blob"]
    assert uploads == [new.layers[1].digest, new.config.digest]
    assert plan.upload_bytes == new.layers[1].size
    assert methods(plan.calls)[-1] == ("ecr", "put_image")
    assert new.tag != old.tag


def test_records_are_frozen() -> None:
    call = APICall("ecr", "put_image", {"tag": "x"})
    with pytest.raises(Exception):
        call.params["tag"] = "y"  # type: ignore[index]


def test_no_stack_is_a_create() -> None:
    plan = plan_stack(FakeCfn(None), "onnx-iris")
    assert (plan.change_set_type, plan.calls) == ("CREATE", ())


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_a_settled_stack_is_an_update(status: str) -> None:
    plan = plan_stack(FakeCfn(status), "onnx-iris")
    assert (plan.change_set_type, plan.calls) == ("UPDATE", ())


@pytest.mark.parametrize("status", ["REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "CREATE_FAILED"])
def test_an_empty_stack_is_deleted_and_created_again(status: str) -> None:
    plan = plan_stack(FakeCfn(status), "onnx-iris")
    assert plan.change_set_type == "CREATE"
    assert methods(plan.calls) == [("cloudformation", "delete_stack")]
    assert plan.recovering and status in plan.recovering[-1]


def test_change_sets_left_by_an_interrupted_push_are_deleted_first() -> None:
    leftovers = [
        ChangeSetSummary("id-1", "deployer-push-20260101-000000-abc", "CREATE_COMPLETE", "AVAILABLE"),
        ChangeSetSummary("id-2", "deployer-push-20260101-000001-abc", "CREATE_COMPLETE", "EXECUTE_COMPLETE"),
        ChangeSetSummary("id-3", "someone-elses", "CREATE_COMPLETE", "AVAILABLE"),
    ]
    plan = plan_stack(FakeCfn("UPDATE_COMPLETE", leftovers), "onnx-iris")
    assert [(c.method, c.params["change_set_id"]) for c in plan.calls] == [("delete_change_set", "id-1")]


def test_a_running_deployment_is_refused() -> None:
    with pytest.raises(ConcurrentPushError, match="UPDATE_IN_PROGRESS: another deployment is running"):
        plan_stack(FakeCfn("UPDATE_IN_PROGRESS"), "onnx-iris")


def test_our_own_interrupted_deployment_is_waited_for() -> None:
    plan = plan_stack(FakeCfn("UPDATE_IN_PROGRESS"), "onnx-iris", resume_in_progress=True)
    assert methods(plan.calls) == [("cloudformation", "wait_stack")]


def test_update_rollback_failed_gets_guidance_not_a_retry() -> None:
    with pytest.raises(StackStateError, match="continue-update-rollback --stack-name onnx-iris") as info:
        plan_stack(FakeCfn("UPDATE_ROLLBACK_FAILED", reason="Resource X failed"), "onnx-iris")
    assert "Resource X failed" in str(info.value) and "\n" not in str(info.value)
