"""Logical ids, fixed names and intrinsic-function helpers shared by the template's parts.

Logical ids do not depend on the model: renaming a model or changing its config updates the
same resources in place instead of replacing them. Names that AWS sees are derived from the
stack name (`${AWS::StackName}`), so two stacks of the same template never collide, and so the
role policies can name the function and the alarms without a `Ref` to them (a `Ref` from the
CodeDeploy role to the function would be a dependency cycle: the function's deployment
preference names that role).
"""

from __future__ import annotations

from functions.manifest import MODEL_DIR

from typing import Any, NamedTuple

__all__ = [
    "HandlerSeries",
    "ALIAS",
    "API",
    "DASHBOARD",
    "DEPLOY_ROLE",
    "DRIFT_ALARM",
    "DRIFT_ALARM_NAME",
    "ERROR_RATE_ALARM",
    "FUNCTION",
    "FUNCTION_ROLE",
    "GOLDEN_HOOK",
    "GOLDEN_HOOK_NAME",
    "GOLDEN_HOOK_ROLE",
    "IMAGE_URI",
    "LATENCY_ALARM",
    "LOG_GROUP",
    "MODEL_PATH",
    "arn",
    "getatt",
    "ref",
    "sub",
]

# Parameters
IMAGE_URI = "ImageUri"

# Resources
FUNCTION = "ModelFunction"
FUNCTION_ROLE = "ModelFunctionRole"
LOG_GROUP = "ModelFunctionLogGroup"
API = "ModelApi"
ERROR_RATE_ALARM = "ErrorRateAlarm"
LATENCY_ALARM = "LatencyAlarm"
DRIFT_ALARM = "DriftAlarm"  # not a deployment alarm (alarms.py)
DEPLOY_ROLE = "DeploymentRole"
DASHBOARD = "Dashboard"
GOLDEN_HOOK = "GoldenSetHook"  # the PreTraffic hook function (hooks.py)
GOLDEN_HOOK_ROLE = "GoldenSetHookRole"

# The alias SAM publishes on every deploy (AutoPublishAlias); the API always calls it.
ALIAS = "live"
# Where the image puts model.onnx + manifest.json (functions/model.py DEFAULT_MODEL_PATH).
MODEL_PATH = MODEL_DIR  # functions/manifest.py holds the model-folder contract

# Names AWS sees, as Fn::Sub strings.
FUNCTION_NAME = "${AWS::StackName}"
ALIAS_RESOURCE = "${AWS::StackName}:" + ALIAS
LOG_GROUP_NAME = "/aws/lambda/${AWS::StackName}"
ERROR_RATE_ALARM_NAME = "${AWS::StackName}-error-rate"
LATENCY_ALARM_NAME = "${AWS::StackName}-p99-latency"
DRIFT_ALARM_NAME = "${AWS::StackName}-drift"
DASHBOARD_NAME = "${AWS::StackName}"
GOLDEN_HOOK_NAME = "CodeDeployHook_${AWS::StackName}-golden"  # SAM's convention for hook functions


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def getatt(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def arn(service: str, resource: str) -> dict[str, Any]:
    """An ARN in this stack's partition, region and account, as an Fn::Sub."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


class HandlerSeries(NamedTuple):
    """Where the handler's EMF metrics land (functions/metrics.py RequestMetrics).

    `model` and `version` are the manifest's (the handler reads them from the model it loaded),
    `service` is POWERTOOLS_SERVICE_NAME (the config's name, by default the same as the model's).
    """

    namespace: str
    model: str
    version: str
    service: str

    def dimensions(self, **extra: str) -> list[dict[str, str]]:
        dims = {"model": self.model, "version": self.version, "service": self.service, **extra}
        return [{"Name": key, "Value": value} for key, value in dims.items()]
