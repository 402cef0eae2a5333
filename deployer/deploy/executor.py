"""The executor: runs `APICall` records against step objects, one by one, reporting each.

`execute(calls, targets, report)` calls `targets[call.service].<call.method>(**call.params)`.
The step objects below adapt the typed AWS wrappers to the records' plain parameters (a blob
is named by its digest in a record; `ImageSteps` finds its bytes). A display-only target (the
`plan` verb) is simply a different mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deployer.aws.cloudformation import CloudFormation
from deployer.aws.ecr import Ecr
from deployer.deploy.artifact import MANIFEST_MEDIA_TYPE, ImageArtifact
from deployer.deploy.plan import APICall

__all__ = ["execute", "ImageSteps", "StackSteps"]


def execute(
    calls: Sequence[APICall],
    targets: Mapping[str, Any],
    report: Callable[[APICall, Any], None] | None = None,
) -> list[Any]:
    results = []
    for record in calls:
        result = getattr(targets[record.service], record.method)(**record.params)
        results.append(result)
        if report is not None:
            report(record, result)
    return results


class ImageSteps:
    """ECR records → Ecr calls, with the artifact's blobs at hand. Counts what it sends."""

    def __init__(self, ecr: Ecr, artifact: ImageArtifact, *, on_bytes: Callable[[int], None] | None = None) -> None:
        self._ecr = ecr
        self._artifact = artifact
        self._blobs = {b.digest: b for b in artifact.blobs}
        self._on_bytes = on_bytes
        self.uploaded_layer_bytes = 0
        self.uploaded_config_bytes = 0
        self.uploaded: list[str] = []

    def create_repository(self, name: str, tags: Mapping[str, str]) -> Any:
        return self._ecr.create_repository(name, dict(tags))

    def upload_blob(self, repository: str, digest: str, size: int) -> int:
        blob = self._blobs[digest]
        sent = self._ecr.upload_blob(repository, digest, size, blob.open, progress=self._on_bytes)  # type: ignore[arg-type]
        if blob.role == "config":
            self.uploaded_config_bytes += sent
        else:
            self.uploaded_layer_bytes += sent
        self.uploaded.append(digest)
        return sent

    def put_image(self, repository: str, tag: str) -> str | None:
        return self._ecr.put_image(repository, tag, self._artifact.manifest(), MANIFEST_MEDIA_TYPE)


class StackSteps:
    """CloudFormation preparation records (cleanups, waits) → CloudFormation calls."""

    def __init__(self, cfn: CloudFormation, *, on_event: Callable[[Any], None] | None = None) -> None:
        self._cfn = cfn
        self._on_event = on_event

    def delete_change_set(self, change_set_id: str) -> None:
        self._cfn.delete_change_set(change_set_id)

    def delete_stack(self, stack: str) -> None:
        self._cfn.delete_stack(stack)
        self._cfn.wait_stack(stack, gone_ok=True, on_event=None)

    def wait_stack(self, stack: str) -> Any:
        found, _ = self._cfn.wait_stack(stack, on_event=self._on_event, gone_ok=True)
        return found
