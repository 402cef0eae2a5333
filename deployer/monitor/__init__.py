"""deployer.monitor: what a deployed model did, read back — metrics, logs, Prometheus.

    api.py          run_metrics / run_logs / follow_logs: options → clients → one report (the CLI's calls)
    stack.py        the stack's function, log group, model, EMF namespace, Lambda version → model version
    metrics.py      ListMetrics discovery, GetMetricData in batches of 500 through the paginator
    report.py       MetricsReport / VersionReport: typed results, the measure names, `build` (pure)
    timespec.py     --since / --period, the window aligned to whole periods
    plot.py         --plot FILE.png (matplotlib, Agg, imported only then), written atomically
    tensorboard.py  --tensorboard DIR: one run per version (TensorBoard's own event writer)
    logs.py         FilterLogEvents → classified lines; one request's lines; --follow
    prometheus.py   GatewayMetrics: the local gateway's GET /metrics (prometheus_client, own registry)
    errors.py       MonitorError and its subclasses

The same code reads AWS and the local cloud (whose CloudWatch holds its functions' output and
metrics); every AWS client comes in from api.py, so the readers run against moto in tests.
matplotlib, tensorboard and prometheus_client are the `monitor` extra, imported only when used.
"""

from __future__ import annotations

from deployer.monitor.api import (
    LogsRequest,
    LogsResult,
    MetricsRequest,
    MonitorOptions,
    follow_logs,
    run_logs,
    run_metrics,
)
from deployer.monitor.errors import MonitorError, NoLogs, NoMetrics, OutputError, StackNotFound
from deployer.monitor.logs import LogLine
from deployer.monitor.report import DriftValue, Latency, MetricsReport, VersionReport

__all__ = [
    "DriftValue",
    "Latency",
    "LogLine",
    "LogsRequest",
    "LogsResult",
    "MetricsReport",
    "MetricsRequest",
    "MonitorError",
    "MonitorOptions",
    "NoLogs",
    "NoMetrics",
    "OutputError",
    "StackNotFound",
    "VersionReport",
    "follow_logs",
    "run_logs",
    "run_metrics",
]
