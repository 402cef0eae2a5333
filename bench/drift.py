"""The drift monitor's cost (functions/drift.py): per request and at cold start.

    .venv/bin/python -m bench.drift                   # iris + a 100-feature MLP + cold start, ~2-3 minutes
    .venv/bin/python -m bench.drift --rounds 6 --cold-runs 0

Per request, in one process: three `functions.app.Service` over the same model folder, one with the
monitor and two without (`service.drift = None`; the second is the A/A noise floor), called in
rotation with API Gateway REST events (`bench.events.make_event`, v2 JSON, batch 1, rows drawn
from the baseline's mean/std) and `FakeContext`; stdout goes to /dev/null. A round is one check
interval (DRIFT_EVERY_N requests), so each round pays one window; rounds start after a warm-up
interval, once the monitor samples. Two figures: the direct cost (time spent inside the monitor's
`observe`, windows included, timed in place less the timing's own cost, per request), and the mean
paired difference per round with a 95% bootstrap interval (the machine is shared and drifts: read it
beside the A/A row).

Cold start: spawn to first answer through bench/coldchild.py's handler mode, `functions/` of the
commit before the monitor (git archive) against the working tree, alternating; and apart, importing
functions.drift (fresh process, after numpy, byte code cached) and building the monitor.

Models: the bundled iris example (4 features, a label output) and `drift-wide`, an MLP
100-64-10 converted by `deployer.convert` with 2,000 sample rows and 10 labels (100 monitored
features, the default DRIFT_MAX_FEATURES, and an argmax output): the worst case of a tabular
model. It is built once into bench/.models/drift-wide (git-ignored).

Prints a markdown section (bench/run.py appends it to RESULTS.md as section 6).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
IRIS = REPO_ROOT / "examples" / "iris" / "model"
WIDE = BENCH_DIR / ".models" / "drift-wide"


def build_wide(out: Path = WIDE) -> Path:
    """An MLP 100-64-10 (random weights, seed 0) converted with 2,000 sample rows and 10 labels."""
    if (out / "manifest.json").exists():
        return out
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import deployer

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((100, 64)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((64, 10)).astype(np.float32) * 0.1
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["logits"]), helper.make_node("Softmax", ["logits"], ["y"], axis=1)],
        "wide", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 100])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    out.parent.mkdir(parents=True, exist_ok=True)
    source = out.parent / "drift-wide.onnx"
    onnx.save(model, str(source))
    sample = rng.standard_normal((2000, 100)).astype(np.float32)
    deployer.convert(source, out=out, sample=sample, name="wide", labels=[f"c{i}" for i in range(10)])
    return out


def _rows(manifest: dict[str, Any], n: int, seed: int = 1) -> tuple[str, np.ndarray]:
    name, stats = next(iter(manifest["baseline"].items()))
    rng = np.random.default_rng(seed)
    rows = rng.normal(stats["mean"], np.maximum(stats["std"], 1e-6), size=(n, len(stats["mean"])))
    return name, rows.astype(np.float32)


def _interval(values: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean."""
    rng = np.random.default_rng(seed)
    data = np.asarray(values)
    means = data[rng.integers(0, len(data), size=(rounds, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def per_request(folder: Path, rounds: int, calls: int | None) -> dict[str, Any]:
    from bench.context import FakeContext
    from bench.events import make_event
    from functions.app import Service

    with_drift = Service(str(folder))
    without = Service(str(folder))
    twin = Service(str(folder))  # a second handler without the monitor: the A/A noise floor
    without.drift = twin.drift = None
    drift = with_drift.drift
    if drift is None or with_drift.model is None:
        raise SystemExit(f"{folder}: the model has no drift baseline")
    n = drift.settings.every_n
    calls = calls or n  # a round is one check interval: each round pays one window
    manifest = with_drift.model.manifest
    name, rows = _rows(manifest, min(calls, 2000))  # type: ignore[arg-type]
    events = [make_event("v2-json", with_drift.model.name, rows[i % len(rows):i % len(rows) + 1], name)
              for i in range(calls)]
    context = FakeContext(timeout_s=900)
    services = [("with", with_drift), ("without", without), ("twin", twin)]
    for event in events:  # warm all; the monitor's first interval observes every request, then samples
        for _, service in services:
            service.handler(event, context)
    # the monitor's own time in the handler's loop: observe (and the windows it closes), timed in place
    spent = [0.0]
    observe, clock = drift.observe, time.perf_counter

    def timed(feeds: Any, names: Any, results: Any) -> None:
        started = clock()
        observe(feeds, names, results)
        spent[0] += clock() - started

    def empty(feeds: Any, names: Any, results: Any) -> None:  # what the timing itself costs
        started = clock()
        spent[0] += clock() - started

    overhead = min(timeit_loop(empty) for _ in range(5))
    drift.observe = timed  # type: ignore[method-assign]
    times: dict[str, list[float]] = {label: [] for label, _ in services}
    windows = drift.windows
    for r in range(rounds):
        for label, service in services[r % 3:] + services[:r % 3]:
            handler = service.handler
            started = time.perf_counter()
            for event in events:
                handler(event, context)
            times[label].append((time.perf_counter() - started) / calls * 1e6)
    drift.observe = observe  # type: ignore[method-assign]
    direct = spent[0] / (rounds * calls) * 1e6 - overhead
    diff = [a - b for a, b in zip(times["with"], times["without"])]
    aa = [a - b for a, b in zip(times["twin"], times["without"])]
    without_us = statistics.median(times["without"])
    return {
        "model": with_drift.model.name, "features": sum(len(s.names) for s in drift._inputs),
        "outputs": [o.kind for o in drift._outputs], "every_n": n, "stride": drift._stride,
        "windows": drift.windows - windows, "with_us": statistics.median(times["with"]), "without_us": without_us,
        "diff_us": statistics.mean(diff), "diff_ci": _interval(diff), "aa_us": statistics.mean(aa),
        "aa_ci": _interval(aa), "direct_us": direct, "direct_ratio": direct / without_us,
        "rounds": rounds, "calls": calls,
    }


def timeit_loop(fn: Any, n: int = 20000) -> float:
    """Microseconds per call of fn(None, None, None)."""
    started = time.perf_counter()
    for _ in range(n):
        fn(None, None, None)
    return (time.perf_counter() - started) / n * 1e6


def cold_pieces(folder: Path, runs: int = 9) -> dict[str, float]:
    """Import of functions.drift after numpy (fresh process each), and building the monitor."""
    code = ("import time, numpy, functions.series, functions.manifest; t = time.perf_counter(); "
            "import functions.drift; print((time.perf_counter() - t) * 1000)")
    with tempfile.TemporaryDirectory(prefix="bench-drift-pyc-") as cache:  # byte code cached, as in the image
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                        cwd=REPO_ROOT, check=True).stdout.split()[-1]) for _ in range(runs + 1)][1:]
    from functions.drift import Drift
    from functions.model import load_model

    model = load_model(str(folder))
    builds = []
    for _ in range(runs):
        started = time.perf_counter()
        Drift.for_model(model, lambda docs: None)
        builds.append((time.perf_counter() - started) * 1000)
    return {"import_ms": statistics.median(imports), "build_ms": statistics.median(builds)}


def base_ref() -> str:
    """The commit before functions/drift.py was added (HEAD while it is not committed yet)."""
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%h", "--", "functions/drift.py"],
                           cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    return f"{added[-1]}^" if added else "HEAD"


def cold_ab(folder: Path, runs: int, base_ref: str = "HEAD") -> dict[str, Any]:
    """Spawn → first answer with `functions/` of `base_ref` (git archive, before the monitor) and of
    the working tree, alternating, through bench/coldchild.py's handler mode (no `site`, byte code
    cached in a private prefix as in the image). Same model folder for both: the base handler ignores
    the manifest fields it does not know."""
    from bench.coldstart import _spawn, child_path
    from bench.events import make_event

    manifest = json.loads((folder / "manifest.json").read_text())
    name, rows = _rows(manifest, 1)
    with tempfile.TemporaryDirectory(prefix="bench-drift-cold-") as tmp:
        work, base = Path(tmp) / "work", Path(tmp) / "base"
        work.mkdir()
        base.mkdir()
        archive = subprocess.run(["git", "archive", base_ref, "functions"], cwd=REPO_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        (work / "event.json").write_text(json.dumps(make_event("v2-json", manifest["name"], rows, name)))
        common = {**os.environ, "MODEL_PATH": str(folder), "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pyc"),
                  "POWERTOOLS_METRICS_NAMESPACE": "bench", "AWS_REGION": "us-east-1"}
        common.pop("PYTHONDONTWRITEBYTECODE", None)
        envs = {"before": {**common, "PYTHONPATH": os.pathsep.join([str(base), child_path()])},
                "after": {**common, "PYTHONPATH": child_path()}}
        samples: dict[str, list[float]] = {k: [] for k in envs}
        for label, env in envs.items():  # warm-up: byte code, page cache
            _spawn("handler", work, env, REPO_ROOT)
        for i in range(runs):
            for label in (["before", "after"] if i % 2 == 0 else ["after", "before"]):
                result = _spawn("handler", work, envs[label], REPO_ROOT)
                if "error" in result:
                    raise SystemExit(result["error"])
                samples[label].append(result["spawn_to_result_ns"] / 1e6)
    paired = [a - b for a, b in zip(samples["after"], samples["before"])]
    return {"before_ms": statistics.median(samples["before"]), "after_ms": statistics.median(samples["after"]),
            "diff_ms": statistics.median(paired), "runs": runs, "base": base_ref}


def markdown(results: list[dict[str, Any]], cold: dict[str, dict[str, float]], cold_ab_results: dict[str, Any],
             command: str) -> str:
    lines = [
        f"Command: `{command}` (bench/drift.py). In one process, three handlers over the same model: with the "
        "monitor, without it, and a second one without it (the A/A noise floor of the machine, which is shared); "
        "rounds of one check interval (DRIFT_EVERY_N requests: each round pays one window), the order rotating, "
        "v2 JSON body, batch 1, a new row per call, after a warm-up interval (the monitor then samples one request "
        "in `stride`). Direct cost: the time spent in the monitor's `observe` (and the windows it closes) inside "
        "those rounds, timed in place, per request. Side by side: the mean paired difference per round, with a 95% "
        "bootstrap interval.",
        "",
        "| model | monitored | stride | handler without (us) | with (us) | direct cost (us) | direct / handler "
        "| side by side (us) | A/A (us) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['features']} features, outputs {', '.join(r['outputs']) or '-'} | {r['stride']} | "
            f"{r['without_us']:.1f} | {r['with_us']:.1f} | {r['direct_us']:.2f} | {r['direct_ratio']:.1%} | "
            f"{r['diff_us']:+.2f} [{r['diff_ci'][0]:+.2f}, {r['diff_ci'][1]:+.2f}] | "
            f"{r['aa_us']:+.2f} [{r['aa_ci'][0]:+.2f}, {r['aa_ci'][1]:+.2f}] |")
    for model, ab in cold_ab_results.items():
        lines += ["", f"Cold start, {model}: spawn to first answer (bench/coldchild.py handler mode, {ab['runs']} runs "
                      f"each, alternating, medians): functions/ of {ab['base']} (before the monitor) {ab['before_ms']:.0f} ms, "
                      f"with the monitor {ab['after_ms']:.0f} ms, paired difference {ab['diff_ms']:+.1f} ms."]
    lines += ["", "Cold start pieces (medians): " + "; ".join(
        f"{m}: import functions.drift {c['import_ms']:.2f} ms (fresh process, after numpy, byte code cached as "
        f"in the image), building the monitor {c['build_ms']:.3f} ms" for m, c in cold.items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=None, help="calls per round (default: DRIFT_EVERY_N, one window)")
    p.add_argument("--models", default="iris,wide", help="iris, wide, or model folders, comma-separated")
    p.add_argument("--cold-runs", type=int, default=20, help="cold starts per side of the A/B (0: skip)")
    args = p.parse_args(argv)
    folders = {"iris": IRIS, "wide": WIDE}
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    if "wide" in wanted:
        quiet = io.StringIO()
        stdout, sys.stdout = sys.stdout, quiet
        try:
            build_wide()
        finally:
            sys.stdout = stdout
    real = sys.stdout
    results, cold = [], {}
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            for model in wanted:
                folder = folders.get(model) or Path(model)  # a name above, or a model folder
                results.append(per_request(folder, args.rounds, args.calls))
                cold[results[-1]["model"]] = cold_pieces(folder)
        finally:
            sys.stdout = real
    cold_ab_results = {"iris": cold_ab(IRIS, args.cold_runs, base_ref())} if args.cold_runs and "iris" in wanted else {}
    command = "python -m bench.drift" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    print(markdown(results, cold, cold_ab_results, command.strip()))


if __name__ == "__main__":
    main()
