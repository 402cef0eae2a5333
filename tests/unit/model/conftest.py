"""Shared fixtures of the converter tests: frameworks are imported once, models built once."""

from __future__ import annotations

import io
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.model import builders


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "convert_cli: runs `python -m deployer convert` (needs the command wired)")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sources")


@pytest.fixture(scope="session")
def torch_sources(model_dir: Path) -> dict[str, Any]:
    return builders.torch_files(model_dir / "torch")


@pytest.fixture(scope="session")
def keras_sources(model_dir: Path) -> dict[str, Any]:
    model = builders.keras_model()
    with contextlib.redirect_stdout(io.StringIO()):  # the TFLite converter prints what it saved
        files = builders.keras_files(model_dir / "keras", model)
    return {**files, "model": model}
