"""The fuzz tier's figures, collected by the tests and printed at the end of the pytest run.

    FUZZ_REQUESTS  requests sent to the served models (default 4000, split across them)
    FUZZ_MODELS    mutated models given to convert (default 300)
    FUZZ_SEED      the seed; the same seed sends the same requests and builds the same models
    FUZZ_ARTIFACTS folder for the reproducers of failures (default: pytest's tmp folder)
    FUZZ_REAL_WORKER=1  convert's checks in a fresh `python -m deployer.model._worker` per step
                        (slow) instead of a fork of one pre-imported worker (tests/fuzz/_zygote.py)
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Budget", "Section", "SECTIONS", "budget", "render"]


@dataclass(frozen=True)
class Budget:
    requests: int
    models: int
    seed: int
    real_worker: bool


def budget() -> Budget:
    return Budget(
        requests=int(os.environ.get("FUZZ_REQUESTS", "4000")),
        models=int(os.environ.get("FUZZ_MODELS", "300")),
        seed=int(os.environ.get("FUZZ_SEED", "0")),
        real_worker=os.environ.get("FUZZ_REAL_WORKER", "") in ("1", "true", "yes"),
    )


@dataclass
class Section:
    """One table of the summary: a title, rows of counts, notes (failures, durations)."""

    title: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (row, column) -> count
    notes: list[str] = field(default_factory=list)


SECTIONS: list[Section] = []


def render(section: Section) -> list[str]:
    rows = sorted({r for r, _ in section.counts})
    cols = sorted({c for _, c in section.counts}, key=lambda c: (not c[:1].isdigit(), c))
    if not rows:
        return [section.title, "  (nothing ran)", *section.notes]
    width = max(len(r) for r in rows + ["total"])
    widths = [max(len(c), 5) for c in cols]
    lines = [section.title, "  " + " " * width + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths)) + "  total"]
    for row in rows + ["total"]:
        values = [sum(v for (r, c2), v in section.counts.items() if c2 == c and (row == "total" or r == row))
                  for c in cols]
        lines.append("  " + row.ljust(width) + "  " + "  ".join(str(v).rjust(w) for v, w in zip(values, widths))
                     + f"  {sum(values):5d}")
    return lines + [f"  {note}" for note in section.notes]
