"""The fuzz tier: seeded, bounded fuzzing of the served handler and of convert (issue 9).

CI runs it as part of `pytest` (a few thousand requests, a few hundred models, under ~3 min on
two cores); the big run is

    FUZZ_REQUESTS=10000 FUZZ_MODELS=1000 ./dev test tests/fuzz

(or, in an environment already set up, the same variables with `.venv/bin/python -m pytest
tests/fuzz`; about 2 minutes on two cores). Its figures (requests and status counts per model and
form, models and outcomes per seed model and per refusal stage, durations) are printed at the end
of the run, whatever -s says. Another FUZZ_SEED explores other requests and models; a failure
names its model and index, and its reproducer is written to FUZZ_ARTIFACTS. See
tests/fuzz/report.py for the knobs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.report import SECTIONS, Budget, budget, render


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: seeded fuzzing of the served handler or of convert (tests/fuzz)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SECTIONS:
        return
    terminalreporter.section("fuzz tier figures")
    for section in SECTIONS:
        for line in render(section):
            terminalreporter.write_line(line)
        terminalreporter.write_line("")


@pytest.fixture(scope="session")
def fuzz_budget() -> Budget:
    return budget()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    where = os.environ.get("FUZZ_ARTIFACTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("fuzz-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
