"""A function's log events (CloudWatch Logs), classified for reading.

    read_logs(logs, group, start, end, ...)   FilterLogEvents through boto3's paginator → [LogLine]
    request_lines(logs, group, request_id, ...)  every line of one invocation
    follow(logs, group, start, on_line, ...)  the same, polled until `until()` says stop

Each event becomes a `LogLine` of one kind:

    report   Lambda's REPORT line: duration, billed duration, memory, init duration (a cold start).
             START and END say nothing REPORT does not, so they are dropped (`raw=True` keeps them)
    json     a structured line of the handler (Powertools' JSON logger): level, message, request
             id and the key fields (everything but the logger's own bookkeeping)
    emf      an Embedded Metric Format document: its metric values; dropped unless `emf=True`
    text     anything else, as printed (runtime warnings, tracebacks)

One invocation's lines: Lambda runs one event at a time per execution environment and writes
each environment's lines to its own stream, so the lines of a request are those of its stream
from `START RequestId: <id>` to its `REPORT` (its EMF line and untagged log lines included).
`request_lines` finds them with a quoted-term filter pattern on the id, then reads that stream
between those two instants. The id is Lambda's request id (START/REPORT lines, `request_id` of
the handler's log lines); API Gateway's `x-amzn-RequestId` is another id.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from deployer.aws.errors import AwsError
from deployer.monitor._aws import pages
from deployer.monitor.errors import NoLogs

__all__ = ["LogLine", "classify", "read_logs", "request_lines", "follow", "check_request_id"]

_REQUEST_ID = re.compile(r"RequestId: ([0-9A-Za-z-]+)")
_STREAM_VERSION = re.compile(r"\[([^\]]+)\]")
_REPORT_FIELDS = {
    "Duration": "duration_ms",
    "Billed Duration": "billed_ms",
    "Memory Size": "memory_mb",
    "Max Memory Used": "max_memory_mb",
    "Init Duration": "init_ms",
}
_BOOKKEEPING = frozenset({"level", "message", "timestamp", "service", "location", "xray_trace_id", "sampling_rate",
                          "request_id", "function_request_id", "cold_start", "function_name", "function_arn",
                          "function_memory_size"})  # fmt: skip
_ID_CHARS = re.compile(r"[0-9A-Za-z-]{1,128}")


@dataclass(frozen=True)
class LogLine:
    at: datetime
    stream: str
    kind: str  # report | json | emf | text | start | end
    text: str  # what a reader sees
    event_id: str = ""
    request_id: str | None = None
    level: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # the raw event

    @property
    def version(self) -> str | None:
        """The function version the stream belongs to (`YYYY/MM/DD/[<version>]<id>`)."""
        match = _STREAM_VERSION.search(self.stream)
        return match.group(1) if match else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "kind": self.kind,
            "level": self.level,
            "message": self.text,
            "request_id": self.request_id,
            "version": self.version,
            "fields": self.fields,
            "stream": self.stream,
        }


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def classify(event: Mapping[str, Any]) -> LogLine:
    """One FilterLogEvents event as a LogLine (module doc)."""
    message = str(event.get("message", "")).rstrip("\n")
    at = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000.0, tz=timezone.utc)
    common = {"at": at, "stream": str(event.get("logStreamName", "")), "event_id": str(event.get("eventId", "")),
              "message": message}  # fmt: skip
    head = message[:7]
    if head.startswith(("START ", "END ", "REPORT ")):
        match = _REQUEST_ID.search(message)
        request_id = match.group(1) if match else None
        kind = head.split(" ", 1)[0].lower()
        if kind != "report":
            return LogLine(kind=kind, text=message.split("\t")[0], request_id=request_id, **common)
        fields: dict[str, Any] = {}
        for part in message.split("\t")[1:]:
            name, _, value = part.partition(":")
            key = _REPORT_FIELDS.get(name.strip())
            number = value.strip().split(" ")[0]
            if key and number:
                try:
                    fields[key] = _number(number)
                except ValueError:
                    fields[key] = value.strip()
        text = f"{fields.get('duration_ms', '?')} ms (billed {fields.get('billed_ms', '?')} ms), " \
               f"{fields.get('max_memory_mb', '?')} of {fields.get('memory_mb', '?')} MB"  # fmt: skip
        if "init_ms" in fields:
            text += f", cold start: init {fields['init_ms']} ms"
        return LogLine(kind="report", text=text, request_id=request_id, level="REPORT", fields=fields, **common)
    if message.startswith("{"):
        try:
            doc = json.loads(message)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("_aws"), dict):
            names = [m.get("Name") for d in doc["_aws"].get("CloudWatchMetrics", []) for m in d.get("Metrics", [])]
            values = {str(n): _first(doc.get(str(n))) for n in names if n}
            dims = {k: doc[k] for d in doc["_aws"].get("CloudWatchMetrics", []) for s in d.get("Dimensions", []) for k in s
                    if k in doc and k not in values}  # fmt: skip
            text = " ".join(f"{k}={v}" for k, v in values.items())
            return LogLine(kind="emf", text=text, level="METRIC", fields=dims, **common)
        if isinstance(doc, dict) and "message" in doc:
            request_id = doc.get("request_id") or doc.get("function_request_id")
            fields = {k: v for k, v in doc.items() if k not in _BOOKKEEPING}
            return LogLine(kind="json", text=str(doc["message"]), level=str(doc.get("level") or "") or None,
                           request_id=str(request_id) if request_id else None, fields=fields, **common)  # fmt: skip
    match = _REQUEST_ID.search(message)
    return LogLine(kind="text", text=message, request_id=match.group(1) if match else None, **common)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _shown(line: LogLine, *, emf: bool, raw: bool) -> bool:
    if line.kind in ("start", "end"):
        return raw
    return emf or line.kind != "emf"


def _events(logs: Any, group: str, start: datetime, end: datetime | None, **params: Any) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"logGroupName": group, "startTime": _ms(start), **params}
    if end is not None:
        query["endTime"] = _ms(end)
    try:
        found = pages(logs, "filter_log_events", **query)
    except AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            raise NoLogs(f"no log group {group} yet: the function has not written a line (send it a request)") from exc
        raise
    events = [event for page in found for event in page.get("events", [])]
    events.sort(key=lambda e: (int(e.get("timestamp", 0)), int(e.get("ingestionTime", 0))))
    return events


def read_logs(logs: Any, group: str, start: datetime, end: datetime | None = None, *, emf: bool = False,
              raw: bool = False) -> list[LogLine]:  # fmt: skip
    """The group's lines in [start, end), oldest first (module doc for what is kept)."""
    return [line for line in map(classify, _events(logs, group, start, end)) if _shown(line, emf=emf, raw=raw)]


def check_request_id(request_id: str) -> str:
    from deployer.errors import ConfigError

    if not _ID_CHARS.fullmatch(request_id):
        raise ConfigError(f"--request-id {request_id[:60]!r}: a request id is letters, digits and dashes "
                          "(as in 'START RequestId: 8f5a...')")  # fmt: skip
    return request_id


def request_lines(logs: Any, group: str, request_id: str, start: datetime, end: datetime | None = None, *,
                  emf: bool = False, raw: bool = False) -> list[LogLine]:  # fmt: skip
    """Every line of one invocation (module doc); NoLogs when no line names it."""
    check_request_id(request_id)
    tagged = [classify(e) for e in _events(logs, group, start, end, filterPattern=f'"{request_id}"')]
    tagged = [line for line in tagged if request_id in line.message]
    if not tagged:
        raise NoLogs(f"no log line of request {request_id} in {group} since {start:%Y-%m-%dT%H:%M:%SZ}: give Lambda's "
                     "request id (START/REPORT lines, or request_id in the handler's lines; API Gateway's "
                     "x-amzn-RequestId is another id), or widen --since")  # fmt: skip
    found: dict[str, LogLine] = {}
    for stream in dict.fromkeys(line.stream for line in tagged):
        mine = [line for line in tagged if line.stream == stream]
        first, last = min(line.at for line in mine), max(line.at for line in mine)
        events = _events(logs, group, first, _after(last), logStreamNames=[stream])
        inside = False
        for line in map(classify, events):
            if line.kind == "start":
                inside = line.request_id == request_id
            if inside or request_id in line.message:
                found[line.event_id or f"{line.stream}/{_ms(line.at)}/{line.message}"] = line
            if line.kind == "report" and line.request_id == request_id:
                inside = False
    ordered = sorted(found.values(), key=lambda line: line.at)
    return [line for line in ordered if _shown(line, emf=emf, raw=raw)]


def _after(at: datetime) -> datetime:
    return datetime.fromtimestamp((_ms(at) + 1) / 1000.0, tz=timezone.utc)


def follow(logs: Any, group: str, start: datetime, on_line: Callable[[LogLine], None], *,
           until: Callable[[], bool] = lambda: False, sleep: Callable[[float], None] = time.sleep,
           poll_s: float = 2.0, emf: bool = False, raw: bool = False, request_id: str | None = None) -> int:  # fmt: skip
    """Poll the group from `start`, each new line to `on_line` once, until `until()` (or Ctrl-C); the count."""
    seen: dict[str, int] = {}  # event → its millisecond, kept while `since` can return it
    since = start
    shown = 0
    while True:
        params: dict[str, Any] = {"filterPattern": f'"{request_id}"'} if request_id else {}
        try:
            events = _events(logs, group, since, None, **params)
        except NoLogs:
            events = []  # the group appears with the function's first line
        for line in map(classify, events):
            key = line.event_id or f"{line.stream}/{_ms(line.at)}/{line.message}"
            if key in seen:
                continue
            seen[key] = _ms(line.at)
            if _shown(line, emf=emf, raw=raw):
                on_line(line)
                shown += 1
            if line.at > since:
                since = line.at  # the same millisecond again next time: `seen` drops the repeats
        floor = _ms(since)
        seen = {key: ms for key, ms in seen.items() if ms >= floor}
        if until():
            return shown
        sleep(poll_s)
