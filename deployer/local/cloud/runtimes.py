"""Each published function version, runnable: the exact image that was pushed, read back from ECR.

The local cloud serves what was deployed, so a version's runtime is made from the registry, never
from the pushing process's files: the version's `ImageUri` → the image manifest kept by the
emulator's ECR → its config and layer blobs (content-addressed, digests checked on upload) →

    files image       (the model and code layers, no base layer: no Entrypoint, two layers)
                      unpacked once per image digest into <state>/images/<hex>/rootfs and run on
                      the host under the Runtime Interface Emulator + awslambdaric
                      (deployer.local.LocalEndpoint), with MODEL_PATH and the code root inside it
    container image   loaded into Docker once (the image id is its config digest, so an image
                      pushed from this machine's Docker is found there already), tagged
                      onnx-lambda-cloud/<repository>:<digest>-<arch> (the architecture in the tag,
                      as `build`'s local tags), and run as Lambda would
                      (deployer.local.container.ContainerEndpoint) when Docker here runs that
                      architecture; an arm64 image on an x86_64 daemon (or back) is refused with
                      the fix, since no emulation is assumed

A runtime lives until its version stops receiving traffic (the daemon closes it), and is started
again on demand, as Lambda does with execution environments. The version's own configuration
(environment, timeout, memory, reserved concurrency) is read from the Lambda API, per version.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from deployer.aws.ecr import split_image_uri
from deployer.errors import LocalRuntimeError
from functions.golden import load_golden
from functions.manifest import CODE_DIR, GOLDEN_FILE, MANIFEST_FILE, MODEL_DIR

__all__ = ["VersionSpec", "ImageStore", "Runtime", "start_runtime", "model_info"]

# A function without reserved concurrency scales to the account's limit on AWS (1,000); here to this
# many execution environments, started on demand (each a process of ~70 MB); beyond them, 429.
UNRESERVED_CONCURRENCY = 4
_LAMBDA_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}  # OCI/Docker → Lambda
MODEL_ROOT = MODEL_DIR.lstrip("/")  # where the files image and the function image keep the model
CODE_ROOT = CODE_DIR.lstrip("/")


@dataclass(frozen=True)
class VersionSpec:
    """What Lambda knows of one function version: enough to run it."""

    function: str
    version: str
    image_uri: str
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    concurrency: int | None = None

    @property
    def repository(self) -> str:
        return split_image_uri(self.image_uri)[0]

    @property
    def reference(self) -> str:
        return split_image_uri(self.image_uri)[1]


class Registry(Protocol):
    def blob_path(self, digest: str) -> Path | None: ...
    def image_manifest(self, repository: str, reference: str) -> dict[str, Any] | None: ...


class Runtime(Protocol):
    url: str

    def close(self) -> None: ...


@dataclass(frozen=True)
class PulledImage:
    digest: str  # sha256 of the manifest: the image's content digest
    kind: str  # "files" | "container"
    config_digest: str
    rootfs: Path | None  # files images: where they were unpacked
    model: dict[str, Any]  # the image's model manifest (name, version, parity), {} when unreadable
    golden: dict[str, Any] | None = None  # the image's golden set (functions/golden.py), None without one
    architecture: str = "x86_64"  # Lambda's name for the image config's architecture (x86_64 | arm64)


class ImageStore:
    """Images read back from the emulator's ECR, unpacked or loaded once per digest."""

    def __init__(self, registry: Registry, root: Path) -> None:
        self.registry = registry
        self.root = root
        self._lock = threading.Lock()
        self._pulled: dict[str, PulledImage] = {}

    def pull(self, repository: str, reference: str) -> PulledImage:
        manifest = self.registry.image_manifest(repository, reference)
        if manifest is None:
            raise LocalRuntimeError(f"image {repository}:{reference} is not in the local cloud's registry")
        text = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        digest = reference if reference.startswith("sha256:") else "sha256:" + hashlib.sha256(text).hexdigest()
        with self._lock:
            if digest in self._pulled:
                return self._pulled[digest]
            config_digest = manifest["config"]["digest"]
            config = json.loads(self._blob(config_digest).read_bytes())
            layers = [layer["digest"] for layer in manifest.get("layers", [])]
            inner = config.get("config") or {}
            kind = "files" if not inner.get("Entrypoint") and len(layers) <= 2 else "container"
            rootfs = self._unpack(digest, layers) if kind == "files" else None
            folder = rootfs / MODEL_ROOT if rootfs else self._model_files(digest, layers)
            arch = _LAMBDA_ARCH.get(str(config.get("architecture", "amd64")), str(config.get("architecture", "")))
            pulled = PulledImage(digest, kind, config_digest, rootfs, _read_model_manifest(folder), load_golden(folder),
                                 arch)  # fmt: skip
            self._pulled[digest] = pulled
            return pulled

    def _blob(self, digest: str) -> Path:
        path = self.registry.blob_path(digest)
        if path is None or not path.is_file():
            raise LocalRuntimeError(f"blob {digest} of a pushed image is missing from the local cloud's registry")
        return path

    def _unpack(self, digest: str, layers: list[str]) -> Path:
        target = self.root / digest.split(":", 1)[1][:32]
        rootfs = target / "rootfs"
        if (target / ".complete").exists():
            return rootfs
        shutil.rmtree(target, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root if self.root.exists() else None))
        try:
            for layer in layers:
                with gzip.open(self._blob(layer)) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
                    tar.extractall(staging / "rootfs", filter="data")
            (staging / ".complete").write_text(digest)
            self.root.mkdir(parents=True, exist_ok=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return rootfs

    def _model_files(self, digest: str, layers: list[str]) -> Path:
        """A container image's manifest.json and golden.json, copied out of the layers that hold them."""
        folder = self.root / digest.split(":", 1)[1][:32] / "model"
        if (folder / ".complete").exists():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {f"{MODEL_ROOT}/{MANIFEST_FILE}", f"{MODEL_ROOT}/{GOLDEN_FILE}"}
        for layer in layers:  # later layers win, as in the image's file system
            try:
                with gzip.open(self._blob(layer)) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
                    for member in tar:
                        name = member.name.lstrip("./")
                        if name in wanted and member.isfile():
                            handle = tar.extractfile(member)
                            if handle is not None:
                                (folder / Path(name).name).write_bytes(handle.read())
            except (OSError, tarfile.TarError, ValueError, EOFError):
                continue  # a layer that is not a gzip tar holds no model files
        (folder / ".complete").write_text(digest)
        return folder

    def docker_tag(self, pulled: PulledImage, client: Any, repository: str) -> str:
        """A local Docker tag for a container image: the image itself when Docker has it, else loaded."""
        tag = f"onnx-lambda-cloud/{repository}:{pulled.digest.split(':', 1)[1][:16]}-{pulled.architecture}"
        try:
            image = client.images.get(pulled.config_digest)
        except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound and friends: load it
            image = None
        if image is None:
            manifest = self.registry.image_manifest(repository, pulled.digest)
            assert manifest is not None
            client.images.load(_docker_archive(manifest, self._blob, tag))
            image = client.images.get(pulled.config_digest)
        image.tag(tag)
        return tag


def _docker_archive(manifest: dict[str, Any], blob: Callable[[str], Path], tag: str) -> bytes:
    """`docker load`'s format: manifest.json, the config, one tar per layer (gzip is accepted)."""
    out = io.BytesIO()
    config_hex = manifest["config"]["digest"].split(":", 1)[1]
    names = []
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(str(blob(manifest["config"]["digest"])), arcname=f"{config_hex}.json")
        for layer in manifest["layers"]:
            name = f"{layer['digest'].split(':', 1)[1]}/layer.tar"
            tar.add(str(blob(layer["digest"])), arcname=name)
            names.append(name)
        doc = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [tag], "Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(doc)
        tar.addfile(info, io.BytesIO(doc))
    return out.getvalue()


def _read_model_manifest(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def model_info(model: dict[str, Any]) -> dict[str, Any]:
    """What status shows of a model manifest: name, version, parity verdict."""
    parity = model.get("parity")
    verdict = parity.get("passed") if isinstance(parity, dict) else None
    return {"model": model.get("name", ""), "model_version": model.get("version", ""), "parity_passed": verdict}


def start_runtime(spec: VersionSpec, pulled: PulledImage, images: ImageStore, output: Callable[[str], None],
                  docker_client: Callable[[], Any] | None = None) -> tuple[Runtime, Callable[[bytes], tuple[int, bytes]]]:
    """A running execution environment pool for `spec`, and its invoke (event bytes → status, answer)."""
    env = {**spec.environment, "AWS_LAMBDA_FUNCTION_NAME": spec.function}
    if pulled.kind == "files":
        from deployer.local import LocalEndpoint

        assert pulled.rootfs is not None
        env.pop("MODEL_PATH", None)
        endpoint = LocalEndpoint(pulled.rootfs / MODEL_ROOT, code_root=pulled.rootfs / CODE_ROOT, env=env,
                                 timeout_s=spec.timeout_s, memory_mb=spec.memory_mb, output=output,
                                 concurrency=spec.concurrency or UNRESERVED_CONCURRENCY)  # fmt: skip
        return endpoint, endpoint.invoke  # the event is built already: the environments, not their gateway
    from deployer.local.container import ContainerEndpoint

    if docker_client is None:
        import docker

        client = docker.from_env(timeout=30)
    else:
        client = docker_client()
    runs = _LAMBDA_ARCH.get(str(client.info().get("Architecture", "")).lower())
    if runs is not None and runs != pulled.architecture:
        raise LocalRuntimeError(
            f"version {spec.version} of {spec.function} is an {pulled.architecture} image, and this machine's Docker runs "
            f"{runs} images (no emulation is assumed): push with --arch {runs} to run it in the local cloud, or push it "
            f"to AWS (--target aws)"
        )
    tag = images.docker_tag(pulled, client, spec.repository)
    container = ContainerEndpoint(tag, environment=env, timeout_s=spec.timeout_s, memory_mb=spec.memory_mb,
                                  output=output, client=client)  # fmt: skip
    return container, container.invoke
