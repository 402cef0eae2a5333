"""Drift: bins, PSI, windows, prediction shift, and the EMF documents the handler prints for them."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from onnx import TensorProto, helper

from deployer.model.samples import baseline, prediction_baseline
from deployer.model.signature import TensorSpec
from functions.app import Service
from functions.drift import Drift, DriftSettings, bin_counts, bin_index, drift_settings, open_bins, psi
from functions.metrics import UNITS, RequestMetrics, UndeclaredMetric
from functions.series import SERIES, emitted
from tests.models import _save, write_manifest
from tests.unit.functions.conftest import Client

ROOT = Path(__file__).resolve().parents[3]
FEATURES = 3
STD = np.array([1.0, 2.0, 0.5])
MEAN = np.array([0.0, 10.0, -3.0])


def rows(n: int, seed: int, shift: int | None = None) -> np.ndarray:
    """n rows of three normal features; `shift`: that feature moved by two standard deviations."""
    data = np.random.default_rng(seed).normal(MEAN, STD, size=(n, FEATURES))
    if shift is not None:
        data[:, shift] += 2 * STD[shift]
    return data.astype(np.float32)


def drift_for(train: np.ndarray, settings: DriftSettings, docs: list[Any]) -> Drift:
    manifest = {"baseline": baseline({"x": train}, "sample"), "predictions": None}
    return Drift(manifest, [], docs.extend, settings)


def by_metric(docs: list[tuple[dict[str, str], dict[str, float]]], metric: str, dim: str) -> dict[str, float]:
    return {dims[dim]: values[metric] for dims, values in docs if metric in values}


# --------------------------------------------------------------------------- bins and PSI


def test_bin_counts_count_the_bins_bin_index_defines() -> None:
    rng = np.random.default_rng(3)
    for n, width in ((1, 2), (57, 4), (3000, 40)):  # the broadcast path and the pass-per-edge path
        values = np.round(rng.normal(size=(n, width)), 1)
        values[::5, 0] = np.nan
        edges = np.sort(np.round(rng.normal(size=(width, 9)), 1), axis=1)  # ties on purpose
        index = bin_index(values, edges)
        expected = np.stack([np.bincount(index[:, f], minlength=10) for f in range(width)])
        np.testing.assert_array_equal(bin_counts(values, edges), expected)
    # edges[i-1] <= v < edges[i]; below the first edge is bin 0, at or above the last the last bin
    edges = np.array([[1.0, 2.0, 2.0, 3.0]])
    values = np.array([[0.5], [1.0], [1.5], [2.0], [2.5], [3.0], [9.0], [np.nan]])
    assert bin_index(values, edges).ravel().tolist() == [0, 1, 1, 3, 3, 4, 4, 0]
    assert open_bins(edges).tolist() == [[True, True, False, True, True]]  # [2, 2) can hold nothing


def test_psi_is_zero_on_the_baseline_and_grows_with_the_shift() -> None:
    shares = np.full((1, 10), 0.1)
    same = psi(np.full((1, 10), 100), shares)
    assert same[0] == pytest.approx(0.0, abs=1e-12)
    moved = np.array([[0, 0, 0, 0, 0, 100, 200, 200, 250, 250]])
    assert psi(moved, shares)[0] > 1.0
    # an empty bin costs a bounded amount: the window's prior, then the 1e-4 floor
    one_empty = np.array([[0, 11, 11, 11, 11, 11, 11, 11, 11, 12]])  # 100 rows, one bin empty by chance
    floor_only = (0.1 - 1e-4) * np.log(0.1 / 1e-4)  # 0.69: what the floor alone would charge
    assert 0.1 < psi(one_empty, shares)[0] < 0.35 < floor_only
    # a bin between two tied edges ([1, 1)) can hold no value: the prior skips it
    tied = np.array([[0.1, 0.0, 0.2, 0.2, 0.5]])
    bins = open_bins(np.array([[1.0, 1.0, 2.0, 3.0]]))
    counts = np.array([[10, 0, 20, 20, 50]])
    assert psi(counts, tied, bins)[0] < 0.01 < psi(counts, tied)[0]


# --------------------------------------------------------------------------- the case


def test_two_standard_deviations_in_one_feature() -> None:
    """500 rows like the baseline, then 500 with feature 1 moved by two standard deviations."""
    docs: list[Any] = []
    drift = drift_for(rows(2000, seed=0), DriftSettings(every_n=10**6, every_s=1e9, min_rows=200), docs)
    for i in range(500):
        drift.observe({"x": rows(1, seed=1000 + i)}, None, [])
    for i in range(500):
        drift.observe({"x": rows(1, seed=5000 + i, shift=1)}, None, [])
    drift.close()  # what the environment's shutdown does: the window in progress
    scores = by_metric(docs, "DriftPSI", "feature")
    assert set(scores) == {"x[0]", "x[1]", "x[2]"}
    assert scores["x[1]"] > 0.2
    assert scores["x[0]"] < 0.1 and scores["x[2]"] < 0.1
    head = docs[0][1]
    assert head["DriftRows"] == 1000 and head["DriftPSIMax"] == scores["x[1]"]
    outside = by_metric(docs, "DriftOutOfRange", "feature")
    assert outside["x[1]"] > outside["x[0]"] and 0 <= outside["x[0]"] < 0.01


def test_windows_every_n_requests_see_the_shift_start() -> None:
    docs: list[Any] = []
    drift = drift_for(rows(2000, seed=0), DriftSettings(every_n=250, every_s=1e9, min_rows=200), docs)
    for i in range(1000):
        drift.observe({"x": rows(1, seed=9000 + i, shift=2 if i >= 500 else None)}, None, [])
    windows = [values for dims, values in docs if "DriftRows" in values]
    assert [w["DriftRows"] for w in windows] == [250, 250, 250, 250]
    assert [w["DriftPSIMax"] > 0.2 for w in windows] == [False, False, True, True]
    third = [values for dims, values in docs if dims.get("feature") == "x[2]"][2]
    assert third["DriftPSI"] > 0.2


def test_a_window_waits_for_enough_rows_and_the_clock_closes_it() -> None:
    now = [0.0]
    docs: list[Any] = []
    manifest = {"baseline": baseline({"x": rows(500, seed=0)}, "sample")}
    drift = Drift(manifest, [], docs.extend, DriftSettings(every_n=10, every_s=60, min_rows=50), clock=lambda: now[0])
    for i in range(30):  # 3 checks, each with fewer than 50 rows in the window: nothing yet
        drift.observe({"x": rows(1, seed=i)}, None, [])
    assert docs == []
    drift.observe({"x": rows(25, seed=99)}, None, [])  # 55 rows now, but no check is due
    assert docs == []
    now[0] = 61.0
    drift.observe({"x": rows(1, seed=100)}, None, [])  # the clock: checked, 56 rows, emitted
    assert docs and docs[0][1]["DriftRows"] == 56
    docs.clear()
    drift.close()  # the new window is empty: nothing at exit
    assert docs == []


def test_batches_inputs_of_other_shapes_and_the_feature_cap() -> None:
    docs: list[Any] = []
    train = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    manifest = {"baseline": baseline({"x": train}, "sample")}
    drift = Drift(manifest, [], docs.extend, DriftSettings(every_n=3, every_s=1e9, min_rows=10, max_features=4))
    drift.observe({"x": train[:100]}, None, [])
    drift.observe({"x": np.zeros((5, 2), np.float32)}, None, [])  # not this input's width: left out
    drift.observe({"y": train[:5]}, None, [])  # not a monitored input
    names = sorted(by_metric(docs, "DriftPSI", "feature"))
    assert names == ["x[0]", "x[1]", "x[2]", "x[3]"]  # max_features = 4, manifest order
    assert docs[0][1]["DriftRows"] == 100


def test_busy_environments_sample_requests() -> None:
    docs: list[Any] = []
    drift = drift_for(rows(2000, seed=0), DriftSettings(every_n=1000, every_s=1e9, min_rows=200, sample_rows=250), docs)
    for i in range(3000):
        drift.observe({"x": rows(1, seed=30000 + i)}, None, [])
    # the first interval sees every request, then one in four: about 250 rows a window
    assert [v["DriftRows"] for d, v in docs if "DriftRows" in v] == [1000, 250, 250]
    assert drift._stride == 4


def test_full_buffers_are_binned_and_large_batches_sampled() -> None:
    docs: list[Any] = []
    train = np.random.default_rng(0).normal(size=(300, 100)).astype(np.float32)  # wide: a 2,621-row buffer
    drift = Drift({"baseline": baseline({"x": train}, "sample")}, [], docs.extend,
                  DriftSettings(every_n=4, every_s=1e9, min_rows=10))
    for n in (2000, 2000, 3000, 10000):  # fills, overflows, larger than the buffer, strided to 4096 rows at most
        drift.observe({"x": np.random.default_rng(n).normal(size=(n, 100)).astype(np.float32)}, None, [])
    assert docs[0][1]["DriftRows"] == 2000 + 2000 + 3000 + 3334  # 10,000 rows, every third
    assert max(by_metric(docs, "DriftPSI", "feature").values()) < 0.1


def test_settings_from_the_environment() -> None:
    warnings: list[str] = []
    settings = drift_settings({"DRIFT_EVERY_N": "50", "DRIFT_EVERY_S": "5", "DRIFT_MIN_ROWS": "x",
                               "DRIFT_FLUSH_ON_SIGTERM": "1"}, lambda m, e: warnings.append(m))
    assert (settings.every_n, settings.every_s, settings.min_rows, settings.on_sigterm) == (50, 5.0, 200, True)
    assert warnings == ["DRIFT_MIN_ROWS ignored"]
    assert drift_settings({}, lambda m, e: None).every_n == 4000


# --------------------------------------------------------------------------- predictions


def test_prediction_shift_for_classes_and_values() -> None:
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    score = np.random.default_rng(0).normal(5.0, 1.0, 100)
    specs = [TensorSpec("label", "INT64", ("N",)), TensorSpec("score", "FP32", ("N",))]
    predictions = prediction_baseline(specs, {"label": labels, "score": score}, ["cat", "dog", "eel"])
    assert predictions["label"]["names"] == ["cat", "dog", "eel"] and predictions["label"]["shares"] == [0.6, 0.3, 0.1]
    assert predictions["score"]["kind"] == "values" and 4.5 < predictions["score"]["p50"] < 5.5
    docs: list[Any] = []
    manifest = {"predictions": predictions}
    drift = Drift(manifest, ["label", "score"], docs.extend, DriftSettings(every_n=2, every_s=1e9, min_rows=100))
    drift.observe({}, None, [np.array([2] * 80 + [0] * 20), np.full(100, 9.0, np.float32)])
    drift.observe({}, ["score"], [np.full(100, 7.0, np.float32)])  # kserve: only some outputs asked for
    shares = {dims["class"]: values["PredictionClassShare"] for dims, values in docs if "class" in dims}
    assert shares == {"cat": 0.2, "dog": 0.0, "eel": 0.8}
    values = next(v for d, v in docs if d == {"output": "score"})
    assert values["PredictionMean"] == pytest.approx(8.0) and values["PredictionP90"] == pytest.approx(9.0)
    assert values["PredictionPSI"] > 1.0
    assert next(v for d, v in docs if d == {"output": "label"})["PredictionPSI"] > 0.5
    assert "DriftPSIMax" not in docs[0][1]  # no monitored input feature


def test_string_classes_and_argmax_scores() -> None:
    specs = [TensorSpec("label", "BYTES", ("N",)), TensorSpec("probs", "FP32", ("N", 2)),
             TensorSpec("logits", "FP32", ("N", 2))]
    sample = {"label": np.array(["no", "yes", "yes", "no"]), "probs": np.eye(2)[[0, 1, 1, 0]],
              "logits": np.eye(2)[[0, 1, 1, 1]]}
    predictions = prediction_baseline(specs, sample, ["no", "yes"], scores=("probs",))
    assert set(predictions) == {"label", "logits"}  # the label's scores are left out
    assert predictions["logits"]["kind"] == "argmax" and predictions["logits"]["shares"] == [0.25, 0.75]
    docs: list[Any] = []
    drift = Drift({"predictions": predictions}, ["label", "probs", "logits"], docs.extend,
                  DriftSettings(every_n=1, every_s=1e9, min_rows=4))
    drift.observe({}, None, [np.array(["yes"] * 4, dtype=object), sample["probs"], np.eye(2)[[0, 0, 0, 1]]])
    shares = {(dims["output"], dims["class"]): v["PredictionClassShare"] for dims, v in docs if "class" in dims}
    assert shares == {("label", "no"): 0.0, ("label", "yes"): 1.0, ("logits", "no"): 0.75, ("logits", "yes"): 0.25}


# --------------------------------------------------------------------------- EMF documents


def test_documents_equal_powertools_serialization() -> None:
    out = io.StringIO()
    metrics = RequestMetrics("Ns", "svc", "m", "v1", out=out)
    docs = [({"feature": "x[0]"}, {"DriftPSI": 0.0, "DriftOutOfRange": 0.0}),
            ({"feature": "x[1]"}, {"DriftPSI": 0.5, "DriftOutOfRange": 0.25}),
            ({"output": "y", "class": "a"}, {"PredictionClassShare": 0.75})]
    metrics.documents(docs[:1])  # builds the template with other values
    metrics.documents(docs)
    ours = [json.loads(line) for line in out.getvalue().splitlines()[1:]]
    for doc, (dims, values) in zip(ours, docs):
        provider = AmazonCloudWatchEMFProvider(namespace="Ns", service="svc")
        provider.set_default_dimensions(model="m", version="v1")
        for name, value in values.items():
            provider.add_metric(name=name, unit=UNITS[name], value=value)
        for name, value in dims.items():
            provider.add_dimension(name=name, value=value)
        theirs = provider.serialize_metric_set()
        doc["_aws"]["Timestamp"] = theirs["_aws"]["Timestamp"] = 0
        assert doc == theirs


def test_undeclared_metrics_and_dimensions_are_refused() -> None:
    metrics = RequestMetrics("Ns", "svc", "m", "v1", out=io.StringIO())
    with pytest.raises(UndeclaredMetric):
        metrics.documents([({"feature": "x"}, {"DriftRows": 1})])  # DriftRows has no feature dimension
    with pytest.raises(UndeclaredMetric):
        metrics.emit({"Surprise": 1})
    assert set(UNITS) == set(SERIES)


def test_a_document_over_100_metrics_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.metrics

    monkeypatch.setattr(functions.metrics, "MAX_METRICS_PER_DOCUMENT", 2)
    out = io.StringIO()
    RequestMetrics("Ns", "svc", "m", "v1", out=out).documents(
        [({"output": "y"}, {"PredictionPSI": 1.0, "PredictionMean": 2.0, "PredictionP50": 3.0})])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [sorted(m["Name"] for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in lines] == [
        ["PredictionMean", "PredictionPSI"], ["PredictionP50"]]


# --------------------------------------------------------------------------- in the handler


def _drift_model(folder: Path) -> Path:
    """x FP32 [N, 3] → label = argmax(x) INT64 [N], total = sum(x) FP32 [N]; a manifest with the
    baseline and the predictions of 600 sample rows, as convert writes them."""
    graph = helper.make_graph(
        [helper.make_node("ArgMax", ["x"], ["label"], axis=1, keepdims=0),
         helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0)],
        "drift", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
         helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])])
    _save(graph, folder / "model.onnx")
    sample = rows(600, seed=0)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    label, total = session.run(None, {"x": sample})
    outputs = [TensorSpec("label", "INT64", ("N",)), TensorSpec("total", "FP32", ("N",))]
    write_manifest(folder, "drifty", [{"name": "x", "datatype": "FP32", "shape": ["N", FEATURES]}],
                   [s.to_manifest() for s in outputs], labels=["a", "b", "c"],
                   baseline=baseline({"x": sample}, "sample"),
                   predictions=prediction_baseline(outputs, {"label": label, "total": total}, ["a", "b", "c"]))
    return folder


@pytest.fixture(scope="module")
def drift_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _drift_model(tmp_path_factory.mktemp("drift"))


def emf(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def series_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    (dims,) = directive["Dimensions"]
    extra = {d: doc[d] for d in dims if d not in ("model", "version", "service")}
    return [(m["Name"], extra) for m in directive["Metrics"]]


def body(data: np.ndarray) -> dict[str, Any]:
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(data.shape), "data": data.ravel().tolist()}]}


def test_the_handler_prints_drift_lines_every_n_requests(drift_dir: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_EVERY_N", "250")
    monkeypatch.setenv("DRIFT_MIN_ROWS", "200")
    service = Service(str(drift_dir))
    client = Client(service)
    capsys.readouterr()
    for i in range(500):
        data = rows(1, seed=20000 + i, shift=0 if i >= 250 else None)
        if i % 2:  # TF Serving's route feeds the monitor too
            answer = client.request("POST", "/v1/models/drifty:predict", {"instances": data.tolist()})
        else:
            answer = client.infer("drifty", body(data))
        assert answer.status == 200
    docs = emf(capsys.readouterr().out)
    per_request = [d for d in docs if "RequestMs" in d]
    drift = [d for d in docs if "RequestMs" not in d and "Errors" not in d]
    assert len(per_request) == 500
    heads = [d for d in drift if "DriftRows" in d]
    assert [h["DriftRows"] for h in heads] == [[250], [250]]
    assert heads[0]["DriftPSIMax"][0] < 0.2 < heads[1]["DriftPSIMax"][0]
    for doc in drift:
        assert (doc["model"], doc["version"], doc["service"]) == ("drifty", service.model.version, "onnx-lambda")
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OnnxLambda"
    # exactly the series functions/series.py says this manifest leads to, each window
    printed = {(name, tuple(sorted(extra.items()))) for doc in drift for name, extra in series_of(doc)}
    manifest = json.loads((drift_dir / "manifest.json").read_text())
    declared = {(name, tuple(sorted(extra.items()))) for name, extra in emitted(manifest)
                if name.startswith(("Drift", "Prediction"))}
    assert printed == declared
    assert len(drift) == 2 * (1 + FEATURES + 1 + 3 + 1)  # head, features, label + its 3 classes, total
    means = [d["PredictionMean"][0] for d in drift if d.get("output") == "total"]
    assert means[0] == pytest.approx(7.0, abs=0.5) and means[1] == pytest.approx(9.0, abs=0.5)  # x[0] + 2


def test_a_model_without_baseline_has_no_monitor(pair_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Service(str(pair_dir)).drift is None
    monkeypatch.setenv("DRIFT_EVERY_N", "0")
    assert Service(str(ROOT / "examples" / "iris" / "model")).drift is None


@pytest.fixture()
def log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    import functions.app

    stream = io.StringIO()
    monkeypatch.setattr(functions.app.logger, "stream", stream)
    return stream


def test_a_broken_baseline_turns_the_monitor_off(tmp_path: Path, drift_dir: Path, log: io.StringIO) -> None:
    for name in ("model.onnx", "manifest.json"):
        (tmp_path / name).write_bytes((drift_dir / name).read_bytes())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["baseline"]["x"]["shares"] = [[1.0]]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    service = Service(str(tmp_path))
    assert service.drift is None and service.model is not None
    assert "drift monitoring off: the manifest's baseline cannot be read" in log.getvalue()


def test_a_failing_window_turns_the_monitor_off_and_the_answers_go_on(
        drift_dir: Path, monkeypatch: pytest.MonkeyPatch, log: io.StringIO) -> None:
    monkeypatch.setenv("DRIFT_EVERY_N", "2")
    service = Service(str(drift_dir))
    client = Client(service)

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service.drift, "_fold", broken)
    for _ in range(4):
        assert client.infer("drifty", body(rows(1, seed=1))).status == 200
    assert service.drift is not None and not service.drift.enabled
    out = log.getvalue()
    assert out.count("drift monitoring off in this environment") == 1 and "RuntimeError: boom" in out


CHILD = """
import sys, time
from functions.app import Service
from tests.unit.functions.conftest import Client
from tests.unit.functions.test_drift import body, rows
client = Client(Service(sys.argv[1]))
for i in range(300):
    client.infer("drifty", body(rows(1, seed=i)))
print("READY", flush=True)
if sys.argv[2] == "wait":
    time.sleep(60)
"""


@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_the_window_in_progress_is_flushed_at_shutdown(drift_dir: Path, how: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIFT_FLUSH_ON_SIGTERM": "1" if how == "sigterm" else "0"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(drift_dir), "wait" if how == "sigterm" else "exit"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("READY"):
            break
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    heads = [d for d in emf(rest) if "DriftRows" in d]
    assert [h["DriftRows"] for h in heads] == [[300]], err[-2000:]
    assert proc.returncode == (-signal.SIGTERM if how == "sigterm" else 0)
