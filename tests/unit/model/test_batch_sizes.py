"""Issue 9 fuzz finding: a model that only runs with 64 rows (an Add with a [64, 3] constant, the
batch declared dynamic) passed parity on the 64 generated rows, then failed on the manifest's 3
sample rows, and convert said "running the model /tmp/deployer-convert-…/optimized/model.onnx
failed", naming a temporary file. It now says what is wrong with the model and what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deployer.errors import ModelError
from deployer.model import convert


def _batch_of_64_only(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])], "b64",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.ones((4, 3), np.float32), "W"),
         numpy_helper.from_array(np.ones((64, 3), np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_model_that_needs_one_batch_size_is_refused_with_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ModelError) as caught:
        convert(_batch_of_64_only(tmp_path / "b64.onnx"), out=out)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'b64.onnx'}: the model ran on 64 generated rows at once but fails on "
                              "the first 3 alone")
    assert "works only with some batch sizes" in message
    assert not out.exists()
