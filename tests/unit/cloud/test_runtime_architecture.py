"""The local cloud's container runtimes by architecture: the Docker tag names it, and an image
this machine's Docker cannot run (no emulation) is refused with the fix, before any container."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from deployer.errors import LocalRuntimeError
from deployer.local.cloud.runtimes import ImageStore, VersionSpec, start_runtime


class Registry:
    """One container image (config + one layer that is not a model layer) by digest."""

    def __init__(self, root: Path, architecture: str) -> None:
        self.blobs: dict[str, Path] = {}
        config = self._put(root, json.dumps({"architecture": architecture, "os": "linux",
                                             "config": {"Entrypoint": ["/lambda-entrypoint.sh"]}}).encode())  # fmt: skip
        layer = self._put(root, b"not a gzip tar")
        self.manifest = {"schemaVersion": 2, "config": {"digest": config}, "layers": [{"digest": layer}]}

    def _put(self, root: Path, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = root / digest.split(":")[1]
        path.write_bytes(data)
        self.blobs[digest] = path
        return digest

    def blob_path(self, digest: str) -> Path | None:
        return self.blobs.get(digest)

    def image_manifest(self, repository: str, reference: str) -> dict[str, Any] | None:
        return self.manifest


class Docker:
    """A daemon on x86_64 that must not be asked to load or run anything."""

    def info(self) -> dict[str, Any]:
        return {"Architecture": "x86_64"}

    @property
    def images(self) -> Any:
        raise AssertionError("no image may be loaded for an image this daemon cannot run")


def spec() -> VersionSpec:
    return VersionSpec("onnx-iris", "3", "123456789012.dkr.ecr.us-east-1.amazonaws.com/iris:abc", {}, 30, 1024)


@pytest.mark.parametrize("config_arch, lambda_arch", [("arm64", "arm64"), ("amd64", "x86_64")])
def test_the_pulled_image_knows_its_architecture(tmp_path: Path, config_arch: str, lambda_arch: str) -> None:
    store = ImageStore(Registry(tmp_path, config_arch), tmp_path / "images")
    pulled = store.pull("iris", "abc")
    assert (pulled.kind, pulled.architecture) == ("container", lambda_arch)


def test_an_arm64_image_on_an_x86_64_daemon_is_refused_with_the_fix(tmp_path: Path) -> None:
    store = ImageStore(Registry(tmp_path, "arm64"), tmp_path / "images")
    with pytest.raises(LocalRuntimeError) as caught:
        start_runtime(spec(), store.pull("iris", "abc"), store, print, docker_client=Docker)
    message = str(caught.value)
    assert "version 3 of onnx-iris is an arm64 image" in message and "push with --arch x86_64" in message


def test_the_docker_tag_names_the_architecture(tmp_path: Path) -> None:
    store = ImageStore(Registry(tmp_path, "arm64"), tmp_path / "images")
    pulled = store.pull("iris", "abc")
    tagged: list[str] = []

    class Image:
        def tag(self, name: str) -> None:
            tagged.append(name)

    class Images:
        def get(self, ref: str) -> Image:
            assert ref == pulled.config_digest
            return Image()

    class Client:
        images = Images()

    assert store.docker_tag(pulled, Client(), "iris") == f"onnx-lambda-cloud/iris:{pulled.digest[7:23]}-arm64" == tagged[0]
