"""Step 1 of a push: a folder as it is; a model file converted once, then found in the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployer.deploy.model_input import prepare_model
from deployer.errors import ModelError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model"


def test_a_converted_folder_is_used_as_it_is(tmp_path: Path) -> None:
    result = prepare_model(EXAMPLE, tmp_path / "build")
    assert (result.folder, result.converted) == (EXAMPLE.resolve(), False)
    assert not (tmp_path / "build").exists()


def test_a_model_file_is_converted_once_by_content(tmp_path: Path) -> None:
    source = tmp_path / "flowers.onnx"
    shutil.copy(EXAMPLE / "model.onnx", source)
    first = prepare_model(source, tmp_path / "build")
    assert first.converted and (first.folder / "manifest.json").is_file()
    assert first.folder.name.startswith("flowers-")
    again = prepare_model(source, tmp_path / "build")
    assert (again.folder, again.converted) == (first.folder, False)


def test_a_folder_without_a_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE / "model.onnx", tmp_path / "model.onnx")
    with pytest.raises(ModelError, match="convert the model first"):
        prepare_model(tmp_path, tmp_path / "build")
