"""Issue 9 fuzz finding: an ONNX graph listing the same output twice passed onnx.checker and
onnxruntime, and convert published it: the manifest listed the output twice and its sample
carried the output's rows twice (a 3-row sample with 6 labels). Such a model is refused."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from deployer.errors import ModelError
from deployer.model import convert
from tests.models import two_input_model


def _duplicated(tmp_path: Path, where: str) -> Path:
    path = two_input_model(tmp_path / "pair.onnx")
    model = onnx.load(str(path))
    field = model.graph.output if where == "output" else model.graph.input
    field.append(field[0])
    path.write_bytes(model.SerializeToString())
    return path


def test_an_output_listed_twice_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="the model has 2 outputs named 'total'; output names must be unique"):
        convert(_duplicated(tmp_path, "output"), out=out)
    assert not out.exists()


def test_an_input_listed_twice_is_refused(tmp_path: Path) -> None:
    """onnx.checker refuses this one itself (SSA form); pinned so that stays a ModelError."""
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="'a' has been used as graph input names multiple times"):
        convert(_duplicated(tmp_path, "input"), out=out)
    assert not out.exists()
