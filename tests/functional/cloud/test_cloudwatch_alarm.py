"""AWS::CloudWatch::Alarm through CloudFormation: stored whole (what the local cloud evaluates), replaced, deleted."""

from __future__ import annotations

from typing import Any

from tests.functional.cloud.conftest import Cloud, outputs


def template(threshold: float) -> dict[str, Any]:
    return {
        "Resources": {
            "Errors": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmDescription": "errors of the new version", "Namespace": "AWS/Lambda", "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "model"}, {"Name": "Resource", "Value": "model:live"}],
                    "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 1,
                    "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
                },
            },  # fmt: skip
        },
        "Outputs": {"Name": {"Value": {"Ref": "Errors"}}, "Arn": {"Value": {"Fn::GetAtt": ["Errors", "Arn"]}}},
    }


def alarms(cloud: Cloud) -> list[dict[str, Any]]:
    return list(cloud.client("cloudwatch").describe_alarms()["MetricAlarms"])


def test_an_alarm_is_stored_with_its_metric_and_its_arn_is_an_attribute(cloud: Cloud) -> None:
    stack = cloud.stack("s", template(0))
    assert stack["StackStatus"] == "CREATE_COMPLETE", cloud.events("s")
    [alarm] = alarms(cloud)
    assert alarm["AlarmName"] == outputs(stack)["Name"] and alarm["AlarmArn"] == outputs(stack)["Arn"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == ("AWS/Lambda", "Errors", "Sum", 0)
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 2, 1)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"FunctionName": "model", "Resource": "model:live"}


def test_an_update_replaces_the_alarm_and_a_restart_keeps_it(cloud: Cloud) -> None:
    cloud.stack("s", template(0))
    assert cloud.stack("s", template(5))["StackStatus"] == "UPDATE_COMPLETE", cloud.events("s")
    assert [a["Threshold"] for a in alarms(cloud)] == [5]
    cloud.restart()
    assert [a["Threshold"] for a in alarms(cloud)] == [5]


def test_deleting_the_stack_deletes_the_alarm(cloud: Cloud) -> None:
    cloud.stack("s", template(0))
    cloud.client("cloudformation").delete_stack(StackName="s")
    assert alarms(cloud) == []
