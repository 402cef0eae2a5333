"""Issue 9 fuzz finding: two flipped bits in an opset domain ("com.microsoft.experi\\xedental")
made protobuf hand the domain back as bytes; the checking subprocess could not write its reply
as JSON and convert died with a protocol bug. Names that are not UTF-8 are refused up front."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import helper

from deployer.errors import ModelError
from deployer.model import convert
from tests.models import two_input_model


def _corrupt(tmp_path: Path, old: bytes, new: bytes, edit: str) -> Path:
    path = two_input_model(tmp_path / "pair.onnx")
    model = onnx.load(str(path))
    if edit == "opset":
        model.opset_import.append(helper.make_opsetid("com.example.experimental", 1))
    elif edit == "producer":
        model.producer_name = "exporter-experimental"
    else:
        model.graph.output[0].name = "total_experimental"
        model.graph.node[1].output[0] = "total_experimental"
    data = model.SerializeToString()
    assert old in data
    path.write_bytes(data.replace(old, new))
    return path


@pytest.mark.parametrize(("edit", "words"), [("opset", "opset domain"), ("producer", "producer name"),
                                             ("output", "graph output name")])
def test_names_that_are_not_utf8_are_refused(tmp_path: Path, edit: str, words: str) -> None:
    source = _corrupt(tmp_path, b"experimental", b"experi\xedental", edit)
    out = tmp_path / "out"
    with pytest.raises(ModelError, match=rf"the {words} b'.*experi\\xedental' is not UTF-8 text"):
        convert(source, out=out)
    assert not out.exists()
