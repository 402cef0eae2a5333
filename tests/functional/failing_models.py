"""A resource that fails, for failure injection: registered in the in-process emulator by tests only.

`AWS::CloudWatch::Dashboard` is replaced, while the context manager is active, by moto's model
plus one rule: a dashboard whose body names the metrics namespace `FAIL_NAMESPACE` fails to
create or update, as a resource with a bad property fails in CloudFormation. A push with
ONNX_LAMBDA_METRICS_NAMESPACE=FailDeploy therefore fails in the middle of its update.

`undeletable_dashboards()` makes every dashboard fail to delete while it is active, as a
resource CloudFormation cannot remove does (DeleteStack then ends in DELETE_FAILED).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FAIL_NAMESPACE = "FailDeploy"


@contextmanager
def failing_dashboards() -> Iterator[None]:
    from moto.cloudformation import parsing
    from moto.cloudwatch.models import Dashboard

    class FailingDashboard(Dashboard):
        @classmethod
        def _check(cls, cloudformation_json: dict[str, Any]) -> None:
            if FAIL_NAMESPACE in str(cloudformation_json.get("Properties", {}).get("DashboardBody", "")):
                raise ValueError(f"Dashboard body names the namespace {FAIL_NAMESPACE} (injected failure)")

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],  # type: ignore[override]
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:  # fmt: skip
            cls._check(cloudformation_json)
            return Dashboard.create_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name, **kwargs)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,  # type: ignore[override]
                                            cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:  # fmt: skip
            cls._check(cloudformation_json)
            return Dashboard.update_from_cloudformation_json(
                original_resource, new_resource_name, cloudformation_json, account_id, region_name
            )

    models = parsing.get_model_map()
    original = models["AWS::CloudWatch::Dashboard"]
    models["AWS::CloudWatch::Dashboard"] = FailingDashboard
    try:
        yield
    finally:
        models["AWS::CloudWatch::Dashboard"] = original


@contextmanager
def undeletable_dashboards() -> Iterator[None]:
    from moto.cloudwatch.models import Dashboard

    def delete(self: Any, account_id: str, region_name: str) -> None:
        raise ValueError(f"Dashboard {self.name} cannot be deleted (injected failure)")

    Dashboard.delete = delete  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del Dashboard.delete  # type: ignore[attr-defined]
