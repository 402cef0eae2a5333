"""Parity comparisons: tolerances by datatype, labels, ties, shapes, NaN."""

from __future__ import annotations

import numpy as np

from deployer.model.parity import DEFAULT_TOLERANCE, Tolerance, compare
from deployer.model.signature import TensorSpec

PROBA = TensorSpec("proba", "FP32", ("batch", 3))
LABEL = TensorSpec("label", "INT64", ("batch",))
NAMES = TensorSpec("name", "BYTES", ("batch",))


def test_within_default_float32_tolerance_passes() -> None:
    want = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], np.float32)
    report = compare("converted", {"proba": want}, {"proba": want + 5e-5}, [PROBA], Tolerance())
    entry = report.outputs["proba"]
    assert report.passed and entry["argmax_agreement"] == 1.0
    assert 4e-5 < entry["max_abs_error"] < 6e-5 and entry["atol"] == DEFAULT_TOLERANCE["FP32"][0]


def test_beyond_tolerance_says_where_and_how_much() -> None:
    want = np.zeros((4, 3), np.float32)
    got = want.copy()
    got[2, 1] = 0.5
    report = compare("optimized", {"proba": want}, {"proba": got}, [PROBA], Tolerance())
    assert not report.passed
    (failure,) = report.failures
    assert "'proba'" in failure and "[2, 1]" in failure and "max abs error 0.5" in failure
    assert "1 of 12 values" in failure


def test_caller_tolerance_overrides_defaults() -> None:
    want = np.zeros((2, 3), np.float32)
    report = compare("converted", {"proba": want}, {"proba": want + 0.01}, [PROBA], Tolerance(atol=0.1))
    assert report.passed and report.outputs["proba"]["atol"] == 0.1


def test_labels_must_agree_except_on_ties() -> None:
    proba = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], np.float32)
    want = np.array([0, 2, 0])
    tie = compare("converted", {"label": want, "proba": proba}, {"label": np.array([1, 2, 0]), "proba": proba},
                  [LABEL, PROBA], Tolerance(), {"label": "proba"})
    assert tie.passed and tie.outputs["label"]["tied_rows"] == 1 and tie.notes
    wrong = compare("converted", {"label": want, "proba": proba}, {"label": np.array([0, 1, 0]), "proba": proba},
                    [LABEL, PROBA], Tolerance(), {"label": "proba"})
    assert not wrong.passed and "row 1" in wrong.failures[0] and wrong.label_agreement == 2 / 3


def test_string_labels_and_reshaped_outputs() -> None:
    report = compare("converted", {"name": np.array(["a", "b"], dtype=object)}, {"name": np.array(["a", "b"])},
                     [NAMES], Tolerance())
    assert report.passed and report.label_agreement == 1.0
    column = TensorSpec("y", "FP32", ("batch", 1))
    reshaped = compare("converted", {"y": np.ones(3)}, {"y": np.ones((3, 1), np.float32)}, [column], Tolerance())
    assert reshaped.passed
    wrong_size = compare("converted", {"y": np.ones(4)}, {"y": np.ones((3, 1), np.float32)}, [column], Tolerance())
    assert "shape" in wrong_size.failures[0]


def test_nan_matches_nan_only() -> None:
    y = TensorSpec("y", "FP32", ("batch",))
    want = np.array([np.nan, 1.0])
    assert compare("c", {"y": want}, {"y": want.astype(np.float32)}, [y], Tolerance()).passed
    assert not compare("c", {"y": want}, {"y": np.array([0.0, 1.0], np.float32)}, [y], Tolerance()).passed


def test_quantized_tolerance_is_looser() -> None:
    assert Tolerance(quantized=True).for_datatype("FP32") > Tolerance().for_datatype("FP32")
    assert Tolerance().for_datatype("INT64") == (0.0, 0.0)


def test_quantized_tolerance_follows_the_output_range() -> None:
    y = TensorSpec("y", "FP32", ("batch", 2))
    want = np.array([[20.0, 0.0], [-10.0, 1.0]])
    got = (want + 0.5).astype(np.float32)  # 0.5 off everywhere: fine for int8 at a range of 20
    report = compare("quantized", {"y": want}, {"y": got}, [y], Tolerance(quantized=True))
    assert report.passed and report.outputs["y"]["atol"] == 1.0
    assert not compare("quantized", {"y": want}, {"y": got}, [y], Tolerance(atol=0.1, quantized=True)).passed
