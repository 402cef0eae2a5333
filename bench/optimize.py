"""What offline optimization buys at cold start: session creation time and size, before and after.

    .venv/bin/python -m bench.optimize                    # ResNet-18-size CNN, 15 rounds
    .venv/bin/python -m bench.optimize --model mlp --rounds 30

The raw model comes from `bench/models.py` (`bench/.models/<name>/model.onnx`, BatchNorm kept).
The converter under test, `deployer.model.convert`, turns it into the artifact the handler
loads (EXTENDED graph optimizations baked in, parity checked). Three ways to open a model are
then timed the way the handler opens one (`functions.model`: a path, CPU provider):

- ``original``   the raw file, runtime graph optimizations on (ORT_ENABLE_ALL, the default);
- ``optimized``  the converter's `model.onnx`, runtime optimizations off (ORT_DISABLE_ALL),
                 as `manifest.runtime.optimized = "extended"` tells the handler;
- ``optimized+external``  the same graph with its weights in `model.onnx.data` beside it
                 (onnxruntime memory-maps external data instead of copying it out of the
                 protobuf), runtime optimizations off.

Session creation is measured in one process, the variants in alternation round by round (the
machine is shared and drifts, so only ratios within a run mean something); medians, p90 and the
paired ratio against ``original`` are reported. Peak memory (VmHWM) comes from one fresh
child process per variant that imports onnxruntime and creates one session. The output is a
markdown table and the command that produced it.
"""

from __future__ import annotations

import argparse
import json
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

from bench.models import ensure_models  # noqa: E402
from bench.stats import fmt_ms, fmt_ratio, median, p90  # noqa: E402

__all__ = ["main", "measure"]

_CHILD = """
import json, sys, time
import onnxruntime as ort

def hwm_kb():  # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM:")).split()[1])

so = ort.SessionOptions()
so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, sys.argv[2])
base = hwm_kb()
t = time.perf_counter()
ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
ms = (time.perf_counter() - t) * 1000
print(json.dumps({"peak_kb": hwm_kb(), "base_kb": base, "ms": ms}))
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _variants(raw: Path, work: Path) -> list[dict[str, Any]]:
    import onnx

    from deployer.model import convert

    _log(f"converting {raw} with deployer.model.convert ...")
    result = convert(raw, out=work / "optimized", name=raw.parent.name, progress=lambda m: _log(f"  {m}"))
    optimized = result.model_path
    external = work / "external" / "model.onnx"
    external.parent.mkdir()
    model = onnx.load(str(optimized))
    onnx.save(model, str(external), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=1024)
    return [
        {"name": "original", "path": raw, "level": "ORT_ENABLE_ALL", "files": [raw]},
        {"name": "optimized", "path": optimized, "level": "ORT_DISABLE_ALL", "files": [optimized],
         "parity": result.manifest["parity"]},
        {"name": "optimized+external", "path": external, "level": "ORT_DISABLE_ALL",
         "files": [external, external.parent / "model.onnx.data"]},
    ]


def measure(variants: list[dict[str, Any]], rounds: int) -> None:
    """Fill each variant's `session_ms` (per round, alternating) and `peak_mb` in place."""
    import onnxruntime as ort

    for v in variants:
        v["session_ms"] = []
    for i in range(rounds + 1):  # round 0 warms the page cache and onnxruntime's lazy init
        for v in variants:
            so = ort.SessionOptions()
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, v["level"])
            started = time.perf_counter()
            ort.InferenceSession(str(v["path"]), so, providers=["CPUExecutionProvider"])
            if i:
                v["session_ms"].append((time.perf_counter() - started) * 1000.0)
    for v in variants:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(v["path"]), v["level"]], capture_output=True,
                             text=True, check=True)
        child = json.loads(out.stdout.strip().splitlines()[-1])
        v["peak_mb"] = child["peak_kb"] / 1024.0
        v["added_mb"] = (child["peak_kb"] - child["base_kb"]) / 1024.0


def _table(variants: list[dict[str, Any]], command: str, model: str) -> str:
    import onnxruntime as ort

    base = variants[0]
    lines = [
        f"### Offline optimization: session creation of `{model}`",
        "",
        f"`{command}` — onnxruntime {ort.__version__}, Python {platform.python_version()}, "
        f"{len(base['session_ms'])} alternating rounds, medians in ms.",
        "",
        "| variant | graph optimizations at load | size | session creation median | p90 | vs original "
        "(paired) | peak RSS of a fresh process |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        size = sum(p.stat().st_size for p in v["files"])
        paired = median([b / a for a, b in zip(base["session_ms"], v["session_ms"]) if a > 0])
        lines.append(
            f"| {v['name']} | {v['level'].removeprefix('ORT_').lower()} | {size / 1e6:.1f} MB | "
            f"{fmt_ms(median(v['session_ms']))} | {fmt_ms(p90(v['session_ms']))} | {fmt_ratio(paired)} | "
            f"{v['peak_mb']:.0f} MB |")
    parity = next((v["parity"] for v in variants if "parity" in v), None)
    if parity:
        errors = ", ".join(f"{k} {e:.2g}" for k, e in parity["max_abs_error"].items())
        lines += ["", f"Parity of the optimized file against the original on {parity['rows']} {parity['inputs']} "
                      f"rows: max abs error {errors}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.optimize", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=("resnet18", "mlp"))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    command = "python -m bench.optimize " + shlex.join(argv if argv is not None else sys.argv[1:])
    models = ensure_models((args.model,), log=_log)
    raw = models[args.model].raw / "model.onnx"
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as tmp:
        variants = _variants(raw, Path(tmp))
        _log(f"timing session creation, {args.rounds} rounds ...")
        measure(variants, args.rounds)
        print(_table(variants, command.strip(), args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
