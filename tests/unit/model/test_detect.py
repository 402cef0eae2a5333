"""Which converter a source goes to: suffix, object class, or the file's first bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from deployer.errors import ConfigError
from deployer.model.detect import detect
from tests.unit.model import builders


@pytest.mark.parametrize(("name", "framework"), [
    ("m.onnx", "onnx"), ("m.joblib", "sklearn"), ("m.PKL", "sklearn"), ("m.skops", "sklearn"),
    ("m.pt", "torch"), ("m.pt2", "torch"), ("m.pth", "torch"), ("m.keras", "keras"), ("m.h5", "keras"),
    ("m.tflite", "tflite"),
])
def test_by_suffix(tmp_path: Path, name: str, framework: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    assert detect(tmp_path / name) == framework


@pytest.mark.parametrize(("head", "framework"), [
    (b"\x1c\x00\x00\x00TFL3rest", "tflite"),
    (b"\x89HDF\r\n\x1a\n", "keras"),
    (b"\x80\x04\x95", "sklearn"),
    (b"\x08\x08\x12\x05tests", "onnx"),
])
def test_by_content(tmp_path: Path, head: bytes, framework: str) -> None:
    (tmp_path / "model.bin").write_bytes(head + b"\0" * 16)
    assert detect(tmp_path / "model.bin") == framework


def test_zip_archives(tmp_path: Path) -> None:
    keras = tmp_path / "k.zip"
    with zipfile.ZipFile(keras, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", "")
    torch = tmp_path / "t.zip"
    with zipfile.ZipFile(torch, "w") as z:
        z.writestr("mlp/data.pkl", "")
    assert detect(keras) == "keras" and detect(torch) == "torch"


def test_objects(torch_sources: dict[str, object]) -> None:
    pipe, _ = builders.iris_pipeline()
    assert detect(pipe) == "sklearn"
    assert detect(torch_sources["module"]) == "torch"
    import onnx

    assert detect(onnx.ModelProto()) == "onnx"
    with pytest.raises(ConfigError, match="cannot tell"):
        detect(np.zeros(3))


def test_explicit_framework_and_folders(tmp_path: Path) -> None:
    assert detect(tmp_path / "anything", "onnx") == "onnx"
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ConfigError, match="SavedModel"):
        detect(tmp_path / "saved")
    (tmp_path / "blob").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="--framework"):
        detect(tmp_path / "blob")
