"""The optimization rule's two guards: what counts as slower, and the fallback when the
optimized artifact is clearly slower than the original (deployer/model/optimize.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx

from deployer.model import convert
from deployer.model.optimize import NOISE_RATIO, judge
from deployer.model.worker import Worker
from functions.manifest import MODEL_FILE
from tests.unit.model import builders
from tests.unit.model.runtime import assert_answers_like_manifest


def test_equal_timings_are_no_change_and_printed_with_enough_digits() -> None:
    """`--quantize` said "made inference slower (0.006 → 0.006 ms)": equal at the printed precision."""
    same = judge("run", [0.00612, 0.00598, 0.00605], [0.00631, 0.00601, 0.00609])
    assert not same.slower and not same.faster and same.words == "no measurable change"
    assert "0.00605 → 0.00609 ms" in same.describe("session.run")
    slower = judge("run", [0.0060, 0.0061, 0.0059], [0.0080, 0.0082, 0.0079])
    assert slower.slower and slower.words == "slower" and not slower.clearly_slower
    faster = judge("run", [1.0, 1.1, 0.9], [0.5, 0.6, 0.5])
    assert faster.faster and faster.words == "faster"


def test_one_noisy_estimator_alone_is_not_slower() -> None:
    # the median of the paired ratios says 1.3x, but the fastest runs are equal: interference
    noisy = judge("run", [1.0, 1.0, 1.0, 0.5], [1.3, 1.3, 1.3, 0.5])
    assert noisy.ratio > NOISE_RATIO and noisy.min_ratio == 1.0 and not noisy.slower
    big = judge("session", [10.0, 11.0, 10.0], [40.0, 41.0, 45.0])
    assert big.clearly_slower  # 4x and 31 ms more
    tiny = judge("run", [0.010, 0.011, 0.010], [0.030, 0.031, 0.030])
    assert tiny.slower and not tiny.clearly_slower  # 3x, but 0.02 ms is not worth a different artifact


_SLOW_CHILD = """
import json, sys
from deployer.model import _worker
measure = _worker.measure

def slow(req):  # the real measurement, then the artifact made 3x slower at run
    reply = measure(req)
    if "optimized" in req["models"][1]["path"]:
        reply["run_samples_ms"][1] = [3 * v + 1.0 for v in reply["run_samples_ms"][0]]
        reply["run_ms"][1] = 3 * reply["run_ms"][0] + 1.0
    return reply

_worker.STEPS["measure"] = slow
sys.exit(_worker.main())
"""


def test_a_clearly_slower_artifact_falls_back_to_the_converted_model(tmp_path: Path) -> None:
    source = builders.onnx_conv_bn(tmp_path / "convbn.onnx")
    out = tmp_path / "model"
    result = convert(source, out=out, worker=Worker([sys.executable, "-c", _SLOW_CHILD]))
    m = result.manifest
    assert m["optimization"]["level"] == "none" and m["runtime"]["optimized"] is None
    assert m["runtime"]["graph_optimization_level"] == "all"
    assert any("offline optimization was dropped" in n for n in m["notes"])
    ops = [n.op_type for n in onnx.load(str(out / MODEL_FILE)).graph.node]
    assert "BatchNormalization" in ops  # the converted model as it was, not the optimized one
    assert m["parity"]["final_stage"] == "unoptimized" and m["parity"]["passed"]
    report = json.loads(result.report_path.read_text())  # type: ignore[union-attr]
    assert report["fallback"] is True and report["artifact"]["offline_level"] == "none"
    assert any("clearly slower" in w for w in report["warnings"])
    assert_answers_like_manifest(out)
