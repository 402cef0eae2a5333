"""The drift baseline convert writes: quantile bins per feature, the original's predictions, the same
bytes for the same model and sample, and a manifest shape that old manifests still satisfy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from deployer.model import convert
from deployer.model.manifest import ConvertedManifest
from deployer.model.samples import baseline, prediction_baseline
from deployer.model.signature import TensorSpec
from functions.drift import bin_counts
from functions.series import DRIFT_BINS, DRIFT_MAX_CLASSES, drift_features, prediction_series
from tests.unit.model import builders

ROOT = Path(__file__).resolve().parents[3]


def test_bins_are_deciles_of_the_sample_with_their_shares() -> None:
    x = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    x[:, 2] = np.round(x[:, 2])  # few distinct values: tied deciles
    stats = baseline({"x": x}, "sample")["x"]
    assert stats["features"] == ["x[0]", "x[1]", "x[2]"]
    edges, shares = np.array(stats["edges"]), np.array(stats["shares"])
    assert edges.shape == (3, DRIFT_BINS - 1) and shares.shape == (3, DRIFT_BINS)
    assert (np.diff(edges, axis=1) >= 0).all()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(shares[0], 0.1, atol=0.002)  # continuous: a tenth per bin
    np.testing.assert_allclose(edges[0], np.quantile(x[:, 0].astype(np.float64), np.arange(1, 10) / 10), rtol=1e-6)
    # the shares are what the handler's own binning gives on the rounded edges
    np.testing.assert_allclose(shares, bin_counts(x.astype(np.float64), edges) / len(x), rtol=1e-6)
    assert stats["edges"] == [[float(f"{v:.7g}") for v in row] for row in stats["edges"]]


def test_only_a_users_numeric_2d_or_1d_input_gets_bins() -> None:
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    assert "edges" not in baseline({"x": x}, "generated")["x"]  # rows from the signature: no real traffic
    one = baseline({"v": x[:, 0]}, "sample")["v"]
    assert one["features"] == ["v"] and len(one["edges"]) == 1
    images = np.random.default_rng(0).random((4, 3, 8, 8)).astype(np.float32)
    assert "edges" not in baseline({"img": images}, "sample")["img"]  # per channel
    nan = x.copy()
    nan[0, 0] = np.nan
    assert "edges" not in baseline({"x": nan}, "sample")["x"]
    assert baseline({"ids": np.arange(20).reshape(10, 2)}, "sample")["ids"]["features"] == ["ids[0]", "ids[1]"]


def test_predictions_per_kind_of_output() -> None:
    specs = [TensorSpec("label", "INT64", ("N",)), TensorSpec("scores", "FP32", ("N", 3)),
             TensorSpec("y", "FP32", ("N", 1)), TensorSpec("many", "INT64", ("N",)), TensorSpec("emb", "FP32", ("N", 8))]
    rng = np.random.default_rng(0)
    sample = {"label": np.array([0, 1, 1, 2] * 25), "scores": rng.random((100, 3)), "y": rng.normal(3, 1, (100, 1)),
              "many": np.arange(100), "emb": rng.random((100, 8))}
    out = prediction_baseline(specs, sample, ["a", "b", "c"], scores=("scores",))
    assert out["label"] == {"kind": "classes", "rows": 100, "source": "sample", "classes": [0, 1, 2],
                            "names": ["a", "b", "c"], "shares": [0.25, 0.5, 0.25]}
    assert out["y"]["kind"] == "values" and out["y"]["p10"] < out["y"]["p50"] < out["y"]["p90"]
    assert len(out["y"]["edges"]) == DRIFT_BINS - 1 and abs(sum(out["y"]["shares"]) - 1) < 1e-6
    assert out["many"]["kind"] == "values"  # more than DRIFT_MAX_CLASSES distinct integers
    assert 100 > DRIFT_MAX_CLASSES
    assert "scores" not in out and "emb" not in out  # the label's scores; 8 columns but 3 labels
    no_labels = prediction_baseline(specs[:1], {"label": np.array([5, 7, 7, 9])}, None)["label"]
    assert (no_labels["classes"], no_labels["names"]) == ([5, 7, 9], ["5", "7", "9"])
    # class names must be distinct dimension values; integers that cannot be named are a numeric output
    assert prediction_baseline(specs[:1], {"label": np.array([0, 1])}, ["x", "x"])["label"]["kind"] == "values"


def test_series_follow_the_manifest() -> None:
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    manifest = {"baseline": {**baseline({"a": x}, "sample"), **baseline({"b": x[:, 0]}, "sample")},
                "predictions": prediction_baseline([TensorSpec("label", "INT64", ("N",))],
                                                   {"label": np.array([0, 1] * 25)}, ["no", "yes"])}
    assert [f.name for f in drift_features(manifest)] == ["a[0]", "a[1]", "a[2]", "b"]
    assert [f.name for f in drift_features(manifest, 2)] == ["a[0]", "a[1]"]
    assert [(p.output, p.kind, p.classes) for p in prediction_series(manifest)] == [("label", "classes", ("no", "yes"))]


def test_the_iris_conversion_carries_the_baseline(tmp_path: Path) -> None:
    pipe, x = builders.iris_pipeline()
    m = convert(pipe, out=tmp_path / "iris", sample=x, labels=["setosa", "versicolor", "virginica"]).manifest
    stats = m["baseline"]["X"]
    assert stats["features"] == ["X[0]", "X[1]", "X[2]", "X[3]"] and len(stats["shares"][0]) == DRIFT_BINS
    assert m["predictions"]["label"]["names"] == ["setosa", "versicolor", "virginica"]
    assert m["predictions"]["label"]["shares"] == [pytest.approx(1 / 3, abs=0.03)] * 3
    assert "probabilities" not in m["predictions"]  # the label's scores
    ConvertedManifest.model_validate(m)


def test_generated_rows_give_no_drift_baseline(tmp_path: Path) -> None:
    m = convert(builders.onnx_linear(tmp_path / "lin.onnx"), out=tmp_path / "lin").manifest
    assert "edges" not in m["baseline"]["x"] and m["predictions"] is None
    assert any("no drift baseline" in note for note in m["notes"])


CHILD = """
import json, sys
from pathlib import Path
import numpy as np
from deployer.model import convert
from tests.unit.model import builders
x = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
m = convert(builders.onnx_linear(Path(sys.argv[1]) / "lin.onnx", outputs=1), out=sys.argv[1] + "/out", sample=x).manifest
print(json.dumps({"baseline": m["baseline"], "predictions": m["predictions"]}, sort_keys=False))
"""


def test_the_baseline_is_the_same_bytes_whatever_the_hash_seed(tmp_path: Path) -> None:
    texts = []
    for seed in ("1", "2"):
        folder = tmp_path / seed
        folder.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, env=env,
                              cwd=ROOT, check=True)
        texts.append(done.stdout.strip().splitlines()[-1])
    assert texts[0] == texts[1]
    parsed = json.loads(texts[0])
    assert parsed["baseline"]["x"]["edges"] and parsed["predictions"]["y"]["kind"] == "values"


def test_manifest_shape_old_and_new() -> None:
    manifest = json.loads((ROOT / "examples" / "iris" / "model" / "manifest.json").read_text())
    ConvertedManifest.model_validate(manifest)
    old = dict(manifest)
    old.pop("predictions", None)
    old["baseline"] = {k: {f: v for f, v in s.items() if f not in ("features", "edges", "shares")}
                       for k, s in manifest["baseline"].items()}
    ConvertedManifest.model_validate(old)  # a manifest from before the drift baseline still loads
    broken: dict[str, Any] = json.loads(json.dumps(manifest))
    broken["baseline"]["X"]["shares"] = broken["baseline"]["X"]["shares"][:2]
    with pytest.raises(ValidationError, match="per feature"):
        ConvertedManifest.model_validate(broken)
    unsorted = json.loads(json.dumps(manifest))
    unsorted["baseline"]["X"]["edges"][0] = sorted(unsorted["baseline"]["X"]["edges"][0], reverse=True)
    with pytest.raises(ValidationError, match="sorted"):
        ConvertedManifest.model_validate(unsorted)
