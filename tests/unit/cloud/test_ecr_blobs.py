"""The blob store (content-addressed, atomic) and reading manifests back from moto's ECR."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from deployer.local.cloud.emulator.ecr_blobs import BlobStore, find_manifest, parse_digest


def test_a_blob_is_stored_once_under_its_sha256(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"layer bytes")
    assert digest == "sha256:" + hashlib.sha256(b"layer bytes").hexdigest()
    path = store.path(digest)
    assert path is not None and path.read_bytes() == b"layer bytes"
    assert path == tmp_path / "sha256" / digest[7:] and store.path(digest[7:]) == path
    mtime = path.stat().st_mtime_ns
    assert store.put(b"layer bytes") == digest and path.stat().st_mtime_ns == mtime  # not written twice
    assert [p.name for p in (tmp_path / "sha256").iterdir()] == [digest[7:]]  # no temporary file left


def test_a_partial_file_under_a_digest_is_rewritten(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"0123456789")
    path = store.path(digest)
    assert path is not None
    path.write_bytes(b"01234")
    store.put(b"0123456789")
    assert path.read_bytes() == b"0123456789"


def test_unknown_and_malformed_digests_have_no_path(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert store.path("sha256:" + "0" * 64) is None
    assert store.path("sha256:../../etc/passwd") is None and parse_digest("md5:abc") is None
    store.put(b"x")
    store.clear()
    assert store.path("sha256:" + hashlib.sha256(b"x").hexdigest()) is None


def test_manifests_are_found_by_tag_moto_digest_manifest_digest_and_uri() -> None:
    import boto3
    from moto import mock_aws

    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + "c" * 64, "size": 1, "mediaType": "x"},
                "layers": [{"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "y"}]}  # fmt: skip
    text = json.dumps(manifest)
    with mock_aws():
        ecr = boto3.client("ecr", region_name="eu-west-1")
        ecr.create_repository(repositoryName="iris")
        moto_digest = ecr.put_image(repositoryName="iris", imageTag="v1", imageManifest=text)["image"]["imageId"]["imageDigest"]
        by_text = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        for reference in ("v1", moto_digest, by_text):
            assert find_manifest("iris", reference) == manifest, reference
        assert find_manifest("123456789012.dkr.ecr.eu-west-1.amazonaws.com/iris", "v1") == manifest
        assert find_manifest("123456789012.dkr.ecr.us-east-1.amazonaws.com/iris", "v1") is None
        assert find_manifest("iris", "v2") is None and find_manifest("other", "v1") is None


@pytest.mark.parametrize("digest", ["sha256:" + "f" * 64, "f" * 64])
def test_parse_digest_takes_both_spellings(digest: str) -> None:
    assert parse_digest(digest) == "f" * 64
