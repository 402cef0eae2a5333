"""Which graph optimizations to bake offline and which to leave to the handler: measured side by side.

    .venv/bin/python -m bench.optimize                          # mlp, resnet18, cnn4; 10 rounds
    .venv/bin/python -m bench.optimize --models cnn4 --rounds 20 --check

The rule `deployer convert` follows (deployer/model/optimize.py): bake onnxruntime's BASIC level
offline and open the file at ALL in the handler. This bench measures that rule against the
alternatives, per model, against what a user gets for free — a default `InferenceSession`
(ORT_ENABLE_ALL) on the original file:

- ``original``            the raw file, default session (the reference);
- ``extended+off``        EXTENDED baked offline, runtime optimizations off (the first wave's
                          artifact: no NCHWc layouts, PERF-NOTES);
- ``extended+all``        EXTENDED baked offline, runtime ALL;
- ``basic+all``           BASIC baked offline, runtime ALL (the rule);
- ``artifact``            what `deployer.model.convert` writes, opened as its manifest says
                          (`runtime.graph_optimization_level`): must behave like ``basic+all``;
- ``artifact+external``   the same with `external_data=True` (weights memory-mapped).

Models: ``mlp`` and ``resnet18`` from `bench/models.py`, and ``cnn4``, a small CNN built here
(four 3x3 convolutions with BatchNorm and ReLU, 16-32-32-64 channels, 224x224 input, global
pool, FC 10), the model on which the first wave's artifact ran 2x slower than the original.

Measured in one process, the variants in alternation round by round (the machine is shared and
drifts; only paired ratios within a run mean something): session creation (`--rounds` rounds
after one warm-up) and `session.run` at batch 1 (reps sized to a time budget), medians and the
median of the per-round ratios against ``original``, and the ratio of the fastest rounds
(interference from other processes only ever adds time, so on a busy machine the fastest
round is the steadier estimate). Peak memory comes from one fresh child
process per variant. `--check` exits 1 unless the rule holds on every model: ``artifact`` no
slower than the original beyond the noise margin (deployer.model.optimize.NOISE_RATIO) in
`session.run` and in session creation, by both estimators (as convert judges it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.models import MODELS_DIR, ensure_models  # noqa: E402
from bench.stats import fmt_ms, median  # noqa: E402

__all__ = ["main", "measure", "cnn4"]

MODELS = ("mlp", "resnet18", "cnn4")
_LEVELS = {"disable_all": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}

_CHILD = """
import json, sys, time
import onnxruntime as ort

def hwm_kb():  # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM:")).split()[1])

so = ort.SessionOptions()
so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, sys.argv[2])
base = hwm_kb()
ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
print(json.dumps({"peak_kb": hwm_kb(), "base_kb": base}))
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cnn4(path: Path) -> Path:
    """The small CNN: 4 x (Conv 3x3 + BatchNorm + ReLU), global average pool, Gemm; input [N, 3, 224, 224]."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if path.is_file():
        return path
    rng = np.random.default_rng(20240601)
    nodes, inits, x, cin = [], [], "x", 3
    for i, (cout, stride) in enumerate(((16, 1), (32, 2), (32, 1), (64, 2))):
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      strides=[stride, stride]))
        stats = {"s": 1 + 0.1 * rng.standard_normal(cout), "b": 0.1 * rng.standard_normal(cout),
                 "m": 0.1 * rng.standard_normal(cout), "v": 1 + 0.1 * np.abs(rng.standard_normal(cout))}
        inits += [numpy_helper.from_array(v.astype(np.float32), f"{k}{i}") for k, v in stats.items()]
        nodes.append(helper.make_node("BatchNormalization", [f"c{i}", f"s{i}", f"b{i}", f"m{i}", f"v{i}"], [f"n{i}"]))
        nodes.append(helper.make_node("Relu", [f"n{i}"], [f"r{i}"]))
        x, cin = f"r{i}", cout
    inits += [numpy_helper.from_array(rng.standard_normal((64, 10)).astype(np.float32) * 0.1, "fw"),
              numpy_helper.from_array(np.zeros(10, np.float32), "fb")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
              helper.make_node("Gemm", ["f", "fw", "fb"], ["y"])]
    graph = helper.make_graph(nodes, "cnn4", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _offline(raw: Path, level: str, target: Path) -> Path:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
    so.optimized_model_filepath = str(target)
    ort.InferenceSession(str(raw), so, providers=["CPUExecutionProvider"])
    return target


def _variants(name: str, raw: Path, work: Path) -> list[dict[str, Any]]:
    from deployer.model import convert

    variants = [
        {"name": "original", "path": raw, "offline": "-", "runtime": "all"},
        {"name": "extended+off", "path": _offline(raw, "extended", work / "extended.onnx"), "offline": "extended",
         "runtime": "disable_all"},
        {"name": "extended+all", "path": work / "extended.onnx", "offline": "extended", "runtime": "all"},
        {"name": "basic+all", "path": _offline(raw, "basic", work / "basic.onnx"), "offline": "basic", "runtime": "all"},
    ]
    for label, external in (("artifact", False), ("artifact+external", True)):
        _log(f"converting {raw} with deployer.model.convert (external_data={external}) ...")
        result = convert(raw, out=work / label, name=name, external_data=external)
        m = result.manifest
        variants.append({"name": label, "path": result.model_path, "offline": m["optimization"]["level"],
                         "runtime": m["runtime"]["graph_optimization_level"], "parity": m["parity"]})
    for v in variants:
        folder = Path(v["path"]).parent
        v["size"] = sum(p.stat().st_size for p in (Path(v["path"]), folder / "model.onnx.data") if p.is_file())
    return variants


def measure(variants: list[dict[str, Any]], shape: tuple[int, ...], rounds: int, budget_s: float) -> None:
    """Fill each variant's `session_ms` and `run_ms` (per round, alternating) and `peak_mb` in place."""
    import numpy as np
    import onnxruntime as ort

    def session(v: dict[str, Any]) -> Any:
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[v["runtime"]])
        return ort.InferenceSession(str(v["path"]), so, providers=["CPUExecutionProvider"])

    for v in variants:
        v["session_ms"], v["run_ms"] = [], []
    for i in range(rounds + 1):  # round 0 warms the page cache and onnxruntime's lazy init
        for v in variants:
            started = time.perf_counter()
            session(v)
            if i:
                v["session_ms"].append((time.perf_counter() - started) * 1000.0)
    feeds = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    sessions = [session(v) for v in variants]
    per_round = 0.0
    for s in sessions:  # the cost of one round, from the fastest of a few warm runs
        s.run(None, feeds)
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            s.run(None, feeds)
            runs.append(time.perf_counter() - started)
        per_round += min(runs)
    reps = max(15, min(1000, int(budget_s / max(per_round, 1e-6))))
    for _ in range(reps):
        for v, s in zip(variants, sessions):
            started = time.perf_counter()
            s.run(None, feeds)
            v["run_ms"].append((time.perf_counter() - started) * 1000.0)
    for v in variants:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(v["path"]), _LEVELS[v["runtime"]]],
                             capture_output=True, text=True, check=True)
        child = json.loads(out.stdout.strip().splitlines()[-1])
        v["peak_mb"] = child["peak_kb"] / 1024.0


def _paired(base: list[float], other: list[float]) -> float:
    return median([b / a for a, b in zip(base, other) if a > 0])


def _fastest(base: list[float], other: list[float]) -> float:
    """Fastest against fastest: interference from other processes only ever adds time."""
    return min(other) / min(base)


def _table(model: str, variants: list[dict[str, Any]]) -> str:
    base = variants[0]
    lines = [
        f"#### `{model}`: {len(base['session_ms'])} creation rounds, {len(base['run_ms'])} run rounds (batch 1)",
        "",
        "| variant | offline | runtime level | size | session creation | vs original (paired, fastest) | session.run "
        "| vs original (paired, fastest) | peak RSS |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        lines.append(
            f"| {v['name']} | {v['offline']} | {v['runtime']} | {v['size'] / 1e6:.2f} MB | "
            f"{fmt_ms(median(v['session_ms']))} | {_paired(base['session_ms'], v['session_ms']):.2f}x, "
            f"{_fastest(base['session_ms'], v['session_ms']):.2f}x | {median(v['run_ms']):.4g} ms | "
            f"{_paired(base['run_ms'], v['run_ms']):.2f}x, {_fastest(base['run_ms'], v['run_ms']):.2f}x | "
            f"{v['peak_mb']:.0f} MB |")
    return "\n".join(lines)


def _holds(variants: list[dict[str, Any]]) -> list[str]:
    """Why the rule fails on this model ([] when it holds)."""
    from deployer.model.optimize import NOISE_RATIO

    base = variants[0]
    artifact = next(v for v in variants if v["name"] == "artifact")
    problems = []
    for what in ("session_ms", "run_ms"):  # slower only when both estimators say so, as convert judges
        ratio, fastest = _paired(base[what], artifact[what]), _fastest(base[what], artifact[what])
        if ratio > NOISE_RATIO and fastest > NOISE_RATIO:
            problems.append(f"artifact {what.split('_')[0]} {ratio:.2f}x (fastest {fastest:.2f}x) the original's "
                            f"(margin {NOISE_RATIO:.2f}x)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.optimize", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--rounds", type=int, default=10, help="session-creation rounds per variant")
    parser.add_argument("--run-budget", type=float, default=3.0, help="seconds of session.run rounds per model")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the artifact is no slower than the original")
    args = parser.parse_args(argv)
    command = "python -m bench.optimize " + shlex.join(argv if argv is not None else sys.argv[1:])
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    import onnxruntime as ort

    bench_models = ensure_models(tuple(n for n in names if n != "cnn4"), log=_log) if set(names) - {"cnn4"} else {}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"### Offline optimization vs runtime level: `{command.strip()}`\n\nonnxruntime {ort.__version__}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.1f} at start; "
          "medians; ratios against `original`: median of the per-round ratios, and fastest over fastest.\n")
    failures: list[str] = []
    for name in names:
        if name == "cnn4":
            raw, shape = cnn4(MODELS_DIR / "cnn4" / "model.onnx"), (1, 3, 224, 224)
        else:
            raw, shape = bench_models[name].raw / "model.onnx", (1, *bench_models[name].input_shape[1:])
        with tempfile.TemporaryDirectory(prefix="bench-optimize-") as tmp:
            variants = _variants(name, raw, Path(tmp))
            _log(f"{name}: timing {len(variants)} variants ...")
            measure(variants, shape, args.rounds, args.run_budget)
            print(_table(name, variants) + "\n")
            failures += [f"{name}: {p}" for p in _holds(variants)]
    print("Rule (BASIC offline + ALL at runtime, no slower than the original beyond the noise margin): "
          + ("holds on every model." if not failures else "MISSED — " + "; ".join(failures)))
    return 1 if failures and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
