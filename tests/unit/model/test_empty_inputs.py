"""Issue 9 fuzz finding: a model whose input declares a dimension of 0 ran the parity check on no
rows and convert ended with pydantic's multi-line dump ("2 validation errors for ConvertedManifest
parity.rows ..."); the handler refuses empty tensors, so such a model could never answer anyway.
It is refused with a message naming the input."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import ModelError
from deployer.model import convert
from tests.models import identity_model


@pytest.mark.parametrize("shape", [[0, 2], ["N", 0]], ids=["batch", "feature"])
def test_an_input_fixed_to_zero_is_refused(tmp_path: Path, shape: list[int | str]) -> None:
    out = tmp_path / "out"
    with pytest.raises(ModelError) as caught:
        convert(identity_model(tmp_path / "empty.onnx", "FP32", shape), out=out)
    assert f"input x (FP32 {shape}) has a dimension fixed to 0" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not out.exists()
