"""Samples: reading files, fitting them to the signature, generating rows, baseline statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deployer.errors import ConfigError
from deployer.model.samples import (
    MAX_SAMPLE_VALUES, baseline, fit_sample, generate, read_sample, sample_rows,
)
from deployer.model.signature import TensorSpec

X = TensorSpec("x", "FP32", ("batch", 4))
IDS = TensorSpec("ids", "INT64", ("batch", 3))
ROWS = np.arange(20, dtype=np.float64).reshape(5, 4)


def _write(tmp: Path, kind: str) -> Path:
    path = tmp / f"s.{kind}"
    if kind == "npy":
        np.save(path, ROWS)
    elif kind == "npz":
        np.savez(path, x=ROWS)
    elif kind == "json":
        path.write_text(json.dumps(ROWS.tolist()))
    elif kind == "csv":
        path.write_text("a,b,c,d\n" + "\n".join(",".join(str(v) for v in row) for row in ROWS))
    return path


@pytest.mark.parametrize("kind", ["npy", "npz", "json", "csv"])
def test_sample_files_fit_the_signature(tmp_path: Path, kind: str) -> None:
    fitted = fit_sample(read_sample(_write(tmp_path, kind)), [X])
    assert list(fitted) == ["x"] and fitted["x"].dtype == np.float32
    np.testing.assert_array_equal(fitted["x"], ROWS.astype(np.float32))


@pytest.mark.parametrize("body", [
    {"inputs": [{"name": "x", "datatype": "FP32", "shape": [5, 4], "data": ROWS.ravel().tolist()}]},
    {"instances": ROWS.tolist()},
    {"x": ROWS.tolist()},
])
def test_json_request_bodies_are_samples(tmp_path: Path, body: dict[str, Any]) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body))
    np.testing.assert_array_equal(fit_sample(read_sample(path), [X])["x"], ROWS.astype(np.float32))


def test_in_memory_samples_by_name_and_position() -> None:
    ids = np.ones((5, 3), np.int32)
    assert set(fit_sample(read_sample({"ids": ids, "x": ROWS}), [X, IDS])) == {"x", "ids"}
    fitted = fit_sample(read_sample((ROWS, ids)), [X, IDS])
    assert fitted["ids"].dtype == np.int64
    one_row = fit_sample(read_sample(ROWS[0]), [X])
    assert one_row["x"].shape == (1, 4)


@pytest.mark.parametrize(("sample", "words"), [
    (np.zeros((5, 3)), "size 4 on axis 1"),
    (np.zeros((5, 4, 1)), "needs 2 dimensions"),
    (np.array([["a", "b", "c", "d"]]), "takes numbers"),
])
def test_samples_that_do_not_fit(sample: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        fit_sample(read_sample(sample), [X])


def test_names_must_match_when_there_are_several_inputs() -> None:
    with pytest.raises(ConfigError, match="inputs are"):
        fit_sample(read_sample({"nope": ROWS, "ids": ROWS[:, :3]}), [X, IDS])
    # one input: the array's name does not matter (np.savez names it arr_0)
    assert list(fit_sample(read_sample({"arr_0": ROWS}), [X])) == ["x"]


def test_fractions_are_not_integers() -> None:
    with pytest.raises(ConfigError, match="integers"):
        fit_sample(read_sample(np.full((2, 3), 0.5)), [IDS])


def test_unreadable_sample_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_sample(tmp_path / "missing.npy")
    (tmp_path / "s.xml").write_text("<x/>")
    with pytest.raises(ConfigError, match="unknown format"):
        read_sample(tmp_path / "s.xml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        read_sample(tmp_path / "bad.json")


def test_generated_rows_follow_the_signature() -> None:
    specs = [X, IDS, TensorSpec("img", "FP16", (2, 3, "h", 5)), TensorSpec("flag", "BOOL", ("batch",))]
    rows = generate(specs, rows=64, seed=1)
    assert rows["x"].shape == (64, 4) and rows["x"].dtype == np.float32
    assert rows["ids"].dtype == np.int64 and rows["ids"].min() >= 0
    assert rows["img"].shape == (64, 3, 8, 5) and rows["img"].dtype == np.float16  # fixed batch 2: 32 chunks
    assert rows["flag"].dtype == np.bool_
    np.testing.assert_array_equal(generate([X], seed=1)["x"], generate([X], seed=1)["x"])
    with pytest.raises(ConfigError, match="strings"):
        generate([TensorSpec("text", "BYTES", ("batch",))])


def test_baseline_per_feature_channel_and_tensor() -> None:
    stats = baseline({"x": ROWS.astype(np.float32)}, "sample")["x"]
    assert stats["per"] == "feature" and stats["mean"] == [8.0, 9.0, 10.0, 11.0]
    assert stats["min"] == [0.0, 1.0, 2.0, 3.0] and stats["max"] == [16.0, 17.0, 18.0, 19.0]
    images = np.random.default_rng(0).random((4, 3, 32, 32)).astype(np.float32)
    per_channel = baseline({"img": images}, "generated")["img"]
    assert per_channel["per"] == "channel" and len(per_channel["mean"]) == 3
    wide = baseline({"v": np.zeros((2, 1000, 2), np.float32)}, "sample")["v"]
    assert wide["per"] == "tensor" and wide["std"] == [0.0]
    assert baseline({"text": np.array(["a"])}, "sample") == {}


def test_sample_rows_stay_small() -> None:
    assert sample_rows({"x": ROWS}, None) == (3, None)
    assert sample_rows({"x": ROWS[:2]}, None) == (2, None)
    big = np.zeros((5, MAX_SAMPLE_VALUES // 2), np.float32)
    assert sample_rows({"x": big}, None) == (2, None)
    huge = np.zeros((2, 3, 224, 224), np.float32)
    rows, why = sample_rows({"x": huge}, None)
    assert rows == 0 and why and "150528" in why
