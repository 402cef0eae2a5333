"""The image as the registry sees it: compressed layer blobs, a config blob, a manifest.

`ImageArtifact` is what `push` uploads. Its layers are gzip blobs made deterministically
(mtime 0, no file name, fixed level), so the same layer content always has the same digest and
a registry that has it already is never sent it again. Blobs live in a content-addressed
`BlobStore` (a cache folder): `blobs/sha256/<hex>` plus `diffs/<hex>`, which maps a layer's
uncompressed digest (Docker's diff id) to its blob, so an unchanged layer is compressed once.

The manifest is Docker's image manifest v2 schema 2 (what Lambda and ECR accept), written
compactly with sorted keys: its sha256 is the image's content digest, and the tag pushed is
`sha256-<hex>` of it (tags are immutable in the repository: a tag never moves).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "Blob",
    "BlobStore",
    "ImageArtifact",
    "MANIFEST_MEDIA_TYPE",
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "cache_root",
]

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_CHUNK = 1024 * 1024


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """The deployer's one cache folder: ONNX_LAMBDA_CACHE_DIR, else $XDG_CACHE_HOME (or ~/.cache)/onnx-lambda-deployer.

    Blobs go to `blobs/` (BlobStore), wheels and installed trees to `image/` (staging.py)."""
    env = os.environ if environ is None else environ
    if env.get("ONNX_LAMBDA_CACHE_DIR"):
        return Path(env["ONNX_LAMBDA_CACHE_DIR"])
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "onnx-lambda-deployer"


@dataclass(frozen=True)
class Blob:
    """One blob of the image: a gzip layer or the config JSON, stored at `path`."""

    digest: str  # sha256:<hex> of the bytes as uploaded
    size: int
    media_type: str
    path: Path
    role: str = "layer"  # "config", "layer", or what the builder says: "deps", "model", "code"
    diff_id: str | None = None  # layers: sha256 of the uncompressed tar

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        with open(self.path, "rb") as fh:
            yield fh


@dataclass(frozen=True)
class ImageArtifact:
    layers: tuple[Blob, ...]
    config: Blob
    source: str  # where it came from: "docker image iris:abc", "files of examples/iris/model"
    kind: str = "container"  # "container" (a runnable image) or "files" (model + code layers only)
    docker_tag: str | None = None  # the local Docker image it was read from, if any

    def manifest(self) -> str:
        document = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": self.config.media_type, "size": self.config.size, "digest": self.config.digest},
            "layers": [{"mediaType": b.media_type, "size": b.size, "digest": b.digest} for b in self.layers],
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest().encode()).hexdigest()

    @property
    def tag(self) -> str:
        return self.digest.replace(":", "-")

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Layers, then the config: what the registry must hold before the manifest goes in."""
        return (*self.layers, self.config)


class BlobStore:
    """Content-addressed blobs under `root` (see module doc). Safe against concurrent writers:
    every file is written to a temporary name and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def has(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    def blob(self, digest: str, media_type: str, role: str = "layer", diff_id: str | None = None) -> Blob:
        path = self._blob_path(digest)
        return Blob(digest=digest, size=path.stat().st_size, media_type=media_type, path=path, role=role, diff_id=diff_id)

    def layer_for(self, diff_id: str, role: str = "layer") -> Blob | None:
        """The gzip blob already made of the layer whose uncompressed digest is `diff_id`."""
        index = self.root / "diffs" / diff_id.split(":", 1)[1]
        try:
            digest = index.read_text().strip()
        except OSError:
            return None
        if not self.has(digest):
            return None
        return self.blob(digest, LAYER_MEDIA_TYPE, role=role, diff_id=diff_id)

    def put_bytes(self, data: bytes, media_type: str, role: str) -> Blob:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has(digest):
            self._write(digest, lambda fh: fh.write(data))
        return self.blob(digest, media_type, role=role)

    def put_layer(self, tar_stream: BinaryIO, role: str = "layer") -> Blob:
        """Compress an uncompressed layer tar; index it by its diff id; return its blob."""
        self.root.mkdir(parents=True, exist_ok=True)
        raw = hashlib.sha256()
        packed = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=".layer-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                hashing = _HashingWriter(out, packed)
                with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0, compresslevel=6) as gz:
                    for chunk in iter(lambda: tar_stream.read(_CHUNK), b""):
                        raw.update(chunk)
                        gz.write(chunk)
            digest = "sha256:" + packed.hexdigest()
            diff_id = "sha256:" + raw.hexdigest()
            target = self._blob_path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self._index(diff_id, digest)
        return self.blob(digest, LAYER_MEDIA_TYPE, role=role, diff_id=diff_id)

    def _index(self, diff_id: str, digest: str) -> None:
        index = self.root / "diffs" / diff_id.split(":", 1)[1]
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp = index.with_name(f".{index.name}.{os.getpid()}")
        tmp.write_text(digest)
        os.replace(tmp, index)

    def _write(self, digest: str, writer: object) -> None:
        target = self._blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        with open(tmp, "wb") as fh:
            writer(fh)  # type: ignore[operator]
        os.replace(tmp, target)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, out: BinaryIO, digest: "hashlib._Hash") -> None:
        self._out = out
        self._digest = digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()
