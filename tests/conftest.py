"""Fixtures shared by every tier."""

from __future__ import annotations

import pytest

from deployer.local._lambda_env import CREDENTIAL_VARS as AWS_CREDENTIAL_VARS


@pytest.fixture(autouse=True)
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real AWS account, whatever the machine has configured."""
    for name in AWS_CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("SAM_CLI_TELEMETRY", "0")
