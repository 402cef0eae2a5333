"""Large models get memory-mapped external data by default; small ones stay one file."""

from __future__ import annotations

from pathlib import Path

from deployer.model import convert
from deployer.model.convert import EXTERNAL_DATA_MIN_BYTES
from functions.app import Service
from functions.manifest import load_manifest
from tests.unit.model import builders


def test_large_model_is_written_with_external_data_and_serves(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "big.onnx", features=1200, outputs=1000)
    assert source.stat().st_size > EXTERNAL_DATA_MIN_BYTES
    result = convert(source, out=tmp_path / "big")
    data = tmp_path / "big" / "model.onnx.data"
    assert data.is_file() and (tmp_path / "big" / "model.onnx").stat().st_size < 100_000
    manifest = load_manifest(str(tmp_path / "big"))
    assert manifest is not None and manifest["model"]["external_data"][0]["file"] == "model.onnx.data"
    service = Service(str(result.out))
    assert service.model is not None and service.model.name == "big"


def test_small_model_stays_one_file_unless_asked(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "small.onnx", features=64, outputs=64)  # 16 KB of weights
    convert(source, out=tmp_path / "one")
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["manifest.json", "model.onnx"]
    convert(source, out=tmp_path / "two", external_data=True)
    assert (tmp_path / "two" / "model.onnx.data").is_file()
