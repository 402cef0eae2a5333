"""No credential lookup of these tests may leave the machine (boto3 asks the EC2 metadata service last)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
