"""`--since` and `--period` as users write them, read once at the edge into datetimes and seconds.

    --since 90s | 10m | 1h | 2d | 1w | 1h30m    a duration back from now
    --since 2026-12-02T13:00:00Z                 an ISO 8601 instant (no offset: UTC)
    --period 1m | 5m | 300 | 1h                  a CloudWatch period: whole minutes (standard-resolution
                                                 metrics, which is what Lambda and EMF publish)

A since in the future, zero, negative or unreadable is a ConfigError naming the value and the
forms accepted; so is a period that is not a whole number of minutes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from deployer.errors import ConfigError

__all__ = ["parse_duration", "parse_since", "parse_period", "Window", "window"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_FORMS = "a duration such as 90s, 10m, 1h, 2d, 1h30m, or an ISO 8601 time such as 2026-12-02T13:00:00Z"
MAX_LOOKBACK = timedelta(days=455)  # CloudWatch keeps metrics 15 months


def parse_duration(text: str, option: str) -> timedelta:
    """`1h30m` → 90 minutes; a bare number is seconds."""
    raw = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return timedelta(seconds=float(raw))
    parts = _DURATION.findall(raw)
    if not parts or _DURATION.sub("", raw).strip():
        raise ConfigError(f"{option} {text!r}: not a duration; use {_FORMS}")
    return timedelta(seconds=sum(float(number) * _UNITS[unit.lower()] for number, unit in parts))


def parse_since(text: str, now: datetime) -> datetime:
    """The start of the window `text` names, as an aware UTC datetime; never after `now`."""
    raw = text.strip()
    if not raw:
        raise ConfigError(f"--since is empty; use {_FORMS}")
    start: datetime
    if raw[0].isdigit() and ("-" in raw[1:] or "T" in raw):
        try:
            start = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(f"--since {text!r}: not a time; use {_FORMS}") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        start = start.astimezone(timezone.utc)
        if start > now:
            raise ConfigError(f"--since {text!r} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}): "
                              "give a time in the past, or a duration such as 1h")  # fmt: skip
    else:
        back = parse_duration(raw, "--since")
        if back <= timedelta(0):
            raise ConfigError(f"--since {text!r} is not a positive duration; use {_FORMS}")
        start = now - back
    if now - start > MAX_LOOKBACK:
        raise ConfigError(f"--since {text!r} reaches back {(now - start).days} days; CloudWatch keeps "
                          f"metrics for 455 days at most")  # fmt: skip
    return start


def parse_period(text: str) -> int:
    """Seconds of one datapoint: a whole number of minutes."""
    seconds = parse_duration(text, "--period").total_seconds()
    if seconds < 60 or seconds % 60:
        raise ConfigError(f"--period {text!r}: use whole minutes (1m, 5m, 1h): Lambda's and the handler's "
                          "metrics have one-minute resolution")  # fmt: skip
    return int(seconds)


class Window:
    """The time range a report covers: [start, end), both on whole minutes, as CloudWatch aligns them."""

    def __init__(self, start: datetime, end: datetime, period_s: int) -> None:
        self.start, self.end, self.period_s = start, end, period_s

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def __repr__(self) -> str:
        return f"Window({self.start.isoformat()}, {self.end.isoformat()}, {self.period_s}s)"


def window(since: str, period: str, now: datetime) -> Window:
    """[since, now] widened to whole periods: the start down to the period, the end up to it."""
    period_s = parse_period(period)
    start = parse_since(since, now)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    start_s = int((start - epoch).total_seconds()) // period_s * period_s
    end_s = -(-int((now - epoch).total_seconds() + 1) // period_s) * period_s
    return Window(epoch + timedelta(seconds=start_s), epoch + timedelta(seconds=end_s), period_s)
