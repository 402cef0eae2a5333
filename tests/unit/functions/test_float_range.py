"""Issue 9 fuzz finding: a finite JSON number past FP32's range (3.5e38) became infinity in the
cast and was refused as "NaN or infinite values are not accepted": the client sent neither (JSON
cannot). The message now names the datatype's range too."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.unit.functions.conftest import Client


@pytest.mark.parametrize("value", [3.5e38, -1e300])
def test_a_number_past_fp32_range_is_named(pair: Client, value: float) -> None:
    body = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1.0, value, 2.0]},
                       {"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
    answer = pair.infer("pair", body)
    assert answer.status == 400
    assert answer.error == ("input 'a': NaN, infinity or numbers beyond FP32's range (±3.4028e+38) are not "
                            "accepted (ALLOW_NAN is off)")


def test_a_nan_in_raw_bytes_is_still_refused(pair: Client) -> None:
    raw = base64.b64encode(np.array([[1.0, np.nan, 2.0]], np.float32).tobytes()).decode()
    body = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": raw},
                       {"name": "b", "datatype": "INT64", "shape": [1, 3], "data": [1, 2, 3]}]}
    answer = pair.infer("pair", body)
    assert answer.status == 400 and "NaN, infinity" in answer.error
