"""The per-request shortcuts of issue 12 answer exactly what the general path answers.

- binary requests whose JSON header was seen before skip its parse and checks (functions/kserve.py
  `Plans`), but never the per-request ones: the values (NaN), the binary length, the content type;
- the steady-state EMF line is a bytes template (functions/metrics.py `write`): byte for byte what
  orjson writes for the same document, over the range of values a metric takes;
- one RunOptions serves run after run until the watchdog terminates it (functions/inference.py);
- `check` remembers (signature, shape) pairs, never a refusal; `all_finite` is `isfinite().all()`.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import orjson
import pytest

import functions.kserve
from functions.app import Service
from functions.inference import Watchdog
from functions.metrics import RequestMetrics
from functions.tensors import all_finite
from tests.unit.functions.conftest import Client
from tests.models import sample_pair
from tests.unit.functions.test_protocols import binary_request


def _plans(client: Client) -> int:
    return len(client.service._plans._by_head)


def test_a_repeated_binary_header_skips_the_parse_and_answers_the_same(pair: Client, pair_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = sample_pair(rows=3)
    body, headers = binary_request(a, b, id="req-7")
    first = pair.infer("pair", body, headers=headers, b64=True)
    assert first.status == 200 and _plans(pair) == 1

    def no_parse(*args: object) -> None:
        raise AssertionError("the general path ran for a planned request")

    monkeypatch.setattr(functions.kserve, "_read", no_parse)
    a2, b2 = sample_pair(rows=3, seed=5)
    body2, _ = binary_request(a2, b2, id="req-7")  # same header bytes, other values
    second = pair.infer("pair", body2, headers=headers, b64=True)
    assert second.status == 200 and second.json()["id"] == "req-7"
    monkeypatch.undo()
    general = Client(Service(str(pair_dir), pair.service.limits))
    assert second.json() == general.infer("pair", body2, headers=headers, b64=True).json()
    assert second.json() != first.json()  # the values were read, not remembered


def test_a_planned_header_still_checks_values_length_and_content_type(pair: Client) -> None:
    a, b = sample_pair(rows=2)
    body, headers = binary_request(a, b)
    assert pair.infer("pair", body, headers=headers, b64=True).status == 200
    assert _plans(pair) == 1

    bad = a.copy()
    bad[1, 1] = np.nan
    nan_body, _ = binary_request(bad, b)
    answer = pair.infer("pair", nan_body, headers=headers, b64=True)
    assert answer.status == 400 and "NaN" in answer.error and "input 'a'" in answer.error

    short = pair.infer("pair", body[:-8], headers=headers, b64=True)
    assert short.status == 400 and "binary_data_size" in short.error

    long = pair.infer("pair", body + b"\0" * 8, headers=headers, b64=True)
    assert long.status == 400 and "not claimed by any input" in long.error

    text = pair.infer("pair", body, headers={**headers, "Content-Type": "text/plain"}, b64=True)
    assert text.status == 415
    assert _plans(pair) == 1  # refusals are never remembered


def test_plans_are_bounded_and_skip_headers_holding_data(pair: Client, pair_dir: Path) -> None:
    a, b = sample_pair(rows=1)
    for rows in range(1, functions.kserve.Plans.LIMIT + 6):
        a, b = sample_pair(rows=rows % 60 + 1)
        body, headers = binary_request(a, b, id=f"r{rows}")
        assert pair.infer("pair", body, headers=headers, b64=True).status == 200
    assert _plans(pair) == functions.kserve.Plans.LIMIT
    fresh = Client(Service(str(pair_dir), pair.service.limits))
    raw_a = a.astype("<f4").tobytes()
    header = json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": list(a.shape), "parameters": {"binary_data_size": len(raw_a)}},
        {"name": "b", "datatype": "INT64", "shape": list(b.shape), "data": b.ravel().tolist()},
    ]}).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    assert fresh.infer("pair", header + raw_a, headers=headers, b64=True).status == 200
    assert _plans(fresh) == 0  # an input in the header's JSON: the general path each time


@pytest.mark.parametrize("names", [
    ("RequestMs", "PayloadBytes", "InferenceMs", "BatchSize"),
    ("ColdStart", "ModelLoadMs", "RequestMs", "PayloadBytes", "Errors"),
])
def test_the_templated_line_is_what_orjson_writes(names: tuple[str, ...]) -> None:
    rng = random.Random(12)
    out = io.StringIO()
    metrics = RequestMetrics("Ns%d", "svc%r", "m%%", "v1", out=out)
    cases = [(0.0,) * len(names), (900_000.0,) * len(names), (6_291_456.0,) * len(names)]
    for _ in range(2000):  # times rounded to 0.001 ms, sizes and counts as floats, over their range
        cases.append(tuple(round(rng.uniform(0, 10 ** rng.randint(-3, 6)), rng.choice((3, 3, 0)))
                           for _ in names))
    for values in cases:
        out.seek(0)
        out.truncate()
        metrics.write(names, values)
        line = out.getvalue().encode()
        doc = json.loads(line)
        expected = metrics._template(dict(zip(names, values)))
        expected["_aws"]["Timestamp"] = doc["_aws"]["Timestamp"]
        assert line == orjson.dumps(expected, option=orjson.OPT_APPEND_NEWLINE), values


def test_one_runoptions_until_the_watchdog_terminates_it() -> None:
    dog = Watchdog()
    first = dog.arm(1e12)
    dog.disarm()
    assert dog.arm(1e12) is first  # reused while nothing fired
    first.terminate = True  # what a firing does
    dog.disarm()
    fresh = dog.arm(1e12)
    assert fresh is not first and not fresh.terminate
    dog.disarm()


def test_a_shape_once_accepted_does_not_let_a_wrong_one_through(pair: Client) -> None:
    a, b = sample_pair(rows=2)
    good = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [2, 3], "data": a.ravel().tolist()},
                       {"name": "b", "datatype": "INT64", "shape": [2, 3], "data": b.ravel().tolist()}]}
    for _ in range(2):
        assert pair.infer("pair", good).status == 200
    wrong = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [3, 2], "data": a.ravel().tolist()},
                        {"name": "b", "datatype": "INT64", "shape": [2, 3], "data": b.ravel().tolist()}]}
    answer = pair.infer("pair", wrong)
    assert answer.status == 400 and "dimension 1 must be 3" in answer.error
    assert pair.infer("pair", good).status == 200


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_all_finite_agrees_with_numpy(dtype: str) -> None:
    rng = np.random.default_rng(3)
    big = float(np.finfo(dtype).max)
    for trial in range(300):
        arr = rng.normal(size=rng.integers(1, 40)).astype(dtype) * (big / 4 if trial % 3 == 0 else 1)
        if trial % 2:
            arr[rng.integers(0, arr.size)] = rng.choice([np.nan, np.inf, -np.inf])
        assert all_finite(arr) == bool(np.isfinite(arr).all()), arr
    assert all_finite(np.array([big, big], dtype=dtype))  # finite values whose sum is not
    assert not all_finite(np.array([np.inf, -np.inf], dtype=dtype))
