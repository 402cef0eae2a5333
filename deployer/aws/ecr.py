"""ECR: repositories, layer availability, the layer upload API and image manifests.

A thin typed wrapper over an injected boto3 ECR client. Blobs (layers and the image config)
go up through the registry API that `docker push` uses underneath: InitiateLayerUpload,
UploadLayerPart (in the part size the registry asks for), CompleteLayerUpload; then PutImage
with the manifest. BatchCheckLayerAvailability says which blobs the registry already has, so
only the others are sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from deployer.aws._call import call
from deployer.aws.errors import AwsError

__all__ = ["Repository", "Ecr", "LAYER_CHECK_BATCH"]

# BatchCheckLayerAvailability takes at most 100 digests per call.
LAYER_CHECK_BATCH = 100
DEFAULT_PART_SIZE = 10 * 1024 * 1024


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str
    arn: str
    registry_id: str
    tag_mutability: str
    scan_on_push: bool


class Ecr:
    def __init__(self, client: Any) -> None:
        self._client = client

    # ------------------------------------------------------------------ describe (planner)

    def describe_repository(self, name: str) -> Repository | None:
        try:
            answer = call(self._client, "describe_repositories", repositoryNames=[name])
        except AwsError as exc:
            if exc.code == "RepositoryNotFoundException":
                return None
            raise
        return _repository(answer["repositories"][0])

    def available_layers(self, repository: str, digests: Sequence[str]) -> set[str]:
        """The digests among `digests` the repository already holds."""
        found: set[str] = set()
        for start in range(0, len(digests), LAYER_CHECK_BATCH):
            batch = list(digests[start : start + LAYER_CHECK_BATCH])
            answer = call(self._client, "batch_check_layer_availability", repositoryName=repository, layerDigests=batch)
            for layer in answer.get("layers", []):
                if layer.get("layerAvailability") == "AVAILABLE":
                    found.add(layer["layerDigest"])
        return found

    def image_exists(self, repository: str, tag: str) -> bool:
        try:
            answer = call(self._client, "describe_images", repositoryName=repository, imageIds=[{"imageTag": tag}])
        except AwsError as exc:
            if exc.code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return False
            raise
        return bool(answer.get("imageDetails"))

    def list_tags(self, repository: str) -> list[str]:
        tags: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"repositoryName": repository}
            if token:
                params["nextToken"] = token
            answer = call(self._client, "list_images", **params)
            tags += [i["imageTag"] for i in answer.get("imageIds", []) if i.get("imageTag")]
            token = answer.get("nextToken")
            if not token:
                return tags

    # ------------------------------------------------------------------ mutations (executor)

    def create_repository(self, name: str, tags: dict[str, str] | None = None) -> Repository:
        """Immutable tags (a tag is a content digest: it never moves), scan on push."""
        params: dict[str, Any] = {
            "repositoryName": name,
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
        }
        if tags:
            params["tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        try:
            answer = call(self._client, "create_repository", **params)
        except AwsError as exc:
            if exc.code == "RepositoryAlreadyExistsException":  # created meanwhile: same outcome
                existing = self.describe_repository(name)
                if existing is not None:
                    return existing
            raise
        return _repository(answer["repository"])

    def upload_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_blob: Callable[[], BinaryIO],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upload one blob through the layer API; returns the bytes sent.

        The registry computes the digest of what it received; a different digest than ours is
        an error (a corrupt cache or a changed file), never silently accepted.
        """
        started = call(self._client, "initiate_layer_upload", repositoryName=repository)
        upload_id = started["uploadId"]
        part_size = int(started.get("partSize") or DEFAULT_PART_SIZE)
        sent = 0
        with open_blob() as blob:
            for chunk in _chunks(blob, part_size):
                call(
                    self._client, "upload_layer_part", repositoryName=repository, uploadId=upload_id,
                    partFirstByte=sent, partLastByte=sent + len(chunk) - 1, layerPartBlob=chunk,
                )  # fmt: skip
                sent += len(chunk)
                if progress is not None:
                    progress(len(chunk))
        if sent != size:
            raise AwsError(f"blob {digest}: read {sent} bytes, expected {size}; the build cache changed during the push")
        done = call(self._client, "complete_layer_upload", repositoryName=repository, uploadId=upload_id, layerDigests=[digest])
        if done.get("layerDigest") not in (None, digest):
            raise AwsError(
                f"ECR computed {done['layerDigest']} for the blob uploaded as {digest}: the local blob is corrupt; "
                "delete the deployer's cache folder and push again"
            )
        return sent

    def put_image(self, repository: str, tag: str, manifest: str, media_type: str) -> str | None:
        """Put the manifest under `tag`; returns the registry's image digest."""
        try:
            answer = call(
                self._client, "put_image", repositoryName=repository, imageTag=tag, imageManifest=manifest,
                imageManifestMediaType=media_type,
            )  # fmt: skip
        except AwsError as exc:
            if exc.code == "ImageAlreadyExistsException":  # same content digest tag: already there
                return None
            raise
        return str(answer["image"]["imageId"].get("imageDigest") or "") or None

    def delete_repository(self, name: str, *, force: bool) -> None:
        call(self._client, "delete_repository", repositoryName=name, force=force)


def _repository(data: dict[str, Any]) -> Repository:
    return Repository(
        name=data["repositoryName"],
        uri=data["repositoryUri"],
        arn=data["repositoryArn"],
        registry_id=data["registryId"],
        tag_mutability=data.get("imageTagMutability", "MUTABLE"),
        scan_on_push=bool(data.get("imageScanningConfiguration", {}).get("scanOnPush")),
    )


def _chunks(stream: BinaryIO, size: int) -> Iterable[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk
