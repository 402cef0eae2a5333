"""The alarms that roll a deployment back, and the role CodeDeploy shifts traffic with.

SAM turns `AutoPublishAlias` + `DeploymentPreference` into a new `AWS::Lambda::Version` per
deploy, the `live` alias with a CodeDeploy update policy, and a deployment group that watches
the alarms listed here: if one goes to ALARM while traffic shifts, CodeDeploy moves all traffic
back to the old version and the stack update fails.

Which metrics. An alarm that rolls back must see *the new version*, and must see it fail in
every way it can fail:

- Lambda's own metrics carry `ExecutedVersion` for invocations through an alias, so
  `FunctionName + Resource=<fn>:live + ExecutedVersion=<new version>` counts the new version's
  traffic only, for code-only changes too. They also see what the handler cannot report:
  crashes, timeouts, out-of-memory, init failures (no EMF line is written then, so an alarm on
  the handler's metrics alone would stay green while every request fails). The version number
  comes from `!GetAtt ModelFunction.Version.Version`, which SAM resolves to the version it
  publishes in this very deploy: the alarm moves to the new version in the same stack update
  (it depends on the version resource), seconds after it exists, while the first traffic step
  lasts minutes.
- But the handler turns its own failures into HTTP responses (500 ModelFailure/Internal, 503
  ModelUnavailable when the model did not load): Lambda counts those as successful
  invocations. The handler's EMF `Errors` by `kind` does count them, with dimensions model,
  version (the manifest's content hash) and service. They are divided by the handler's own
  request count (`RequestMs` SampleCount, same dimensions), never by Lambda's per-version
  invocations: for a code-only change the model version is shared with the old Lambda
  version, and mixing denominators would turn the old version's steady errors into a false
  rollback. 4xx kinds (a client's bad request) are not the deployment's fault and are left out.

So the error-rate alarm is metric math: MAX(Lambda error % of the new version, handler 5xx % of
the model version), in percent, against `deployment.alarms.error_rate_percent`. Latency is the
p99 of Lambda's `Duration` for the new version (the handler's `RequestMs` cannot see a timeout
and is not per Lambda version), against `deployment.alarms.p99_latency_ms`.

Both alarms: 1-minute periods, 2 breaching of the last 3, so an alarm fires 2-3 minutes into a
failure: inside the 5 minutes of the shortest canary and the 10 of the fastest linear shift.
Missing data is not breaching (a canary with no traffic must not roll back). With `AllAtOnce`
all traffic moves at once and the deployment ends: the alarms get no window (config warns).

The drift alarm is not a deployment alarm: drift is about the inputs the world sends, not the new
version's fault, so it is left out of the deployment preference (and of CodeDeploy's role) and
never rolls anything back; it tells someone to look. It watches `DriftPSIMax` of the deployed
model version (functions/drift.py: the largest per-feature PSI of a window), Maximum over
5-minute periods, ALARM when one of the last 3 is above `monitoring.psi_threshold`: a window is
at least DRIFT_MIN_ROWS rows, so one breaching datapoint is a shift, not noise, and the alarm
stays up 15 minutes after the last one. One metric instead of metric math over every feature's
DriftPSI: an alarm may combine at most 10 metrics, and a model may have 100 monitored features
(the dashboard's drift widget shows which feature it is). Made only when the manifest has a drift
baseline and `monitoring.drift` is on; missing data is not breaching.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Mapping

from deployer.config import DeployConfig
from deployer.template.names import (
    ALIAS_RESOURCE,
    DEPLOY_ROLE,
    DRIFT_ALARM,
    DRIFT_ALARM_NAME,
    ERROR_RATE_ALARM,
    ERROR_RATE_ALARM_NAME,
    FUNCTION,
    FUNCTION_NAME,
    GOLDEN_HOOK,
    GOLDEN_HOOK_NAME,
    LATENCY_ALARM,
    LATENCY_ALARM_NAME,
    HandlerSeries,
    arn,
    getatt,
    ref,
    sub,
)
from functions.series import drift_features

__all__ = ["SERVER_ERROR_KINDS", "alarm_resources", "deployment_preference", "deployment_role", "has_drift"]

# functions/errors.py kinds with a 5xx status: the deployment's fault, not the caller's.
SERVER_ERROR_KINDS = ("Internal", "ModelFailure", "ModelUnavailable", "GatewayTimeout")  # 10 metrics: the most an alarm may have

PERIOD_S = 60
EVALUATION_PERIODS = 3
DATAPOINTS_TO_ALARM = 2
DRIFT_PERIOD_S = 300
DRIFT_EVALUATION_PERIODS = 3
DRIFT_DATAPOINTS_TO_ALARM = 1


def _version_dimensions() -> list[dict[str, Any]]:
    """The new version's traffic through the alias."""
    return [
        {"Name": "FunctionName", "Value": sub(FUNCTION_NAME)},
        {"Name": "Resource", "Value": sub(ALIAS_RESOURCE)},
        {"Name": "ExecutedVersion", "Value": getatt(f"{FUNCTION}.Version", "Version")},
    ]


def _stat(metric_id: str, namespace: str, name: str, stat: str, dims: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dims},
            "Period": PERIOD_S,
            "Stat": stat,
        },
        "ReturnData": False,
    }


def _error_rate_alarm(config: DeployConfig, series: HandlerSeries) -> dict[str, Any]:
    namespace = series.namespace
    metrics = [
        _stat("invocations", "AWS/Lambda", "Invocations", "Sum", _version_dimensions()),
        _stat("lambdaerrors", "AWS/Lambda", "Errors", "Sum", _version_dimensions()),
        _stat("requests", namespace, "RequestMs", "SampleCount", series.dimensions()),
    ]
    kinds = []
    for i, kind in enumerate(SERVER_ERROR_KINDS):
        metric_id = f"kind{i}"
        kinds.append(f"FILL({metric_id}, 0)")
        metrics.append(
            _stat(metric_id, namespace, "Errors", "Sum", series.dimensions(kind=kind))
        )
    metrics += [
        {
            "Id": "lambdarate",
            "Expression": "100 * FILL(lambdaerrors, 0) / invocations",
            "Label": "Lambda errors of the new version (%)",
            "ReturnData": False,
        },
        {
            "Id": "handlerrate",
            "Expression": f"100 * ({' + '.join(kinds)}) / requests",
            "Label": "Handler 5xx of the model version (%)",
            "ReturnData": False,
        },
        {
            "Id": "errorrate",
            "Expression": "MAX([lambdarate, handlerrate])",
            "Label": "Error rate (%)",
            "ReturnData": True,
        },
    ]
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": sub(ERROR_RATE_ALARM_NAME),
            "AlarmDescription": (
                f"Rolls back a deployment of {config.name}: more than "
                f"{config.deployment.alarms.error_rate_percent:g}% of requests failing (Lambda errors of the "
                f"new version, or handler 5xx of model version {series.version})"
            ),
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": config.deployment.alarms.error_rate_percent,
            "EvaluationPeriods": EVALUATION_PERIODS,
            "DatapointsToAlarm": DATAPOINTS_TO_ALARM,
            "TreatMissingData": "notBreaching",
            "Metrics": metrics,
        },
    }


def _latency_alarm(config: DeployConfig) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": sub(LATENCY_ALARM_NAME),
            "AlarmDescription": (
                f"Rolls back a deployment of {config.name}: p99 duration of the new version above "
                f"{config.deployment.alarms.p99_latency_ms} ms"
            ),
            "Namespace": "AWS/Lambda",
            "MetricName": "Duration",
            "Dimensions": _version_dimensions(),
            "ExtendedStatistic": "p99",
            "Period": PERIOD_S,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": config.deployment.alarms.p99_latency_ms,
            "EvaluationPeriods": EVALUATION_PERIODS,
            "DatapointsToAlarm": DATAPOINTS_TO_ALARM,
            "TreatMissingData": "notBreaching",
        },
    }


def has_drift(config: DeployConfig, manifest: Mapping[str, Any] | None) -> bool:
    """Whether the handler will emit DriftPSIMax for this manifest and config."""
    return bool(manifest) and config.monitoring.drift and bool(
        drift_features(manifest, config.monitoring.max_features))  # type: ignore[arg-type]


def _drift_alarm(config: DeployConfig, series: HandlerSeries) -> dict[str, Any]:
    threshold = config.monitoring.psi_threshold
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": sub(DRIFT_ALARM_NAME),
            "AlarmDescription": (
                f"Input drift of {config.name} (model version {series.version}): a monitored feature's population "
                f"stability index above {threshold:g} against the training baseline (DriftPSIMax; the dashboard's "
                "drift widget names the feature). Not a deployment alarm: it rolls nothing back"
            ),
            "Namespace": series.namespace,
            "MetricName": "DriftPSIMax",
            "Dimensions": series.dimensions(),
            "Statistic": "Maximum",
            "Period": DRIFT_PERIOD_S,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold,
            "EvaluationPeriods": DRIFT_EVALUATION_PERIODS,
            "DatapointsToAlarm": DRIFT_DATAPOINTS_TO_ALARM,
            "TreatMissingData": "notBreaching",
        },
    }


def alarm_resources(config: DeployConfig, series: HandlerSeries,
                    manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    resources = {
        ERROR_RATE_ALARM: _error_rate_alarm(config, series),
        LATENCY_ALARM: _latency_alarm(config),
    }
    if has_drift(config, manifest):
        resources[DRIFT_ALARM] = _drift_alarm(config, series)
    return resources


def deployment_preference(config: DeployConfig) -> dict[str, Any]:
    return {
        "Type": config.deployment.type,
        "Alarms": [ref(ERROR_RATE_ALARM), ref(LATENCY_ALARM)],
        "Hooks": {"PreTraffic": ref(GOLDEN_HOOK)},  # the golden set, before any traffic (hooks.py)
        "Role": getatt(DEPLOY_ROLE, "Arn"),
    }


def deployment_role() -> dict[str, Any]:
    """CodeDeploy's service role, scoped to this function and these alarms.

    SAM's default role attaches the managed AWSCodeDeployRoleForLambda (every alias and alarm
    in the account, SNS, S3, hook functions). CodeDeploy needs, for a deployment without hooks
    or triggers: read and move the alias, read provisioned concurrency, read the alarms' state.
    Names, not Refs, so the role does not depend on the function or the alarms.
    """
    function = f"function:{FUNCTION_NAME}"
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "CodeDeploy shifts traffic between versions of this stack's model function",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "codedeploy.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "shift-traffic",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "lambda:GetAlias",
                                    "lambda:UpdateAlias",
                                    "lambda:GetProvisionedConcurrencyConfig",
                                ],
                                "Resource": [arn("lambda", function), arn("lambda", function + ":*")],
                            },
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": arn("lambda", f"function:{GOLDEN_HOOK_NAME}"),
                            },
                            {
                                "Effect": "Allow",
                                "Action": "cloudwatch:DescribeAlarms",
                                "Resource": [
                                    arn("cloudwatch", f"alarm:{ERROR_RATE_ALARM_NAME}"),
                                    arn("cloudwatch", f"alarm:{LATENCY_ALARM_NAME}"),
                                ],
                            },
                        ],
                    },
                }
            ],
        },
    }
