"""AWS::Lambda::Version: moto's model exists, but lacks two things our templates need.

- `Fn::GetAtt [Version, Version]` (the alias names its version that way): moto's LambdaVersion
  has no CloudFormation attributes; `get_cfn_attribute("Version")` is added.
- A published version keeps its own image. moto's `LambdaStorage.publish_version` gives the new
  version the same `code` dict object as $LATEST, so the next UpdateFunctionCode rewrote every
  older version's ImageUri too (a rollback then served the new model). The published version
  gets its own copy.

`patch()` is idempotent; it is what `install()` calls.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.awslambda.models import LambdaStorage, LambdaVersion
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

__all__ = ["patch"]

_original_publish = LambdaStorage.publish_version


_original_create = LambdaVersion.create_from_cloudformation_json


def patch() -> None:
    LambdaVersion.create_from_cloudformation_json = classmethod(_create)  # type: ignore[method-assign, assignment]
    LambdaVersion.physical_resource_id = property(lambda self: getattr(self, "arn", ""))  # type: ignore[assignment]
    LambdaVersion.get_cfn_attribute = _get_cfn_attribute  # type: ignore[attr-defined]
    LambdaVersion.has_cfn_attr = classmethod(_has_cfn_attr)  # type: ignore[assignment]
    LambdaStorage.publish_version = _publish_version  # type: ignore[method-assign]


def _create(cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
            **kwargs: Any) -> Any:  # fmt: skip
    """moto's, plus the version ARN as the physical id (CloudFormation's), which push and status read."""
    version = _original_create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)  # type: ignore[attr-defined]
    name = str(cloudformation_json["Properties"]["FunctionName"])
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[1].split(":", 1)[0]
    version.arn = f"arn:aws:lambda:{region_name}:{account_id}:function:{name}:{version.version}"
    return version


def _has_cfn_attr(cls: type, attr: str) -> bool:
    return attr == "Version"


def _get_cfn_attribute(self: Any, attribute_name: str) -> str:
    if attribute_name == "Version":
        return str(self.version)
    raise UnformattedGetAttTemplateException()


def _publish_version(self: Any, name_or_arn: str, description: str = "") -> Any:
    published = _original_publish(self, name_or_arn, description)
    if published is not None:
        latest = self._functions.get(published.function_name, {}).get("latest")
        if latest is not None and published is not latest and published.code is latest.code:
            published.code = copy.deepcopy(latest.code)
    return published
