"""Issue 9 #12: pushing into an existing repository with mutable tags and no scan on push is said, with the fix."""

from __future__ import annotations

from pathlib import Path

from tests.functional.conftest import EXAMPLE, boto, cli


def test_push_into_a_lax_repository_warns_and_says_how(moto_url: str, project: Path) -> None:
    boto("ecr", moto_url).create_repository(repositoryName="iris", imageTagMutability="MUTABLE",
                                            imageScanningConfiguration={"scanOnPush": False})  # fmt: skip
    run = cli("push", str(EXAMPLE), "--target", "aws", "--builder", "files", "--json", project=project,
              endpoint=moto_url)  # fmt: skip
    assert run.code == 0, run.stderr
    notes = " ".join(run.json()["notes"])
    assert "MUTABLE" in notes and "put-image-tag-mutability" in notes, notes
    assert "scan" in notes.lower() and "put-image-scanning-configuration" in notes, notes
    assert "put-image-tag-mutability" in run.stderr  # said on the terminal too, not only in --json


def test_push_into_a_strict_repository_says_nothing(moto_url: str, project: Path) -> None:
    boto("ecr", moto_url).create_repository(repositoryName="iris", imageTagMutability="IMMUTABLE",
                                            imageScanningConfiguration={"scanOnPush": True})  # fmt: skip
    run = cli("push", str(EXAMPLE), "--target", "aws", "--builder", "files", "--json", project=project,
              endpoint=moto_url)  # fmt: skip
    assert run.code == 0, run.stderr
    assert not any("put-image" in note for note in run.json()["notes"])
