"""An existing ECR repository with mutable tags or without scan on push is found, and each finding
carries a warning, the fix call and the CLI command; the fixes work against moto and keep the
push's way of tagging working (one content-digest tag, put again as a no-op)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployer.aws.ecr import DIGEST_TAG_FILTER, Ecr, Repository, repository_fixes

TAG = "sha256-" + "ab" * 32  # the push's tag form: sha256-<hex of the manifest digest>


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ecr, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("ecr", region_name="us-east-1")
        yield Ecr(client), client


def apply(ecr: Ecr, fixes: list) -> None:
    for fix in fixes:
        getattr(ecr, fix.method)(**fix.params)  # what an executor does with the call


def test_a_repository_the_deployer_created_needs_nothing(aws: tuple[Ecr, Any]) -> None:
    ecr, _ = aws
    ecr.create_repository("iris")
    assert ecr.repository_fixes("iris", TAG) == []
    assert ecr.repository_fixes("not-there", TAG) == []  # create_repository will set both


def test_a_hand_made_repository_gets_both_fixes_and_they_work(aws: tuple[Ecr, Any]) -> None:
    ecr, client = aws
    client.create_repository(repositoryName="team/models")  # console defaults: MUTABLE, no scan
    fixes = ecr.repository_fixes("team/models", TAG)
    assert [f.setting for f in fixes] == ["imageTagMutability", "scanOnPush"]
    mutable, scan = fixes
    assert "mutable tags" in mutable.warning and "team/models" in mutable.warning and DIGEST_TAG_FILTER in mutable.warning
    assert (mutable.method, dict(mutable.params)) == ("set_tag_mutability", {"name": "team/models", "mutability": "IMMUTABLE"})
    assert mutable.command == "aws ecr put-image-tag-mutability --repository-name team/models --image-tag-mutability IMMUTABLE"
    assert "scan" in scan.warning and scan.command.endswith("--image-scanning-configuration scanOnPush=true")
    apply(ecr, fixes)
    repository = ecr.describe_repository("team/models")
    assert repository is not None and (repository.tag_mutability, repository.scan_on_push) == ("IMMUTABLE", True)
    assert ecr.repository_fixes("team/models", TAG) == []


def test_immutable_tags_keep_the_push_working(aws: tuple[Ecr, Any]) -> None:
    """The push's tag is its manifest's digest: pushing the same image again into an IMMUTABLE
    repository is a no-op, never an ImageTagAlreadyExists failure."""
    ecr, client = aws
    client.create_repository(repositoryName="shared")
    apply(ecr, ecr.repository_fixes("shared", TAG))
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    ecr.upload_blob("shared", digest, len(config), lambda: io.BytesIO(config))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config), "digest": digest},
        "layers": [],
    }, sort_keys=True, separators=(",", ":"))  # fmt: skip
    tag = "sha256-" + hashlib.sha256(manifest.encode()).hexdigest()
    media = "application/vnd.oci.image.manifest.v1+json"
    assert ecr.put_image("shared", tag, manifest, media)
    assert ecr.put_image("shared", tag, manifest, media) is None  # the same push again: already there
    assert ecr.image_exists("shared", tag)


@pytest.mark.parametrize(("mode", "filters", "fix"), [
    ("MUTABLE_WITH_EXCLUSION", ["latest"],
     {"mutability": "MUTABLE_WITH_EXCLUSION", "exclusion_filters": ["latest", DIGEST_TAG_FILTER]}),
    ("MUTABLE_WITH_EXCLUSION", [DIGEST_TAG_FILTER], None),  # our tags are the immutable exception
    ("MUTABLE_WITH_EXCLUSION", ["sha256*"], None),
    ("IMMUTABLE_WITH_EXCLUSION", ["latest"], None),
    ("IMMUTABLE_WITH_EXCLUSION", ["latest", "sha*"],
     {"mutability": "IMMUTABLE_WITH_EXCLUSION", "exclusion_filters": ["latest"]}),
    ("IMMUTABLE_WITH_EXCLUSION", [DIGEST_TAG_FILTER], {"mutability": "IMMUTABLE", "exclusion_filters": []}),
])  # fmt: skip
def test_exclusion_modes_are_judged_by_whether_they_cover_our_tag(aws: tuple[Ecr, Any], mode: str,
                                                                   filters: list[str], fix: dict | None) -> None:
    ecr, client = aws
    client.create_repository(
        repositoryName="excl", imageTagMutability=mode, imageScanningConfiguration={"scanOnPush": True},
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": f} for f in filters],
    )  # fmt: skip
    fixes = ecr.repository_fixes("excl", TAG)
    if fix is None:
        assert fixes == []
        return
    assert len(fixes) == 1 and fixes[0].setting == "imageTagMutability"
    assert dict(fixes[0].params) == {"name": "excl", **fix}
    assert fixes[0].command.startswith("aws ecr put-image-tag-mutability --repository-name excl")
    apply(ecr, fixes)
    assert ecr.repository_fixes("excl", TAG) == []


def test_a_registry_scanning_rule_covers_the_repository(aws: tuple[Ecr, Any]) -> None:
    ecr, client = aws
    client.create_repository(repositoryName="prod-iris", imageTagMutability="IMMUTABLE")
    client.put_registry_scanning_configuration(scanType="ENHANCED", rules=[
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "prod-*", "filterType": "WILDCARD"}]},
    ])  # fmt: skip
    assert ecr.repository_fixes("prod-iris", TAG) == []
    client.create_repository(repositoryName="dev-iris", imageTagMutability="IMMUTABLE")
    assert [f.setting for f in ecr.repository_fixes("dev-iris", TAG)] == ["scanOnPush"]
    client.put_registry_scanning_configuration(scanType="BASIC", rules=[
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]},
    ])  # fmt: skip
    assert ecr.repository_fixes("dev-iris", TAG) == []


def test_an_unreadable_registry_configuration_leaves_the_repository_flag_to_decide() -> None:
    repository = Repository("r", "uri", "arn", "1", "IMMUTABLE", False)
    assert [f.setting for f in repository_fixes(repository, TAG, registry_scans=None)] == ["scanOnPush"]
    assert repository_fixes(repository, TAG, registry_scans=True) == []


def test_cli_commands_quote_wildcards_for_the_shell() -> None:
    repository = Repository("r", "uri", "arn", "1", "MUTABLE_WITH_EXCLUSION", True, ("latest",))
    (fix,) = repository_fixes(repository, TAG)
    assert fix.command.endswith(
        "--image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=latest 'filterType=WILDCARD,filter=sha256-*'"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/iris:sha256-abc", ("iris", "sha256-abc")),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/iris@sha256:0f", ("team/iris", "sha256:0f")),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/iris", ("iris", "latest")),
    ],
)
def test_split_image_uri(uri: str, expected: tuple[str, str]) -> None:
    from deployer.aws.ecr import split_image_uri

    assert split_image_uri(uri) == expected
