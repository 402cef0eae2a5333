"""CloudWatch GetMetricData with percentile statistics, which moto 5.2 does not compute.

moto's `Statistics.get_statistics_for_type` knows Sum, Average, Minimum, Maximum and SampleCount
and answers None for anything else, which GetMetricData then fails to serialize (HTTP 500): a
p99 latency query - what `deployer metrics` and the dashboards ask for - could not be answered.
`patch()` adds `pNN` / `pNN.N` (nearest rank over the period's raw values, as CloudWatch computes
percentiles for metrics published as single values) and leaves every other statistic to moto.

ListMetrics pages. moto draws a page's NextToken from its seeded generator, which the server
restores after every read (so reads never change the ids later mutations get: server.py): every
page of a listing got the same token and boto3's paginator stopped ("the same next token was
received twice") once a model had more than 500 metrics. Tokens of read-only pages are drawn from
the operating system's generator instead; nothing journaled depends on them.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, Statistics

__all__ = ["patch", "percentile"]

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
_original = Statistics.get_statistics_for_type


def percentile(values: list[float], rank: float) -> float | None:
    """Nearest-rank percentile (rank in 0-100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100.0 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def _get_statistics_for_type(self: Any, stat: str) -> Any:
    match = _PERCENTILE.match(stat)
    if match is None:
        return _original(self, stat)
    return percentile([float(v) for v in self.metric_single_values_list], float(match.group(1)))


def _get_paginated(self: Any, metrics: list[Any]) -> tuple[str | None, list[Any]]:
    if len(metrics) <= 500:
        return None, metrics
    token = str(uuid.uuid4())
    self.paged_metric_data[token] = metrics[500:]
    return token, metrics[:500]


def patch() -> None:
    Statistics.get_statistics_for_type = _get_statistics_for_type  # type: ignore[method-assign]
    CloudWatchBackend._get_paginated = _get_paginated  # type: ignore[method-assign]
