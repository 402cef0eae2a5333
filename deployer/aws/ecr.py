"""ECR: repositories, layer availability, the layer upload API and image manifests.

A thin typed wrapper over an injected boto3 ECR client. Blobs (layers and the image config)
go up through the registry API that `docker push` uses underneath: InitiateLayerUpload,
UploadLayerPart (in the part size the registry asks for), CompleteLayerUpload; then PutImage
with the manifest. BatchCheckLayerAvailability says which blobs the registry already has, so
only the others are sent.

Repository settings. A repository the deployer creates has immutable tags and scan on push. An
existing one (made by hand, by another tool, or before) may have neither, and a push into it used
to proceed silently. `repository_fixes(name, tag)` (describe calls only, for the planner) returns
one `RepositoryFix` per setting that falls short, each with a one-line warning, the call that fixes
it (`set_tag_mutability` / `set_scan_on_push`, for the executor) and the same fix as an AWS CLI
command for whoever prefers to run it:
- tag mutability: the push writes exactly one tag per image, `sha256-<hex>` of the image
  manifest's own digest (deploy/artifact.py), and never moves or re-uses one: a second push of
  the same content puts the same manifest under the same tag (ECR: ImageAlreadyExists, taken as
  done). So IMMUTABLE is compatible with the push; it is incompatible only with other tools that
  move a tag such as `latest` in the same repository, which the warning says, naming the gentler
  alternative (MUTABLE_WITH_EXCLUSION with the filter `sha256-*`: only our tags frozen). The
  *_WITH_EXCLUSION modes are judged by whether their filters cover the tag being pushed.
- scanning: covered when a registry-level scanning rule (GetRegistryScanningConfiguration:
  SCAN_ON_PUSH or CONTINUOUS_SCAN, basic or enhanced) matches the repository, which overrides
  the repository's own flag; otherwise by the repository's `scanOnPush`. When the registry
  configuration cannot be read (no ecr:GetRegistryScanningConfiguration permission), the
  repository's flag decides.
Whether to apply the fixes or only warn is the caller's decision: the repository may be shared.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO

from deployer.aws._call import call
from deployer.aws.errors import AwsError

__all__ = ["Repository", "RepositoryFix", "Ecr", "LAYER_CHECK_BATCH", "DIGEST_TAG_FILTER", "repository_fixes",
           "split_image_uri"]

def split_image_uri(uri: str) -> tuple[str, str]:
    """(repository, tag or digest) of `<registry>/<repository>[:tag|@digest]`; the tag is "latest" when absent."""
    path = uri.split("/", 1)[1] if "/" in uri else uri
    if "@" in path:
        repository, reference = path.split("@", 1)
        return repository, reference
    repository, _, tag = path.partition(":")
    return repository, tag or "latest"


# BatchCheckLayerAvailability takes at most 100 digests per call.
LAYER_CHECK_BATCH = 100
DEFAULT_PART_SIZE = 10 * 1024 * 1024


# The push's tags are `sha256-<64 hex>` (deploy/artifact.py); this wildcard covers them all.
DIGEST_TAG_FILTER = "sha256-*"
# Registry-level scanning frequencies under which a pushed image gets scanned.
_SCANNED_ON_PUSH = frozenset({"SCAN_ON_PUSH", "CONTINUOUS_SCAN"})


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str
    arn: str
    registry_id: str
    tag_mutability: str
    scan_on_push: bool
    tag_exclusion_filters: tuple[str, ...] = ()  # wildcard filters of the *_WITH_EXCLUSION modes


@dataclass(frozen=True)
class RepositoryFix:
    """One setting of an existing repository that falls short, and how to fix it."""

    setting: str  # "imageTagMutability" | "scanOnPush"
    warning: str  # one line: what is set, why it matters for the pushed image
    method: str  # the `Ecr` method that fixes it
    params: Mapping[str, Any] = field(default_factory=dict)
    command: str = ""  # the same fix as an AWS CLI command

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


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

    def registry_scans(self, repository: str) -> bool | None:
        """Whether a registry-level scanning rule scans `repository`'s images on push; None when
        the registry configuration cannot be read (permission), so the repository flag decides."""
        try:
            answer = call(self._client, "get_registry_scanning_configuration")
        except AwsError as exc:
            if exc.code in ("AccessDeniedException", "AccessDenied", "UnsupportedOperation"):
                return None
            raise
        for rule in (answer.get("scanningConfiguration") or {}).get("rules") or []:
            if rule.get("scanFrequency") in _SCANNED_ON_PUSH and any(
                _wildcard(f.get("filter", ""), repository) for f in rule.get("repositoryFilters") or []
            ):
                return True
        return False

    def repository_fixes(self, name: str, tag: str) -> list[RepositoryFix]:
        """What falls short in the existing repository `name` for pushing `tag` (describe calls
        only; [] when the repository does not exist: `create_repository` sets both)."""
        repository = self.describe_repository(name)
        if repository is None:
            return []
        registry = None if repository.scan_on_push else self.registry_scans(name)
        return repository_fixes(repository, tag, registry_scans=registry)

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

    def set_tag_mutability(self, name: str, mutability: str, exclusion_filters: Sequence[str] = ()) -> None:
        """PutImageTagMutability; `exclusion_filters` (wildcards) for the *_WITH_EXCLUSION modes."""
        params: dict[str, Any] = {"repositoryName": name, "imageTagMutability": mutability}
        if exclusion_filters:
            params["imageTagMutabilityExclusionFilters"] = [
                {"filterType": "WILDCARD", "filter": f} for f in exclusion_filters
            ]
        call(self._client, "put_image_tag_mutability", **params)

    def set_scan_on_push(self, name: str) -> None:
        call(self._client, "put_image_scanning_configuration", repositoryName=name,
             imageScanningConfiguration={"scanOnPush": True})  # fmt: skip

    def delete_repository(self, name: str, *, force: bool) -> None:
        call(self._client, "delete_repository", repositoryName=name, force=force)


def repository_fixes(repository: Repository, tag: str, *, registry_scans: bool | None = None) -> list[RepositoryFix]:
    """The fixes `repository` needs before `tag` is pushed into it (see the module doc)."""
    name = repository.name
    fixes: list[RepositoryFix] = []
    mutability = repository.tag_mutability
    filters = repository.tag_exclusion_filters
    covered = [f for f in filters if _wildcard(f, tag)]
    cli = f"aws ecr put-image-tag-mutability --repository-name {name}"
    if mutability == "MUTABLE":
        fixes.append(RepositoryFix(
            "imageTagMutability",
            f"ECR repository {name} has mutable tags: whoever can push there can move {tag[:19]}… to other "
            "content, which Lambda then runs. The push never moves a tag, so IMMUTABLE suits it; if other tools "
            f"move tags such as 'latest' here, freeze only ours: MUTABLE_WITH_EXCLUSION, filter '{DIGEST_TAG_FILTER}'",
            "set_tag_mutability", {"name": name, "mutability": "IMMUTABLE"},
            f"{cli} --image-tag-mutability IMMUTABLE",
        ))  # fmt: skip
    elif mutability == "MUTABLE_WITH_EXCLUSION" and not covered:
        keep = [*filters, DIGEST_TAG_FILTER]
        fixes.append(RepositoryFix(
            "imageTagMutability",
            f"ECR repository {name} has mutable tags except {list(filters)}, which do not cover {tag[:19]}…: "
            f"the pushed image's tag could be moved; add '{DIGEST_TAG_FILTER}' to the immutable exclusions",
            "set_tag_mutability", {"name": name, "mutability": "MUTABLE_WITH_EXCLUSION", "exclusion_filters": keep},
            f"{cli} --image-tag-mutability MUTABLE_WITH_EXCLUSION {_cli_filters(keep)}",
        ))  # fmt: skip
    elif mutability == "IMMUTABLE_WITH_EXCLUSION" and covered:
        keep = [f for f in filters if f not in covered]
        fixes.append(RepositoryFix(
            "imageTagMutability",
            f"ECR repository {name} has immutable tags, but its exclusions {covered} make {tag[:19]}… mutable: "
            "the pushed image's tag could be moved; drop those exclusions",
            "set_tag_mutability",
            {"name": name, "mutability": "IMMUTABLE_WITH_EXCLUSION" if keep else "IMMUTABLE", "exclusion_filters": keep},
            f"{cli} --image-tag-mutability "
            + (f"IMMUTABLE_WITH_EXCLUSION {_cli_filters(keep)}" if keep else "IMMUTABLE"),
        ))  # fmt: skip
    if not repository.scan_on_push and registry_scans is not True:
        fixes.append(RepositoryFix(
            "scanOnPush",
            f"ECR repository {name} does not scan images on push (nor does a registry scanning rule cover it): "
            "known vulnerabilities in the image's packages would go unreported; turn scan on push on",
            "set_scan_on_push", {"name": name},
            f"aws ecr put-image-scanning-configuration --repository-name {name} "
            "--image-scanning-configuration scanOnPush=true",
        ))  # fmt: skip
    return fixes


def _cli_filters(filters: Sequence[str]) -> str:
    return "--image-tag-mutability-exclusion-filters " + " ".join(
        shlex.quote(f"filterType=WILDCARD,filter={f}") for f in filters
    )


def _wildcard(pattern: str, text: str) -> bool:
    """ECR's WILDCARD filters: `*` matches any run of characters, nothing else is special."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


def _repository(data: dict[str, Any]) -> Repository:
    return Repository(
        name=data["repositoryName"],
        uri=data["repositoryUri"],
        arn=data["repositoryArn"],
        registry_id=data["registryId"],
        tag_mutability=data.get("imageTagMutability", "MUTABLE"),
        scan_on_push=bool(data.get("imageScanningConfiguration", {}).get("scanOnPush")),
        tag_exclusion_filters=tuple(
            str(f.get("filter", "")) for f in data.get("imageTagMutabilityExclusionFilters") or []
        ),
    )


def _chunks(stream: BinaryIO, size: int) -> Iterable[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk
