"""GetMetricData answers percentile statistics (moto answers them with a 500)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from deployer.local.cloud.emulator.cloudwatch_metrics import percentile


def test_percentiles_through_get_metric_data(cloud: Any) -> None:
    cloudwatch = cloud.client("cloudwatch")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    values = [float(v) for v in range(1, 101)]  # 1..100 ms
    for start in range(0, 100, 20):
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": "Duration", "Value": v, "Unit": "Milliseconds", "Timestamp": now,
             "Dimensions": [{"Name": "FunctionName", "Value": "fn"}]} for v in values[start:start + 20]])
    queries = [{"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Duration",
                "Dimensions": [{"Name": "FunctionName", "Value": "fn"}]}, "Period": 60, "Stat": stat}}
               for i, stat in enumerate(["p50", "p99", "p99.9", "Average", "SampleCount"])]
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=now - timedelta(minutes=5),
                                        EndTime=now + timedelta(minutes=5))
    got = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    assert got == {"q0": [50.0], "q1": [99.0], "q2": [100.0], "q3": [50.5], "q4": [100.0]}


def test_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile([1.0, 2.0, 3.0, 4.0], 75) == 3.0


def test_list_metrics_pages_through_more_than_500(cloud: Any) -> None:
    cloudwatch = cloud.client("cloudwatch")
    for start in range(0, 1200, 100):
        cloudwatch.put_metric_data(Namespace="OnnxLambda", MetricData=[
            {"MetricName": "DriftPSI", "Value": 0.1, "Dimensions": [{"Name": "feature", "Value": f"x[{i}]"}]}
            for i in range(start, start + 100)])
    pages = list(cloudwatch.get_paginator("list_metrics").paginate(Namespace="OnnxLambda"))
    assert len(pages) == 3 and sum(len(p["Metrics"]) for p in pages) == 1200
