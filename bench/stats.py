"""Small statistics helpers: medians, p90, paired comparisons. Times are kept in nanoseconds."""

from __future__ import annotations

import statistics
from typing import Sequence

__all__ = ["median", "p90", "summary", "paired", "fmt_ms", "fmt_ratio"]


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def p90(xs: Sequence[float]) -> float:
    """The 90th percentile, nearest-rank on the sorted sample (no interpolation)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(0.9 * len(s) + 0.5)) - 1))
    return float(s[k])


def summary(ns: Sequence[int]) -> dict[str, float]:
    """Median and p90 in milliseconds, and the sample size."""
    return {"median_ms": median(ns) / 1e6, "p90_ms": p90(ns) / 1e6, "n": len(ns)}


def paired(a_ns: Sequence[int], b_ns: Sequence[int]) -> dict[str, float]:
    """Compare b against a, measured in alternation (a_i and b_i from the same round).

    ``ratio`` is median(b)/median(a); ``added_ms`` is the median of the per-round differences,
    which cancels drift slower than one round.
    """
    diffs = [b - a for a, b in zip(a_ns, b_ns)]
    ratios = [b / a for a, b in zip(a_ns, b_ns) if a > 0]
    return {
        "ratio": median(b_ns) / median(a_ns) if a_ns and median(a_ns) > 0 else float("nan"),
        "ratio_paired": median(ratios),
        "added_ms": median(diffs) / 1e6,
        "added_p90_ms": p90(diffs) / 1e6,
    }


def fmt_ms(x: float) -> str:
    if x != x:  # NaN
        return "–"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_ratio(x: float) -> str:
    return "–" if x != x else f"{x:.2f}x"


def bootstrap_ci(stat, groups: Sequence[Sequence[float]], paired_groups: bool = False,
                 n: int = 1000, seed: int = 1) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ``stat(*groups)``.

    With ``paired_groups`` the same resampled indices are used for every group (pairs stay
    pairs); otherwise each group is resampled on its own.
    """
    import random

    rng = random.Random(seed)
    if not groups or any(len(g) == 0 for g in groups):
        return float("nan"), float("nan")
    vals = []
    for _ in range(n):
        if paired_groups:
            idx = [rng.randrange(len(groups[0])) for _ in range(len(groups[0]))]
            vals.append(stat(*[[g[i] for i in idx] for g in groups]))
        else:
            vals.append(stat(*[[g[rng.randrange(len(g))] for _ in range(len(g))] for g in groups]))
    vals.sort()
    return vals[int(0.025 * n)], vals[min(n - 1, int(0.975 * n))]
