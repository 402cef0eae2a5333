"""ECR through boto3: the bytes pushed are kept and the manifest put is read back, with and without a state dir."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from deployer.local.cloud.emulator import EmulatorServer
from tests.functional.cloud.conftest import Cloud, client


def upload(ecr: Any, repository: str, data: bytes, part: int = 1 << 20, declared: str | None = None) -> str:
    upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    for first in range(0, len(data), part):
        chunk = data[first : first + part]
        ecr.upload_layer_part(repositoryName=repository, uploadId=upload_id, partFirstByte=first,
                              partLastByte=first + len(chunk) - 1, layerPartBlob=chunk)  # fmt: skip
    digest = declared or "sha256:" + hashlib.sha256(data).hexdigest()
    return str(ecr.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[digest])["layerDigest"])


def manifest(config: str, layers: list[tuple[str, int]]) -> str:
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s} for d, s in layers],
    })  # fmt: skip


def test_a_layer_uploaded_in_parts_is_kept_whole_under_its_digest(cloud: Cloud) -> None:
    ecr = cloud.client("ecr")
    ecr.create_repository(repositoryName="iris")
    data = bytes(range(256)) * 9000  # 2.2 MiB in three parts
    digest = upload(ecr, "iris", data)
    path = cloud.server.blob_path(digest)
    assert path is not None and path.read_bytes() == data
    assert path == cloud.state / "blobs" / "sha256" / digest[7:]
    assert ecr.batch_check_layer_availability(repositoryName="iris", layerDigests=[digest])["layers"][0]["layerSize"] == len(data)
    assert list((cloud.state / "journal" / "uploads").iterdir()) == []  # the spool went once the blob was whole
    assert cloud.server.blob_path("sha256:" + "0" * 64) is None


def test_the_manifest_put_is_read_back_by_tag_by_digest_and_by_uri(cloud: Cloud) -> None:
    ecr = cloud.client("ecr")
    uri = ecr.create_repository(repositoryName="team/iris")["repository"]["repositoryUri"]
    config, layer = upload(ecr, "team/iris", b"{}"), upload(ecr, "team/iris", b"layer")
    text = manifest(config, [(layer, 5)])
    image = ecr.put_image(repositoryName="team/iris", imageTag="v1", imageManifest=text)["image"]["imageId"]
    for reference in ("v1", image["imageDigest"], "sha256:" + hashlib.sha256(text.encode()).hexdigest()):
        assert cloud.server.image_manifest("team/iris", reference) == json.loads(text), reference
    assert cloud.server.image_manifest(uri, "v1") == json.loads(text)
    assert cloud.server.image_manifest("team/iris", "v2") is None
    found = cloud.server.image_manifest("team/iris", "v1")
    assert found is not None
    for blob in [found["config"], *found["layers"]]:
        assert cloud.server.blob_path(blob["digest"]) is not None


def test_a_wrong_declared_digest_stores_the_bytes_under_their_own(cloud: Cloud) -> None:
    """ECR answers the digest it computed; the client compares (deployer/aws/ecr.py). Nothing is named wrongly."""
    ecr = cloud.client("ecr")
    ecr.create_repository(repositoryName="iris")
    answered = upload(ecr, "iris", b"abc", declared="sha256:" + "0" * 64)
    assert answered == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert cloud.server.blob_path(answered) is not None and cloud.server.blob_path("sha256:" + "0" * 64) is None


def test_without_a_state_dir_blobs_live_in_a_folder_the_server_removes() -> None:
    with EmulatorServer() as server:
        server.reset()
        ecr = client("ecr", server.url)
        ecr.create_repository(repositoryName="iris")
        digest = upload(ecr, "iris", b"temporary")
        path = server.blob_path(digest)
        assert path is not None and path.read_bytes() == b"temporary"
    assert not path.exists() and not Path(path.parents[1]).exists()
