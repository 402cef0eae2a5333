"""Issue 9 fuzz finding: the iris model with its `probabilities` output declared [batch, 2] (it
returns [batch, 3]) passed onnx.checker and was published; onnxruntime only logged a warning, and
the manifest and the metadata route told clients the wrong shape. Such a model is refused."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from deployer.errors import ModelError
from deployer.model import convert

IRIS = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model" / "model.onnx"


def _declared(tmp_path: Path, dims: list[int | str]) -> Path:
    model = onnx.load(str(IRIS))
    out = next(o for o in model.graph.output if o.name == "probabilities")
    del out.type.tensor_type.shape.dim[:]
    for d in dims:
        dim = out.type.tensor_type.shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d
    path = tmp_path / "iris.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("dims", "shown"), [(["batch", 2], "['batch', 2]"), (["batch"], "['batch']")])
def test_an_output_that_contradicts_its_declared_shape_is_refused(tmp_path: Path, dims: list, shown: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(ModelError, match=rf"declares its output 'probabilities' as {shown.replace('[', '.').replace(']', '.')} "
                                         r"but returns shape \[64, 3\] for 64 rows"):
        convert(_declared(tmp_path, dims), out=out)
    assert not out.exists()


def test_dynamic_dims_are_not_held_against_the_model(tmp_path: Path) -> None:
    result = convert(_declared(tmp_path, ["batch", "classes"]), out=tmp_path / "out")
    assert result.manifest["outputs"][1]["shape"] == ["batch", "classes"]
