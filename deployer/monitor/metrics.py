"""Reading a deployed model's metrics from CloudWatch: ListMetrics, then GetMetricData in batches.

    discover(cloudwatch, deployed)       → rows (Lambda version, model version) and the Series to read
    fetch(cloudwatch, series, window)    → {Series: Values}, notes
    read_metrics(cloudwatch, deployed, window) → the report's versions and notes (report.build)

What exists is listed, never assumed: Lambda's metrics of the function per `ExecutedVersion`
(namespace AWS/Lambda, dimension FunctionName), and every metric the handler wrote for the model
(its namespace, dimension model; the service checked when the function names one). A metric name
the handler starts to emit (drift, say) is read and reported without a change here (report.py
says where it goes).

GetMetricData takes at most 500 queries per call: the queries go in batches of 500, and each
batch through boto3's paginator (NextToken). Every series is read twice when the window is longer
than one period: once over the whole window (the table's figures: one datapoint spanning it, so
counts are exact sums and percentiles are the window's), once per period (the plot and
TensorBoard). Percentiles are asked in batches of their own: an endpoint that cannot compute
them (moto answers HTTP 500) costs the latency columns, with a note, not the counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from deployer.aws.errors import AwsError
from deployer.monitor._aws import pages
from deployer.monitor.errors import MonitorError
from deployer.monitor.report import HANDLER_DIMS, PERCENTILES, Series, Values, VersionReport, build, extra_measure, is_drift
from deployer.monitor.stack import Deployed
from deployer.monitor.timespec import Window

__all__ = ["discover", "fetch", "read_metrics", "MAX_QUERIES"]

MAX_QUERIES = 500  # GetMetricData's limit per call
Dims = tuple[tuple[str, str], ...]
_LAMBDA_COUNTS = {"Invocations": "invocations", "Errors": "errors", "Throttles": "throttles"}


def _listed(cloudwatch: Any, namespace: str, dims: list[dict[str, str]]) -> list[tuple[str, Dims]]:
    """(name, dims) of every metric ListMetrics knows under `namespace` with those dimensions, once each."""
    seen: dict[tuple[str, Dims], tuple[str, Dims]] = {}
    for page in pages(cloudwatch, "list_metrics", Namespace=namespace, Dimensions=dims):
        for metric in page.get("Metrics", []):
            # Queried in the order listed: CloudWatch ignores it, moto 5.2.5 compares dimension lists
            # sorted with a broken ordering (Dimension.__lt__), which only works in the stored order.
            found = tuple((str(d["Name"]), str(d["Value"])) for d in metric.get("Dimensions", []))
            seen.setdefault((str(metric["MetricName"]), tuple(sorted(found))), (str(metric["MetricName"]), found))
    return list(seen.values())


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def discover(cloudwatch: Any, deployed: Deployed) -> tuple[list[tuple[str, str | None]], list[Series], list[str]]:
    """The rows of the report and the series that fill them (module doc)."""
    series: list[Series] = []
    notes: list[str] = []
    lambda_versions: set[str] = set()
    for name, dims in _listed(cloudwatch, "AWS/Lambda", [{"Name": "FunctionName", "Value": deployed.function}]):
        version = dict(dims).get("ExecutedVersion")
        if version is None:
            continue
        if name in _LAMBDA_COUNTS:
            series.append(Series(version, _LAMBDA_COUNTS[name], "AWS/Lambda", name, dims, "Sum"))
            lambda_versions.add(version)
        elif name == "Duration":
            series += [Series(version, f"duration_ms/{p}", "AWS/Lambda", name, dims, p) for p in PERCENTILES]
            lambda_versions.add(version)
    by_model_version: dict[str, list[tuple[str, Dims]]] = {}
    for name, dims in _listed(cloudwatch, deployed.namespace, [{"Name": "model", "Value": deployed.model}]):
        found = dict(dims)
        if deployed.service and found.get("service", deployed.service) != deployed.service:
            continue  # another function serving a model of the same name
        by_model_version.setdefault(found.get("version", ""), []).append((name, dims))
    rows = [(v, deployed.model_versions.get(v)) for v in sorted(lambda_versions, key=_version_key)]
    for model_version, metrics in sorted(by_model_version.items()):
        claimers = [v for v in sorted(lambda_versions, key=_version_key) if deployed.model_versions.get(v) == model_version]
        if len(claimers) == 1:
            row = claimers[0]
        else:
            row = f"model {model_version}"
            rows.append((row, model_version))
            if claimers:
                notes.append(f"model version {model_version} ran in Lambda versions {', '.join(claimers)}: its "
                             f"handler metrics are shown once, under '{row}'")  # fmt: skip
        for name, dims in metrics:
            series += _handler_series(row, deployed.namespace, name, dims)
    return rows, series, notes


def _handler_series(row: str, namespace: str, name: str, dims: Dims) -> list[Series]:
    found = dict(dims)
    plain = set(found) <= HANDLER_DIMS

    def one(measure: str, stat: str) -> Series:
        return Series(row, measure, namespace, name, dims, stat)

    if name == "Errors" and set(found) - HANDLER_DIMS == {"kind"}:
        return [one(f"errors_by_kind/{found['kind']}", "Sum")]
    if plain and name == "Errors":
        return [one("handler_errors", "Sum")]
    if plain and name == "RequestMs":
        return [one("requests", "SampleCount"), *(one(f"request_ms/{p}", p) for p in PERCENTILES)]
    if plain and name == "InferenceMs":
        return [one(f"inference_ms/{p}", p) for p in PERCENTILES]
    if plain and name == "ColdStart":
        return [one("cold_starts", "Sum")]
    if plain and name == "ModelLoadMs":
        return [one("model_load_ms/avg", "Average"), one("model_load_ms/max", "Maximum")]
    if name in ("Errors", "RequestMs", "InferenceMs", "ColdStart", "ModelLoadMs"):
        return []  # another dimension set of a metric read above: it would count twice
    measure = extra_measure(name, found)
    if is_drift(name, found):
        return [one(measure, "Average"), one(measure, "Maximum")]
    return [one(measure, "Average")]


def _utc(at: Any) -> datetime:
    if isinstance(at, datetime):
        return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(at).replace("Z", "+00:00")).astimezone(timezone.utc)


def _run(cloudwatch: Any, queries: list[tuple[str, Series, int]], window: Window) -> dict[str, tuple[list[datetime], list[float]]]:
    """One batch (≤ MAX_QUERIES) through the paginator: Id → (timestamps, values), oldest first."""
    body = [{"Id": qid, "MetricStat": {"Metric": s.metric(), "Period": period, "Stat": s.stat}, "ReturnData": True}
            for qid, s, period in queries]  # fmt: skip
    out: dict[str, tuple[list[datetime], list[float]]] = {qid: ([], []) for qid, _, _ in queries}
    for page in pages(cloudwatch, "get_metric_data", MetricDataQueries=body, StartTime=window.start,
                      EndTime=window.end, ScanBy="TimestampAscending"):  # fmt: skip
        for result in page.get("MetricDataResults", []):
            times, values = out.setdefault(str(result["Id"]), ([], []))
            for at, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                if value is not None:
                    times.append(_utc(at))
                    values.append(float(value))
    for times, values in out.values():
        order = sorted(range(len(times)), key=times.__getitem__)
        times[:], values[:] = [times[i] for i in order], [values[i] for i in order]
    return out


def _total(stat: str, values: list[float]) -> float | None:
    if not values:
        return None
    if stat in ("Sum", "SampleCount"):
        return sum(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    return values[0] if len(values) == 1 else max(values)  # one datapoint spans an aligned window


def fetch(cloudwatch: Any, series: Iterable[Series], window: Window, *,
          batch: int = MAX_QUERIES) -> tuple[dict[Series, Values], list[str]]:  # fmt: skip
    """Each series over the window and per period (module doc); notes say what could not be read."""
    wanted = list(dict.fromkeys(series))
    whole = window.seconds
    split = whole != window.period_s
    queries: list[tuple[str, Series, int]] = []
    for index, item in enumerate(wanted):
        queries.append((f"t{index}", item, whole))
        if split:
            queries.append((f"s{index}", item, window.period_s))
    notes: list[str] = []
    answers: dict[str, tuple[list[datetime], list[float]]] = {}
    for percentiles in (False, True):
        group = [q for q in queries if (q[1].stat in PERCENTILES) == percentiles]
        try:
            for start in range(0, len(group), batch):
                answers.update(_run(cloudwatch, group[start : start + batch], window))
        except AwsError as exc:
            if not percentiles and _server_side(exc):
                raise MonitorError(f"CloudWatch GetMetricData failed at {cloudwatch.meta.endpoint_url} "
                                   f"({_first_line(exc)}); try again, or narrow --since") from exc  # fmt: skip
            if not percentiles or not _server_side(exc):
                raise
            notes.append(f"the CloudWatch endpoint could not compute percentiles (GetMetricData: "
                         f"{_first_line(exc)}): p50/p95/p99 are left out")  # fmt: skip
    found: dict[Series, Values] = {}
    for index, item in enumerate(wanted):
        if f"t{index}" not in answers:
            continue
        total_times, total_values = answers[f"t{index}"]
        times, values = answers[f"s{index}"] if split else (total_times, total_values)
        found[item] = Values(_total(item.stat, total_values), tuple(zip(times, values)))
    return found, notes


def _first_line(exc: AwsError) -> str:
    text = str(exc).split(": ", 1)[-1]
    return "HTTP 500, an internal error" if "<html" in text.lower() or "<!doctype" in text.lower() else text[:100]


def _server_side(exc: AwsError) -> bool:
    text = str(exc)
    return exc.code in (None, "InternalFailure", "InternalServiceError", "500") or " 500" in text or "(500)" in text


def read_metrics(cloudwatch: Any, deployed: Deployed, window: Window) -> tuple[list[VersionReport], list[str]]:
    """The versions that have data in the window, newest Lambda version first, and the notes."""
    rows, series, notes = discover(cloudwatch, deployed)
    found, more = fetch(cloudwatch, series, window)
    versions = [v for v in build(rows, found) if not v.empty]
    versions.sort(key=lambda v: (not v.version.isdigit(), -int(v.version) if v.version.isdigit() else 0, v.version))
    return versions, notes + more
