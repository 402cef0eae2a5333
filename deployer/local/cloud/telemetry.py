"""The function's logs and metrics, into the local cloud's CloudWatch Logs and CloudWatch, as on AWS.

On AWS, a function's output goes to its log group (`/aws/lambda/<function>`, one stream per
execution environment, `YYYY/MM/DD/[<version>]<id>`), Embedded Metric Format lines in it become
CloudWatch metrics, and Lambda publishes its own metrics (Invocations, Errors, Duration,
Throttles). Here the daemon hands every line and every datapoint to `Telemetry`, which batches
them and writes them into moto's Logs and CloudWatch backends in this process every
`flush_s`, so `logs` and `metrics` (FilterLogEvents, GetMetricData) read them exactly as they
would from AWS. EMF lines stay in the log too, as on AWS.

They are not journaled: like CloudWatch's own retention, they are observations, not deployed
state, and a restart of the cloud starts them empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["Telemetry"]


class Telemetry:
    def __init__(self, *, account: str, region: str, lock: Any, flush_s: float = 0.5,
                 say: Callable[[str], None] = lambda line: None) -> None:  # fmt: skip
        self.account, self.region, self.lock, self.flush_s, self.say = account, region, lock, flush_s, say
        self._lines: list[tuple[str, str, str, int]] = []  # (group, stream, message, ms)
        self._points: list[tuple[str, dict[str, Any]]] = []  # (namespace, MetricData entry)
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloud-telemetry", daemon=True)
        self._failed = False

    def start(self) -> Telemetry:
        self._thread.start()
        return self

    def line(self, function: str, stream: str, message: str) -> None:
        with self._mutex:
            self._lines.append((f"/aws/lambda/{function}", stream, message, int(time.time() * 1000)))

    def point(self, namespace: str, name: str, dims: Mapping[str, str], value: float, at: float,
              unit: str | None = None) -> None:  # fmt: skip
        entry: dict[str, Any] = {
            "MetricName": name, "Value": value,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            "Timestamp": datetime.fromtimestamp(at, tz=timezone.utc).replace(tzinfo=None),  # moto keeps naive UTC
        }  # fmt: skip
        if unit:
            entry["Unit"] = unit
        with self._mutex:
            self._points.append((namespace, entry))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()

    def flush(self) -> None:
        with self._mutex:
            lines, self._lines = self._lines, []
            points, self._points = self._points, []
        if not lines and not points:
            return
        try:
            with self.lock:
                self._write_logs(lines)
                self._write_metrics(points)
        except Exception as exc:  # noqa: BLE001 - telemetry must never stop the cloud; said once
            if not self._failed:
                self._failed = True
                self.say(f"[cloud] writing logs and metrics into the local CloudWatch failed: {type(exc).__name__}: {exc}")

    def _write_logs(self, lines: list[tuple[str, str, str, int]]) -> None:
        from moto.logs.models import logs_backends

        backend = logs_backends[self.account][self.region]
        batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for group, stream, message, ms in lines:
            batches.setdefault((group, stream), []).append({"timestamp": ms, "message": message})
        for (group, stream), events in batches.items():
            if group not in backend.groups:
                backend.create_log_group(group, {})  # Lambda creates it on first output when the stack did not
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            backend.groups[group].put_log_events(stream, events)

    def _write_metrics(self, points: list[tuple[str, dict[str, Any]]]) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[self.account][self.region]
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for namespace, entry in points:
            by_namespace.setdefault(namespace, []).append(entry)
        for namespace, entries in by_namespace.items():
            for start in range(0, len(entries), 1000):
                backend.put_metric_data(namespace, entries[start : start + 1000])
