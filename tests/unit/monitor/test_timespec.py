"""--since and --period as users write them (deployer/monitor/timespec.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from deployer.errors import ConfigError
from deployer.monitor.timespec import parse_duration, parse_period, parse_since, window

NOW = datetime(2026, 12, 2, 13, 47, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("2d", 172800), ("1w", 604800), ("1h30m", 5400), ("1H 5M", 3900),
     ("45", 45), ("0.5h", 1800)],
)  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "--since") == timedelta(seconds=seconds)


def test_since_back_from_now_and_iso_times() -> None:
    assert parse_since("1h", NOW) == NOW - timedelta(hours=1)
    assert parse_since("2026-12-02T13:00:00Z", NOW) == datetime(2026, 12, 2, 13, tzinfo=timezone.utc)
    assert parse_since("2026-12-02T14:00:00+01:00", NOW) == datetime(2026, 12, 2, 13, tzinfo=timezone.utc)
    assert parse_since("2026-12-02 12:00", NOW) == datetime(2026, 12, 2, 12, tzinfo=timezone.utc)  # no offset: UTC


@pytest.mark.parametrize(
    ("text", "says"),
    [("2026-12-02T14:00:00Z", "in the future"), ("yesterday", "not a duration"), ("1h fortnights", "not a duration"),
     ("0m", "not a positive duration"), ("", "empty"), ("2026-13-45T00:00:00", "not a time"), ("500d", "455 days")],
)  # fmt: skip
def test_bad_since_is_a_config_error_naming_the_value(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        parse_since(text, NOW)
    assert caught.value.exit_code == 2


def test_period_is_whole_minutes() -> None:
    assert parse_period("1m") == 60 and parse_period("5m") == 300 and parse_period("1h") == 3600
    assert parse_period("120") == 120
    for bad in ("30s", "90s", "0m", "soon"):
        with pytest.raises(ConfigError, match="--period"):
            parse_period(bad)


def test_window_is_aligned_to_whole_periods_and_ends_after_now() -> None:
    span = window("1h", "5m", NOW)
    assert span.start == datetime(2026, 12, 2, 12, 45, tzinfo=timezone.utc)
    assert span.end == datetime(2026, 12, 2, 13, 50, tzinfo=timezone.utc)
    assert span.seconds % span.period_s == 0 and span.end > NOW
    exact = window("1m", "1m", datetime(2026, 12, 2, 13, 47, 0, tzinfo=timezone.utc))
    assert exact.end > datetime(2026, 12, 2, 13, 47, 0, tzinfo=timezone.utc)
