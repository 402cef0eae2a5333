"""Blobs, digests and the files image: deterministic, content-addressed, cached."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from deployer.image.blobs import MANIFEST_MEDIA_TYPE, BlobStore
from deployer.image.sources import files_image
from deployer.local import find_code_root

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "iris" / "model"


def test_the_same_files_give_the_same_digest_from_a_fresh_cache(tmp_path: Path) -> None:
    first = files_image(EXAMPLE, find_code_root(), BlobStore(tmp_path / "one"))
    second = files_image(EXAMPLE, find_code_root(), BlobStore(tmp_path / "two"))
    assert first.digest == second.digest
    assert first.tag == first.digest.replace("sha256:", "sha256-")
    assert [b.role for b in first.layers] == ["model", "code"]


def test_a_changed_model_changes_only_the_model_layer(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "cache")
    model = tmp_path / "model"
    shutil.copytree(EXAMPLE, model)
    before = files_image(model, find_code_root(), store)
    (model / "notes.txt").write_text("a file the manifest does not list")  # not shipped, as in the function image
    assert files_image(model, find_code_root(), store).digest == before.digest
    (model / "golden.json").write_text('{"rows": []}')  # a golden set ships in the model layer
    after = files_image(model, find_code_root(), store)
    assert after.layers[0].digest != before.layers[0].digest
    assert after.layers[1].digest == before.layers[1].digest
    assert after.config.digest != before.config.digest and after.digest != before.digest


def test_a_model_file_that_does_not_match_its_manifest_is_refused(tmp_path: Path) -> None:
    """The handler checks only sizes at run time: the image is where the sha256 is checked."""
    import pytest

    from deployer.errors import ModelError

    model = tmp_path / "model"
    shutil.copytree(EXAMPLE, model)
    data = bytearray((model / "model.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    (model / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match manifest.json"):
        files_image(model, find_code_root(), BlobStore(tmp_path / "cache"))


def test_the_manifest_names_every_blob_with_its_size(tmp_path: Path) -> None:
    image = files_image(EXAMPLE, find_code_root(), BlobStore(tmp_path))
    manifest = json.loads(image.manifest())
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE and manifest["schemaVersion"] == 2
    assert [l["digest"] for l in manifest["layers"]] == [b.digest for b in image.layers]
    for blob in image.blobs:
        assert blob.path.stat().st_size == blob.size
    config = json.loads(image.config.path.read_bytes())
    assert config["rootfs"]["diff_ids"] == [b.diff_id for b in image.layers]


def test_a_layer_is_compressed_once_per_diff_id(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    image = files_image(EXAMPLE, find_code_root(), store)
    layer = image.layers[0]
    assert layer.diff_id is not None
    assert store.layer_for(layer.diff_id, role="model") == layer


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "cache")
    model = tmp_path / "model"
    shutil.copytree(EXAMPLE, model)
    first = files_image(model, find_code_root(), store)
    # Same name, size and mtime, other bytes: only the cached layer can give the old digest.
    notes = model / "manifest.json"
    stat = notes.stat()
    notes.write_bytes(notes.read_bytes().replace(b"iris", b"IRIS"))
    os.utime(notes, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert files_image(model, find_code_root(), store).digest == first.digest
    notes.touch()  # a new mtime: read again
    assert files_image(model, find_code_root(), store).digest != first.digest
