"""Issue 9 fuzz finding: one flipped bit in an external-data location ("weights.bin") made it
invalid UTF-8; protobuf handed it back as bytes and the safety check died with TypeError ("cannot
use a string pattern on a bytes-like object") instead of refusing the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.model import convert
from deployer.model.errors import UnsafeModelError
from tests.unit.model.builders import onnx_with_real_external_data


def test_a_location_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = onnx_with_real_external_data(tmp_path / "model")
    data = path.read_bytes()
    assert data.count(b"weights.bin") >= 1
    path.write_bytes(data.replace(b"weights.bin", b"weig\xe8ts.bin"))
    out = tmp_path / "out"
    with pytest.raises(UnsafeModelError, match=r"refers to external data at b'weig\\xe8ts.bin', which is not UTF-8"):
        convert(path, out=out)
    assert not out.exists()
