"""The ECR wrapper's layer upload: parts in the registry's part size, digest checked (moto, in process)."""

from __future__ import annotations

import hashlib
import io

import boto3
import pytest
from moto import mock_aws

from deployer.aws import AwsError, Ecr


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> Ecr:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield Ecr(boto3.client("ecr", region_name="us-east-1"))


def test_a_blob_larger_than_a_part_goes_up_in_parts_and_is_found(ecr: Ecr) -> None:
    repository = ecr.create_repository("iris", {"onnx-lambda:model": "iris"})
    assert (repository.tag_mutability, repository.scan_on_push) == ("IMMUTABLE", True)
    data = bytes(range(256)) * 46080  # 11.25 MiB: two parts of the 10 MiB moto asks for
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert ecr.available_layers("iris", [digest]) == set()
    parts: list[int] = []
    sent = ecr.upload_blob("iris", digest, len(data), lambda: io.BytesIO(data), progress=parts.append)
    assert sent == len(data) and len(parts) == 2
    assert ecr.available_layers("iris", [digest]) == {digest}


def test_a_blob_that_does_not_match_its_digest_is_refused(ecr: Ecr) -> None:
    ecr.create_repository("iris")
    with pytest.raises(AwsError, match="the local blob is corrupt"):
        ecr.upload_blob("iris", "sha256:" + "0" * 64, 3, lambda: io.BytesIO(b"abc"))


def test_describing_a_missing_repository_is_none(ecr: Ecr) -> None:
    assert ecr.describe_repository("nothing-here") is None
    assert ecr.image_exists("nothing-here", "sha256-x") is False
