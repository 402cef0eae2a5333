"""Section 2: cold start, fresh process → first prediction, timed from the parent.

Each sample spawns ``python -P bench/coldchild.py MODE`` and stops the clock when the child's
``BENCH_RESULT`` line arrives (interpreter teardown is not counted). Modes alternate within
each round, the order rotating every round, so drift hits all alike. One unmeasured warm-up
run per mode first (byte-code caches, page cache): these are warm-file-cache cold starts, as
on a Lambda worker that already has the image.

Columns: ``floor`` (python + import onnxruntime + session with runtime optimizations off on
the offline-optimized file + one run), ``handler`` (functions.app, or the stub), ``naive``
(bench/naive_app.py, orientation only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_coldstart"]

CHILD = Path(__file__).resolve().parent / "coldchild.py"


def _spawn(mode: str, work: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    wall0 = time.time()
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen([sys.executable, "-P", str(CHILD), mode, str(work)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    result: dict[str, Any] | None = None
    noise = 0
    for line in proc.stdout:
        if line.startswith(b"BENCH_RESULT "):
            t1 = time.perf_counter_ns()
            result = json.loads(line[len(b"BENCH_RESULT "):])
            result["spawn_to_result_ns"] = t1 - t0
            result["interp_start_ms"] = (result.pop("wall_start") - wall0) * 1e3
            break
        noise += len(line)
    rest, err = proc.communicate(timeout=120)
    if result is None:
        return {"error": f"{mode}: exit {proc.returncode}: {err.decode(errors='replace')[-1500:]}"}
    result["stdout_bytes"] = noise + len(rest)
    return result


def run_coldstart(model_dirs: dict[str, Path], runs: int, which: str, with_naive: bool = True,
                  log=print) -> dict[str, Any]:
    import numpy as np

    from bench.events import make_event, sample_input
    from bench.target import REPO_ROOT

    modes = ["floor", "handler" if which == "real" else "stub"] + (["naive"] if with_naive else [])
    out: dict[str, Any] = {}
    for model, folder in model_dirs.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        shape = tuple(1 if d == -1 else d for d in manifest["inputs"][0]["shape"])
        x = sample_input(shape)
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
            work = Path(tmp)
            (work / "x.bin").write_bytes(np.ascontiguousarray(x, "<f4").tobytes())
            (work / "x.shape").write_text(json.dumps(list(shape)))
            (work / "event.json").write_text(json.dumps(make_event("v2-json", manifest["name"], x)))
            env = {**os.environ, "MODEL_PATH": str(folder), "PYTHONPATH": str(REPO_ROOT),
                   "POWERTOOLS_METRICS_NAMESPACE": "bench", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "bench-fn",
                   "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            log(f"  cold start {model}: {', '.join(modes)} x {runs} (+1 warm-up each) ...")
            samples: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
            errors: dict[str, str] = {}
            for m in modes:  # warm-up: byte-code and page caches
                r = _spawn(m, work, env, REPO_ROOT)
                if "error" in r:
                    errors[m] = r["error"]
            live = [m for m in modes if m not in errors]
            for i in range(runs):
                k = i % len(live) if live else 0
                for m in live[k:] + live[:k]:
                    r = _spawn(m, work, env, REPO_ROOT)
                    if "error" in r:
                        errors[m] = r["error"]
                    else:
                        samples[m].append(r)
            out[model] = {"modes": modes, "samples": samples, "errors": errors,
                          "folder": str(folder), "event": "v2-json, batch 1"}
    return out
