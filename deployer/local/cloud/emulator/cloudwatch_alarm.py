"""AWS::CloudWatch::Alarm: moto 5.2 has no CloudFormation model for it; this one uses PutMetricAlarm.

A single-metric alarm (what our rollback alarms are) is stored with its metric, statistic,
period, threshold and dimensions, so `DescribeAlarms` answers it and the local cloud can
evaluate it on the local metrics. A metric-math alarm (`Metrics` property) is stored without its
queries: nothing evaluates those locally. Dimensions whose value did not resolve to text (a Ref
moto could not resolve) are dropped. An update replaces the alarm, as PutMetricAlarm does.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel

from deployer.local.cloud.emulator.traffic import forget_alarm, remember_alarm

__all__ = ["AlarmModel"]


class AlarmModel(CloudFormationModel):
    def __init__(self, name: str, arn: str) -> None:
        self.name, self.arn = name, arn

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> AlarmModel:
        props = cloudformation_json["Properties"]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name, namespace=props.get("Namespace", ""), metric_name=props.get("MetricName", ""),
            comparison_operator=props["ComparisonOperator"], evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props.get("Period", 60)), threshold=float(props.get("Threshold", 0)),
            statistic=props.get("Statistic"), description=props.get("AlarmDescription", ""),
            dimensions=[d for d in props.get("Dimensions", []) if isinstance(d.get("Value"), str)],
            alarm_actions=[], datapoints_to_alarm=props.get("DatapointsToAlarm"),
            extended_statistic=props.get("ExtendedStatistic"), treat_missing_data=props.get("TreatMissingData"),
        )  # fmt: skip
        remember_alarm(account_id, region_name, resource_name, props)  # metric math included: traffic.py evaluates it
        return cls(resource_name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource: AlarmModel, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> AlarmModel:  # fmt: skip
        cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.name])
        return cls.create_from_cloudformation_json(original_resource.name, cloudformation_json, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        forget_alarm(account_id, region_name, self.name)
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])
