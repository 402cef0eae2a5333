"""Issue 9 fuzz finding: a model whose outputs are NaN on the sample rows (a mutated Scaler) was
published with `NaN` in manifest.json, which is not JSON; the handler answers NaN as null, so the
smoke test after deploy compared NaN with null and failed. Such rows are left out, with a note."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deployer.model import convert
from deployer.model.samples import unsendable


def _nan_model(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "nan"], ["y"])], "nan",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.array([np.nan], dtype=np.float32), "nan")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_nan_outputs_leave_the_sample_out(tmp_path: Path) -> None:
    result = convert(_nan_model(tmp_path / "nan.onnx"), out=tmp_path / "out")
    manifest = _strict((tmp_path / "out" / "manifest.json").read_text())
    assert isinstance(manifest, dict) and manifest["sample"] is None
    assert any("output y is NaN or infinite" in note for note in result.manifest["notes"])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_unsendable_names_the_tensor(value: float) -> None:
    finite = {"x": np.ones((2, 3), np.float32)}
    assert unsendable(finite, {"k": np.arange(3)}) is None
    assert "output y" in (unsendable(finite, {"y": np.array([1.0, value])}) or "")
    assert "input x" in (unsendable({"x": np.array([[value]])}, {}) or "")
