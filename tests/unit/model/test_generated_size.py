"""Issue 9 fuzz finding: a model declaring a huge fixed dimension made convert die with numpy's
MemoryError (asked for 512 TiB of parity rows) instead of refusing it with a ModelError."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.errors import ModelError
from deployer.model import convert, samples
from deployer.model.signature import TensorSpec
from tests.models import identity_model


@pytest.mark.parametrize("shape", [(2**40, 4), ("N", 2**40), (2**31, 2**31)], ids=["batch", "row", "both"])
def test_huge_fixed_dimensions_are_refused_before_allocating(shape: tuple[int | str, ...]) -> None:
    with pytest.raises(ModelError, match=r"input x \(FP32 .*\) needs [\d,]+ values for even one call"):
        samples.generate([TensorSpec("x", "FP32", shape)])


def test_wide_inputs_get_fewer_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples, "MAX_GENERATED_VALUES", 1000)
    feeds = samples.generate([TensorSpec("x", "FP32", ("N", 100)), TensorSpec("k", "INT64", ("N", 2))])
    assert feeds["x"].shape == (9, 100) and feeds["k"].shape == (9, 2)  # 64 * 1000 // 6528 rows


def test_ordinary_inputs_keep_all_rows() -> None:
    feeds = samples.generate([TensorSpec("x", "FP32", ("N", 3, 224, 224))])
    assert feeds["x"].shape == (samples.GENERATED_ROWS, 3, 224, 224)


def test_convert_refuses_a_model_with_a_huge_fixed_batch(tmp_path: Path) -> None:
    source = identity_model(tmp_path / "huge.onnx", "FP32", [2**40, 4])
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="pass a sample"):
        convert(source, out=out)
    assert not out.exists()
