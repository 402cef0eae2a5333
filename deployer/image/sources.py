"""Where the image comes from: a Docker image (by tag), or the model and code files themselves.

`docker_image(tag, client, store)` reads a local Docker image's layers and config. When every
layer (by diff id) and the config (by image id) are in the blob store already, Docker is only
asked to inspect the image; otherwise `docker save` is streamed once and each layer is
compressed into the store as it passes (no temporary copy of the whole image).

`files_image(model_dir, code_root, store)` makes the two layers the deployer owns without any
container tooling: the model folder at /opt/model and the handler package `functions/` at
/var/task, as deterministic tars (sorted, owner root, mtime 0). It has no base layer, so it is
not a runnable container on its own: the local target runs those same files on the host, and
the report says `kind: files`. It is what `push` uses when no container builder is available.
Its model layer holds what the function image's does (`model_layer_files`: the manifest's files,
checked against their sha256, and a golden set), so both kinds serve the same verified files.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deployer.image.blobs import CONFIG_MEDIA_TYPE, Blob, BlobStore, ImageArtifact
from deployer.errors import ImageError as BuildError
from deployer.errors import ModelError
from functions.manifest import (CODE_DIR, GOLDEN_FILE, HANDLER, MANIFEST_FILE, MODEL_DIR, MODEL_PATH_VARIABLE,
                                Manifest, sha256_file)  # deploy.errors.BuildError is one too

__all__ = ["docker_image", "files_image", "model_layer_files", "MODEL_ROOT", "CODE_ROOT"]

MODEL_ROOT = MODEL_DIR.lstrip("/")  # paths inside a layer tar are relative
CODE_ROOT = CODE_DIR.lstrip("/")
_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


# --------------------------------------------------------------------------- files

def model_layer_files(model_dir: Path, manifest: Manifest) -> list[tuple[Path, str]]:
    """(source, name) of what the model layer holds, in both kinds of image: manifest.json, the
    model and its external data, each checked against the manifest's sha256 (the handler checks only
    sizes at run time: functions/model.py), and the golden set when the folder has one (push
    --golden: the local cloud reads it from the image). Nothing else of the folder ships."""
    model = manifest["model"]
    files = [(model_dir / MANIFEST_FILE, MANIFEST_FILE)]
    expected = [(str(model["file"]), str(model["sha256"]))]
    expected += [(str(item["file"]), str(item["sha256"])) for item in model.get("external_data") or []]
    for name, digest in expected:
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"{path}: missing, but {MANIFEST_FILE} lists it; convert the model again (python -m deployer convert)")
        actual = sha256_file(str(path))
        if actual != digest:
            raise ModelError(
                f"{path}: sha256 {actual[:12]}… does not match {MANIFEST_FILE} ({digest[:12]}…); the file changed after "
                f"conversion: convert the model again (python -m deployer convert)"
            )
        files.append((path, name))
    if (model_dir / GOLDEN_FILE).is_file():
        files.append((model_dir / GOLDEN_FILE, GOLDEN_FILE))
    return files



def files_image(model_dir: Path, code_root: Path, store: BlobStore, *, architecture: str = "x86_64") -> ImageArtifact:
    from deployer.template.report import load_model_manifest

    model_files = model_layer_files(Path(model_dir), load_model_manifest(Path(model_dir)))
    package = Path(code_root) / "functions"
    code_files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    if not code_files:
        raise BuildError(f"{package}: no handler package found (functions/*.py)")
    layers = [
        _files_layer(store, MODEL_ROOT, [(name, path) for path, name in model_files], role="model"),
        _files_layer(store, CODE_ROOT, [(str(p.relative_to(code_root)), p) for p in code_files], role="code"),
    ]
    config = {
        "architecture": _ARCH.get(architecture, architecture),
        "os": "linux",
        "config": {
            "Env": [f"LAMBDA_TASK_ROOT={CODE_DIR}", f"{MODEL_PATH_VARIABLE}={MODEL_DIR}"],
            "Cmd": [HANDLER],
            "WorkingDir": CODE_DIR,
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    blob = store.put_bytes(json.dumps(config, sort_keys=True, separators=(",", ":")).encode(), CONFIG_MEDIA_TYPE, "config")
    return ImageArtifact(layers=tuple(layers), config=blob, source=f"files of {model_dir}", kind="files")


def _files_layer(store: BlobStore, prefix: str, files: Iterable[tuple[str, Path]], *, role: str) -> Blob:
    """A deterministic layer tar of `files` under `prefix`, compressed into the store.

    Files whose names, sizes and modification times are all as last time are not read again:
    the layer made then is reused (a multi-GB model is compressed once, not on every push).
    """
    entries = sorted(files)
    stamp = hashlib.sha256(json.dumps(
        [prefix, role, [(name, p.stat().st_size, p.stat().st_mtime_ns, str(p.resolve())) for name, p in entries]]
    ).encode()).hexdigest()  # fmt: skip
    seen = store.root / "stamps" / stamp
    try:
        known = store.layer_for(seen.read_text().strip(), role=role)
    except OSError:
        known = None
    if known is not None:
        return known
    with tempfile.TemporaryFile() as raw:
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dirs: set[str] = set()
            for name, _ in entries:
                parts = f"{prefix}/{name}".split("/")[:-1]
                for depth in range(1, len(parts) + 1):
                    dirs.add("/".join(parts[:depth]))
            for directory in sorted(dirs):
                tar.addfile(_info(directory, tarfile.DIRTYPE, 0o755, 0))
            for name, path in entries:
                size = path.stat().st_size
                with open(path, "rb") as fh:
                    tar.addfile(_info(f"{prefix}/{name}", tarfile.REGTYPE, 0o644, size), fh)
        raw.seek(0)
        layer = store.put_layer(raw, role=role)  # type: ignore[arg-type]
    seen.parent.mkdir(parents=True, exist_ok=True)
    seen.write_text(str(layer.diff_id))
    return layer


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# --------------------------------------------------------------------------- docker


def docker_image(tag: str, client: Any, store: BlobStore, *, roles: dict[str, str] | None = None) -> ImageArtifact:
    """The blobs of the local Docker image `tag` (see module doc). `roles`: diff id → role name."""
    import docker.errors

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound as exc:
        raise BuildError(f"no Docker image {tag!r} on this machine; build it first (python -m deployer build)") from exc
    except docker.errors.DockerException as exc:
        raise BuildError(f"Docker did not answer about the image {tag!r}: {exc}") from exc
    image_id: str = image.id
    diff_ids: list[str] = list(image.attrs.get("RootFS", {}).get("Layers", []))
    roles = roles or {}
    config = store.blob(image_id, CONFIG_MEDIA_TYPE, role="config") if store.has(image_id) else None
    layers = [store.layer_for(d, role=roles.get(d, "layer")) for d in diff_ids]
    if config is None or any(layer is None for layer in layers):
        _save_into(image, image_id, set(diff_ids), store)
        config = store.blob(image_id, CONFIG_MEDIA_TYPE, role="config")
        layers = [store.layer_for(d, role=roles.get(d, "layer")) for d in diff_ids]
    missing = [d for d, layer in zip(diff_ids, layers) if layer is None]
    if missing:
        raise BuildError(f"docker save of {tag} did not contain the layers {', '.join(missing)}")
    return ImageArtifact(layers=tuple(l for l in layers if l is not None), config=config, source=f"docker image {tag}",
                         docker_tag=tag)  # fmt: skip


def _save_into(image: Any, image_id: str, diff_ids: set[str], store: BlobStore) -> None:
    """Stream `docker save` and keep what the image is made of: its config and its layers."""
    stream = _IterStream(image.save(named=False))
    with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            if member.size < 4 * 1024 * 1024 and not member.name.endswith(".tar"):
                data = fh.read()
                if "sha256:" + hashlib.sha256(data).hexdigest() == image_id:
                    store.put_bytes(data, CONFIG_MEDIA_TYPE, "config")
                    continue
                fh = io.BytesIO(data)  # type: ignore[assignment]
            if member.name.endswith(".tar") or member.name.startswith("blobs/"):
                blob = store.put_layer(fh)  # type: ignore[arg-type]
                if blob.diff_id not in diff_ids:
                    pass  # an OCI index or manifest that happened to look like a layer: harmless in the store


class _IterStream(io.RawIOBase):
    """A file object over an iterator of byte chunks (the Docker SDK's `save()` stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
