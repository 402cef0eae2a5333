"""The entry points the CLI calls for `metrics` and `logs`; every object is built here.

    run_metrics(options, request)  → MetricsReport (and the --plot / --tensorboard files, written whole)
    run_logs(options, request)     → LogsResult
    follow_logs(options, request, on_line, until=...) → lines shown, polled until `until()` or Ctrl-C

Where they read is decided as for every verb (deployer.deploy.api): `--target aws` (or
credentials, a profile, AWS_ENDPOINT_URL) reads CloudWatch through boto3's session, else the
project's local cloud (started when it does not run), whose CloudWatch holds what its functions
printed and measured. The stack is `--stack-name`, else the model folder's, else the project's
(manage.stack_name_for). `now`, `environ` and `session_factory` are injectable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from deployer.monitor.errors import NoMetrics
from deployer.monitor.logs import LogLine, check_request_id, follow, read_logs, request_lines
from deployer.monitor.metrics import read_metrics
from deployer.monitor.report import MetricsReport
from deployer.monitor.stack import Deployed, describe
from deployer.monitor.timespec import parse_since, window

__all__ = ["MonitorOptions", "MetricsRequest", "LogsRequest", "LogsResult", "run_metrics", "run_logs", "follow_logs"]


@dataclass(frozen=True)
class MonitorOptions:
    """Which deployed stack, where (the options `status` takes)."""

    model: Path = Path(".")
    project: Path = Path(".")
    stack_name: str | None = None
    target: str = "auto"
    profile: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class MetricsRequest:
    since: str = "1h"
    period: str = "1m"
    plot: Path | None = None
    tensorboard: Path | None = None


@dataclass(frozen=True)
class LogsRequest:
    since: str = "10m"
    request_id: str | None = None
    emf: bool = False
    raw: bool = False  # keep START and END lines too


@dataclass
class LogsResult:
    stack: str
    log_group: str
    target: str
    start: datetime
    lines: list[LogLine] = field(default_factory=list)


@dataclass(frozen=True)
class _Bound:
    deployed: Deployed
    aws: Any
    region: str
    target: str


def _bind(options: MonitorOptions, environ: Mapping[str, str] | None,
          session_factory: Callable[..., Any] | None) -> _Bound:  # fmt: skip
    from deployer.deploy import PushOptions
    from deployer.deploy.api import aws_services, local_services, resolve_target
    from deployer.deploy.manage import stack_name_for

    push = PushOptions(model=options.model, project=options.project, target=options.target, profile=options.profile,
                       region=options.region, stack_name=options.stack_name)  # fmt: skip
    target = resolve_target(push, environ, session_factory)
    stack, _ = stack_name_for(push, environ)
    if target == "local":
        services, _info = local_services(push, environ)
        target_word = "the local cloud"
    else:
        services = aws_services(push, environ, session_factory)
        target_word = services.endpoint.url or "AWS"
    aws = services.aws
    where = f" in {services.region} ({target_word})"
    deployed = describe(aws.client("cloudformation"), aws.client("lambda"), stack, where=where)
    return _Bound(deployed, aws, services.region, target)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def run_metrics(options: MonitorOptions, request: MetricsRequest, *, now: datetime | None = None,
                environ: Mapping[str, str] | None = None,
                session_factory: Callable[..., Any] | None = None) -> MetricsReport:  # fmt: skip
    """The report of the stack's versions over the window; --plot / --tensorboard written whole, or not at all."""
    span = window(request.since, request.period, _now(now))  # a bad --since fails before any call
    if request.plot is not None:
        from deployer.monitor.plot import check_target

        check_target(request.plot)
    if request.tensorboard is not None:
        from deployer.monitor.tensorboard import check_folder

        check_folder(request.tensorboard)
    bound = _bind(options, environ, session_factory)
    deployed = bound.deployed
    versions, notes = read_metrics(bound.aws.client("cloudwatch"), deployed, span)
    if not versions:
        raise NoMetrics(f"no metrics of stack {deployed.stack} (function {deployed.function}) between "
                        f"{span.start:%Y-%m-%d %H:%M} and {span.end:%H:%M} UTC: nothing was invoked in that window; "
                        f"send a request{' to ' + deployed.url if deployed.url else ''} or widen --since")  # fmt: skip
    report = MetricsReport(stack=deployed.stack, function=deployed.function, model=deployed.model,
                           namespace=deployed.namespace, region=bound.region, target=bound.target, window=span,
                           versions=versions, notes=notes)  # fmt: skip
    if request.plot is not None:
        from deployer.monitor.plot import write_plot

        write_plot(report, request.plot)
    if request.tensorboard is not None:
        from deployer.monitor.tensorboard import write_runs

        write_runs(report, request.tensorboard)
    return report


def run_logs(options: MonitorOptions, request: LogsRequest, *, now: datetime | None = None,
             environ: Mapping[str, str] | None = None,
             session_factory: Callable[..., Any] | None = None) -> LogsResult:  # fmt: skip
    """The function's lines since --since (one request's with --request-id), oldest first."""
    current = _now(now)
    start = parse_since(request.since, current)
    if request.request_id is not None:
        check_request_id(request.request_id)
    bound = _bind(options, environ, session_factory)
    logs = bound.aws.client("logs")
    group = bound.deployed.log_group
    if request.request_id is not None:
        lines = request_lines(logs, group, request.request_id, start, None, emf=request.emf, raw=request.raw)
    else:
        lines = read_logs(logs, group, start, None, emf=request.emf, raw=request.raw)
    return LogsResult(bound.deployed.stack, group, bound.target, start, lines)


def follow_logs(options: MonitorOptions, request: LogsRequest, on_line: Callable[[LogLine], None], *,
                until: Callable[[], bool] = lambda: False, poll_s: float = 2.0, now: datetime | None = None,
                environ: Mapping[str, str] | None = None,
                session_factory: Callable[..., Any] | None = None) -> int:  # fmt: skip
    """Every line from --since on, then new ones as they come, until `until()` or Ctrl-C."""
    start = parse_since(request.since, _now(now))
    if request.request_id is not None:
        check_request_id(request.request_id)
    bound = _bind(options, environ, session_factory)
    return follow(bound.aws.client("logs"), bound.deployed.log_group, start, on_line, until=until, poll_s=poll_s,
                  emf=request.emf, raw=request.raw, request_id=request.request_id)  # fmt: skip
