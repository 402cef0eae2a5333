"""Two deployments, generated, translated and linted once per test session (cfn-lint takes seconds).

- `iris`: the bundled example with the default config.
- `churn`: another model name and a config far from the defaults: memory, arm64, a long
  timeout, api_key auth with a quota, a linear deployment, provisioned and reserved concurrency.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployer.config import DeployConfig
from deployer.template import Finding, generate, lint, translate
from tests.conftest import AWS_CREDENTIAL_VARS

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "iris" / "model"

CHURN_CONFIG = {
    "memory_mb": 3008,
    "timeout_s": 60,
    "architecture": "arm64",
    "ephemeral_storage_mb": 2048,
    "provisioned_concurrency": 2,
    "reserved_concurrency": 5,
    "region": "eu-west-1",
    "log_retention_days": 90,
    "log_level": "DEBUG",
    "metrics_namespace": "Team/Models",
    "model_threads": 2,
    "max_batch_size": 64,
    "api": {"auth": "api_key", "throttle": {"rate": 20, "burst": 40}, "quota": {"limit": 10000, "period": "DAY"}},
    "deployment": {"type": "Linear10PercentEvery1Minute", "alarms": {"error_rate_percent": 2, "p99_latency_ms": 250}},
}


def iris_manifest() -> dict[str, Any]:
    return json.loads((EXAMPLE / "manifest.json").read_text())


def churn_manifest() -> dict[str, Any]:
    manifest = iris_manifest()
    manifest.update(name="churn_v2.small", version="0123456789ab")
    return manifest


@dataclass(frozen=True)
class Case:
    manifest: dict[str, Any]
    config: DeployConfig
    template: dict[str, Any]
    translation: dict[str, Any]
    findings: tuple[Finding, ...]

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    @property
    def function(self) -> dict[str, Any]:
        return self.template["Resources"]["ModelFunction"]["Properties"]

    def translated(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.translation["Resources"].items() if value["Type"] == kind}

    def one(self, kind: str) -> dict[str, Any]:
        (resource,) = self.translated(kind).values()
        return resource


@pytest.fixture(scope="session")
def offline() -> Iterator[None]:
    """Session-wide twin of tests/conftest.py's autouse fixture: no AWS credentials at all."""
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_CREDENTIAL_VARS:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield


def _case(manifest: dict[str, Any], config: DeployConfig) -> Case:
    template = generate(manifest, config)
    region = config.region or "us-east-1"
    translation = translate(template, region=region)
    findings = lint(template, regions=[region]) + lint(translation, regions=[region])
    return Case(manifest, config, template, translation, tuple(findings))


@pytest.fixture(scope="session")
def iris(offline: None) -> Case:
    return _case(iris_manifest(), DeployConfig())


@pytest.fixture(scope="session")
def churn(offline: None) -> Case:
    return _case(churn_manifest(), DeployConfig.model_validate(CHURN_CONFIG))


@pytest.fixture(scope="session", params=["iris", "churn"])
def case(request: pytest.FixtureRequest) -> Case:
    return request.getfixturevalue(request.param)
