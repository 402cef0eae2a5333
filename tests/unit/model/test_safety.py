"""External data is found wherever ONNX can keep a tensor; the size budget says what to do."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from deployer.model.errors import SizeBudgetError, UnsafeModelError
from deployer.model.safety import DEFAULT_SIZE_BUDGET, check_external_data, check_size_budget, external_locations


def _external_tensor(name: str, location: str) -> onnx.TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [1], [0.0])
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _model_hiding_tensors_in_attributes() -> onnx.ModelProto:
    """A Constant in an If branch and a Constant node at the top level, both external."""
    then = helper.make_graph([helper.make_node("Constant", [], ["a"], value=_external_tensor("in_branch", "../a"))],
                             "then", [], [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])])
    other = helper.make_graph([helper.make_node("Constant", [], ["b"], value_float=1.0)],
                              "else", [], [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    nodes = [
        helper.make_node("Constant", [], ["top"], value=_external_tensor("top_const", "/abs")),
        helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              [_external_tensor("init", "ok.bin")])
    return helper.make_model(graph)


def test_external_tensors_are_found_in_attributes_and_subgraphs() -> None:
    found = dict(external_locations(_model_hiding_tensors_in_attributes()))
    assert found == {"init": "ok.bin", "top_const": "/abs", "in_branch": "../a"}


def test_the_first_unsafe_location_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ok.bin").write_bytes(b"\0" * 4)
    with pytest.raises(UnsafeModelError, match="absolute"):
        check_external_data(_model_hiding_tensors_in_attributes(), tmp_path / "model.onnx")


def test_a_tensor_without_location_is_refused(tmp_path: Path) -> None:
    model = helper.make_model(helper.make_graph([], "g", [], [], [_external_tensor("w", "")]))
    with pytest.raises(UnsafeModelError, match="names no location"):
        check_external_data(model, tmp_path / "model.onnx")


def test_size_budget_message() -> None:
    check_size_budget(10, "m", budget=10)
    with pytest.raises(SizeBudgetError) as caught:
        check_size_budget(DEFAULT_SIZE_BUDGET + 1, "model.onnx")
    text = str(caught.value)
    assert "model.onnx is 9.0 GB" in text and "10.0 GB" in text and "--quantize int8" in text
