"""Describe-only fakes of the AWS readers the planners take: canned answers, every call recorded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deployer.aws.cloudformation import ChangeSetSummary, Stack
from deployer.aws.ecr import Repository
from deployer.image.blobs import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, Blob, ImageArtifact


def blob(name: str, size: int, role: str) -> Blob:
    digest = "sha256:" + (name * 64)[:64]
    media = CONFIG_MEDIA_TYPE if role == "config" else LAYER_MEDIA_TYPE
    return Blob(digest=digest, size=size, media_type=media, path=Path("/nonexistent") / name, role=role)


def artifact(model: str = "b") -> ImageArtifact:
    return ImageArtifact(
        layers=(blob("a", 1000, "deps"), blob(model, 200, "model"), blob("c", 30, "code")),
        config=blob("f" if model == "b" else "e", 5, "config"),
        source="test",
    )


class FakeEcr:
    def __init__(self, repository: bool = True, layers: Sequence[str] = (), tags: Sequence[str] = ()) -> None:
        self.repository = repository
        self.layers = set(layers)
        self.tags = set(tags)
        self.calls: list[tuple[str, object]] = []

    def describe_repository(self, name: str) -> Repository | None:
        self.calls.append(("describe_repository", name))
        if not self.repository:
            return None
        uri = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"
        return Repository(name, uri, f"arn:aws:ecr:us-east-1:123456789012:repository/{name}", "123456789012",
                          "IMMUTABLE", True)  # fmt: skip

    def available_layers(self, repository: str, digests: Sequence[str]) -> set[str]:
        self.calls.append(("available_layers", tuple(digests)))
        return {d for d in digests if d in self.layers}

    def image_exists(self, repository: str, tag: str) -> bool:
        self.calls.append(("image_exists", tag))
        return tag in self.tags


class FakeCfn:
    def __init__(self, status: str | None = None, change_sets: Sequence[ChangeSetSummary] = (), reason: str = "") -> None:
        self.status = status
        self.reason = reason
        self.change_sets = list(change_sets)
        self.calls: list[str] = []

    def describe_stack(self, name: str) -> Stack | None:
        self.calls.append("describe_stack")
        if self.status is None:
            return None
        return Stack(name=name, stack_id=f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1",
                     status=self.status, reason=self.reason)  # fmt: skip

    def list_change_sets(self, stack: str) -> list[ChangeSetSummary]:
        self.calls.append("list_change_sets")
        return self.change_sets
