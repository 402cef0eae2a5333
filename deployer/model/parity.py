"""Parity: does the ONNX model predict what the original predicts?

Both run on the same inputs. Each output is compared element-wise with numpy's `allclose` rule,
``|onnx - original| <= atol + rtol * |original|``, using tolerances chosen by the output's
datatype (or the caller's `atol`/`rtol`). Integer, boolean and string outputs (class labels)
must be equal, except on rows where the original's own scores are tied within tolerance: there
either label is right. The report states, per output, the largest absolute and relative error
(relative error is measured where |original| > atol, so that values near zero do not dominate),
and for classifiers how many rows agree on the label / argmax. Error figures are rounded to 4
significant digits (they go into the manifest, whose bytes must repeat).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deployer.model.signature import TensorSpec

__all__ = ["Tolerance", "StageReport", "compare", "DEFAULT_TOLERANCE", "QUANTIZED_TOLERANCE", "QUANTIZED_RANGE_FRACTION"]

# (atol, rtol) by datatype. float32 leaves room for reordered accumulations and fused kernels.
DEFAULT_TOLERANCE: dict[str, tuple[float, float]] = {
    "FP16": (1e-2, 1e-2), "FP32": (1e-4, 1e-3), "FP64": (1e-6, 1e-5),
}
# Dynamic int8 quantization changes values on purpose, by an amount that follows the range of
# the activations rather than each value: the absolute tolerance is the larger of the floor below
# and QUANTIZED_RANGE_FRACTION of the output's largest |value|. These bounds catch a broken
# model (e.g. int8 saturation); the label / argmax agreement is the number to read.
QUANTIZED_TOLERANCE: dict[str, tuple[float, float]] = {
    "FP16": (2e-2, 5e-2), "FP32": (1e-2, 5e-2), "FP64": (1e-2, 5e-2),
}
QUANTIZED_RANGE_FRACTION = 0.05


@dataclass(frozen=True)
class Tolerance:
    atol: float | None = None
    rtol: float | None = None
    quantized: bool = False

    def for_datatype(self, datatype: str) -> tuple[float, float]:
        table = QUANTIZED_TOLERANCE if self.quantized else DEFAULT_TOLERANCE
        atol, rtol = table.get(datatype, (0.0, 0.0))
        return (atol if self.atol is None else self.atol, rtol if self.rtol is None else self.rtol)


@dataclass
class StageReport:
    stage: str
    rows: int
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def label_agreement(self) -> float | None:
        values = [o["agreement"] for o in self.outputs.values() if o.get("kind") == "label"]
        return min(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "rows": self.rows, "passed": self.passed,
                "label_agreement": self.label_agreement, "outputs": self.outputs,
                "failures": self.failures, "notes": self.notes}


def _is_exact(datatype: str) -> bool:
    return datatype not in DEFAULT_TOLERANCE


def compare(stage: str, expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray],
            outputs: Sequence[TensorSpec], tol: Tolerance,
            scores_for: Mapping[str, str] | None = None) -> StageReport:
    """Compare the outputs present in `expected`; `scores_for` maps a label output to its scores."""
    rows = len(next(iter(actual.values()))) if actual else 0
    report = StageReport(stage, rows)
    for spec in outputs:
        if spec.name not in expected:
            continue
        if spec.name not in actual:
            report.failures.append(f"output {spec.name!r} is missing from the ONNX model's results")
            continue
        want, got = np.asarray(expected[spec.name]), np.asarray(actual[spec.name])
        if want.shape != got.shape:
            if want.size != got.size:
                report.failures.append(f"output {spec.name!r}: shape {list(got.shape)}, the original gives "
                                       f"{list(want.shape)}")
                continue
            want = want.reshape(got.shape)
        if _is_exact(spec.datatype):
            scores = expected.get((scores_for or {}).get(spec.name, ""))
            report.outputs[spec.name] = _compare_exact(spec, want, got, tol, scores, report)
        else:
            report.outputs[spec.name] = _compare_values(spec, want, got, tol, report)
    return report


def _compare_exact(spec: TensorSpec, want: np.ndarray, got: np.ndarray, tol: Tolerance,
                   scores: np.ndarray | None, report: StageReport) -> dict[str, Any]:
    if want.dtype.kind in "OUS" or got.dtype.kind in "OUS":
        want, got = want.astype(np.str_), got.astype(np.str_)
    equal = want == got
    row_equal = equal.reshape(len(equal), -1).all(axis=1) if equal.ndim else np.atleast_1d(equal)
    mismatched = np.flatnonzero(~row_equal)
    ties = 0
    if len(mismatched) and scores is not None and np.asarray(scores).ndim == 2:
        atol, rtol = tol.for_datatype("FP32")
        top = np.sort(np.asarray(scores, dtype=np.float64)[mismatched], axis=1)[:, -2:]
        ties = int(np.sum(top[:, 1] - top[:, 0] <= atol + rtol * np.abs(top[:, 1])))
    agreement = float(row_equal.mean()) if row_equal.size else 1.0
    entry: dict[str, Any] = {"kind": "label", "datatype": spec.datatype, "agreement": agreement,
                             "mismatched_rows": int(len(mismatched)), "tied_rows": ties}
    if len(mismatched) > ties:
        row = int(mismatched[0])
        report.failures.append(
            f"output {spec.name!r}: {len(mismatched)} of {len(row_equal)} rows differ ({agreement:.1%} agree), "
            f"first at row {row}: expected {_show(want[row])}, got {_show(got[row])}")
    elif ties:
        report.notes.append(f"output {spec.name!r}: {ties} row(s) differ where the original's scores tie "
                            "within tolerance")
    return entry


def _compare_values(spec: TensorSpec, want: np.ndarray, got: np.ndarray, tol: Tolerance,
                    report: StageReport) -> dict[str, Any]:
    atol, rtol = tol.for_datatype(spec.datatype)
    w, g = want.astype(np.float64), got.astype(np.float64)
    if tol.quantized and tol.atol is None and np.isfinite(w).any():
        atol = max(atol, QUANTIZED_RANGE_FRACTION * float(np.nanmax(np.abs(w[np.isfinite(w)]))))
    both_nan = np.isnan(w) & np.isnan(g)
    diff = np.where(both_nan, 0.0, np.abs(g - w))
    diff = np.where(np.isnan(diff), np.inf, diff)
    allowed = atol + rtol * np.abs(np.nan_to_num(w))
    big = np.abs(w) > max(atol, np.finfo(np.float64).tiny)
    rel = np.where(big, diff / np.where(big, np.abs(w), 1.0), 0.0)
    entry: dict[str, Any] = {
        "kind": "values", "datatype": spec.datatype, "atol": atol, "rtol": rtol,
        "max_abs_error": _sig(float(diff.max())) if diff.size else 0.0,
        "max_rel_error": _sig(float(rel.max())) if rel.size else 0.0,
    }
    if w.ndim == 2 and w.shape[1] >= 2:
        entry["argmax_agreement"] = float(np.mean(np.argmax(w, axis=1) == np.argmax(g, axis=1)))
    excess = diff - allowed
    if excess.size and float(excess.max()) > 0:
        index = np.unravel_index(int(np.argmax(excess)), excess.shape)
        ratio = float(diff[index] / allowed[index]) if allowed[index] > 0 else float("inf")
        count = int(np.sum(excess > 0))
        report.failures.append(
            f"output {spec.name!r}: max abs error {entry['max_abs_error']:.3g}, max rel error "
            f"{entry['max_rel_error']:.3g}; worst at index {list(map(int, index))}: expected "
            f"{w[index]:.6g}, got {g[index]:.6g}, {ratio:.3g}x the allowed atol={atol:g} + rtol={rtol:g}·|expected| "
            f"({count} of {diff.size} values out of tolerance)")
    return entry


def _sig(value: float) -> float:
    """4 significant digits: the manifest carries these figures, and a last-bit difference in a
    framework's own output (its thread count, its kernels) must not change the artifact's bytes."""
    return float(f"{value:.4g}")


def _show(value: Any) -> str:
    text = np.array2string(np.asarray(value), threshold=8) if np.ndim(value) else repr(value.item()
                                                                                         if hasattr(value, "item") else value)
    return text[:80]
