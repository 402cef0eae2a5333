"""ECR's bytes: the layers pushed are kept, content-addressed, so the pushed image can be served.

moto 5.2's ECR keeps only the size of an uploaded layer (`complete_layer_upload` stores
`repository.layers[digest] = len(parts)` and drops the parts), so nothing could run the image a
push uploaded. `patch()` wraps `ECRBackend.complete_layer_upload`: before moto drops the parts,
their bytes are written to the active server's store,

    <root>/sha256/<hex>     hex = sha256 of the bytes; written to a temporary file in the same
                            folder, fsync'ed, then renamed: a reader sees a whole blob or none

and only then is moto's own completion run, so a blob that could not be written leaves the
upload pending (the client's retry completes it) rather than a layer moto says it has and no one
can read. The manifests put with PutImage are moto's own (`Image.image_manifest`, the exact text
pushed); `find_manifest` reads them back by tag or digest.

Which store is active is a context variable set by the server around each request it processes
(`active_store`): moto's backends are per process, the stores are per server. Outside a server
(moto used directly), completion is moto's own.

Replay. Sending a layer's bytes through moto again costs what the push did (moto parses each
10 MiB JSON part several times: ~45 ms per MiB), so a journal replay does not: the parts of an
upload that completed, and whose blob is in the store, are skipped, and its completion
(`replayed_layers`: upload id -> digest, size) records the layer as moto would have, from the
journal. Uploads still in progress at the crash are replayed with their bytes. Layers are never garbage-collected: a blob stays
after its image or repository is deleted, until `BlobStore.clear()` (the server's reset).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from moto.ecr.models import ECRBackend, ecr_backends

__all__ = ["BlobStore", "active_store", "replayed_layers", "patch", "find_manifest", "parse_digest"]

active_store: contextvars.ContextVar[BlobStore | None] = contextvars.ContextVar("active_blob_store", default=None)
# upload id -> (digest, size) of uploads a replay completes from the store, their parts not sent again
replayed_layers: contextvars.ContextVar[dict[str, tuple[str, int]]] = contextvars.ContextVar("replayed_layers", default={})
_original_complete = ECRBackend.complete_layer_upload


class BlobStore:
    """Content-addressed files under `root/sha256/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path | None:
        """The file of `digest` ("sha256:<hex>" or "<hex>"), or None when it is not here."""
        hexdigest = parse_digest(digest)
        if hexdigest is None:
            return None
        path = self.root / "sha256" / hexdigest
        return path if path.is_file() else None

    def put(self, data: bytes) -> str:
        """Store `data` (atomically; once per content); returns its digest "sha256:<hex>"."""
        hexdigest = hashlib.sha256(data).hexdigest()
        folder = self.root / "sha256"
        target = folder / hexdigest
        if target.is_file() and target.stat().st_size == len(data):
            return "sha256:" + hexdigest
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".incoming-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return "sha256:" + hexdigest

    def clear(self) -> None:
        shutil.rmtree(self.root / "sha256", ignore_errors=True)


def patch() -> None:
    ECRBackend.complete_layer_upload = _complete_layer_upload  # type: ignore[method-assign]


def _complete_layer_upload(
    self: Any, repository_name: str, upload_id: str, layer_digests: list[str], registry_id: str | None = None
) -> dict[str, Any]:
    store = active_store.get()
    if store is not None:
        repository = self._get_repository(repository_name, registry_id)
        upload = repository.uploads.get(upload_id)
        known = replayed_layers.get().get(upload_id)
        if upload is not None and known is not None:  # a replay: the bytes are in the store already
            digest, size = known
            repository.layers[digest] = size
            del repository.uploads[upload_id]
            return {"registryId": repository.registry_id, "repositoryName": repository_name, "uploadId": upload_id,
                    "layerDigest": digest}  # fmt: skip
        if upload is not None:  # else moto answers UploadNotFound
            store.put(bytes(upload.layer_parts))
    result: dict[str, Any] = _original_complete(self, repository_name, upload_id, layer_digests, registry_id)
    return result


def find_manifest(repository: str, reference: str) -> dict[str, Any] | None:
    """The manifest put under `reference` (a tag, moto's image digest or the manifest's sha256).

    `repository` is a name ("iris") or a repository URI
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/iris"); a name is looked up in every account
    and region that has an ECR backend. Call with the server's lock held.
    """
    account, region, name = _split_repository(repository)
    for account_id in list(ecr_backends.keys()):
        if account is not None and account_id != account:
            continue
        for region_name, backend in list(ecr_backends[account_id].items()):
            if region is not None and region_name != region:
                continue
            found = backend.repositories.get(name)
            if found is None:
                continue
            for image in found.images:
                if _matches(image, reference):
                    manifest: dict[str, Any] = json.loads(image.image_manifest)
                    return manifest
    return None


def parse_digest(digest: str) -> str | None:
    """The hex part of "sha256:<hex>" or "<hex>", or None when it is not a sha256 digest."""
    hexdigest = digest.split(":", 1)[1] if digest.startswith("sha256:") else digest
    if len(hexdigest) == 64 and all(c in "0123456789abcdef" for c in hexdigest):
        return hexdigest
    return None


def _matches(image: Any, reference: str) -> bool:
    if reference in image.image_tags:
        return True
    if not reference.startswith("sha256:"):
        return False
    text = image.image_manifest.encode() if isinstance(image.image_manifest, str) else image.image_manifest
    return bool(reference == image.get_image_digest() or reference == "sha256:" + hashlib.sha256(text).hexdigest())


def _split_repository(repository: str) -> tuple[str | None, str | None, str]:
    if "/" in repository and ".dkr.ecr." in repository.split("/", 1)[0]:
        host, name = repository.split("/", 1)
        account, _, _, region = host.split(".")[:4]
        return account, region, name
    return None, None, repository


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
