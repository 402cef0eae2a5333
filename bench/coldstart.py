"""Section 2: cold start, fresh process → first prediction, timed from the parent.

Each sample spawns ``python -P bench/coldchild.py MODE`` and stops the clock when the child's
``BENCH_RESULT`` line arrives (interpreter teardown is not counted). Modes alternate within
each round, the order rotating every round, so drift hits all alike. One unmeasured warm-up
run per mode first (byte-code caches, page cache): these are warm-file-cache cold starts, as
on a Lambda worker that already has the image.

Children run with ``python -S``: the dev venv's editable-install ``.pth`` hook costs ~30 ms
per process, which a Lambda image does not have and which would pad both columns alike.

Columns: ``floor`` (python + import onnxruntime + session on the offline-optimized file at the
runtime level its manifest names, as the handler opens it + one run), ``handler``
(functions.app, or the stub), ``sample`` (bench/aws_sample_app.py: the AWS-sample-style peer),
``naive`` (bench/naive_app.py, orientation only), and ``handler-sha256`` (the handler with
MODEL_VERIFY=sha256: the full run-time hash instead of the default size check, to price it).
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

__all__ = ["run_coldstart", "run_import_ladder", "handler_imports", "child_path"]

CHILD = Path(__file__).resolve().parent / "coldchild.py"


def _spawn(mode: str, work: Path, env: dict[str, str], cwd: Path,
           extra: tuple[str, ...] = ()) -> dict[str, Any]:
    wall0 = time.time()
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen([sys.executable, "-S", "-P", str(CHILD), mode, str(work), *extra],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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


# The first request's body form. The ResNet's is binary: a 3 MB JSON body would charge ~20 ms
# of decoding (priced in sections 1 and 4) to the handler that the floor, fed raw bytes, never
# pays; the MLP's JSON body costs ~0.05 ms to decode.
COLD_EVENT = {"mlp": "v2-json", "resnet18": "v2-binary", "cnn4": "v2-binary"}


def child_path() -> str:
    """PYTHONPATH of a child run without `site`: the repo root, then site-packages."""
    import sysconfig

    from bench.target import REPO_ROOT

    paths = [str(REPO_ROOT)]
    for key in ("purelib", "platlib"):
        p = sysconfig.get_paths()[key]
        if p not in paths:
            paths.append(p)
    return os.pathsep.join(paths)


def handler_imports() -> list[str]:
    """The `functions.*` modules functions/app.py imports at module level (read from its source, not
    imported); imports inside functions (loaded on first use, not at cold start) are left out."""
    import ast

    from bench.target import REPO_ROOT

    src = REPO_ROOT / "functions" / "app.py"
    if not src.exists():
        return []
    mods: list[str] = []
    for node in ast.parse(src.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "functions":
                mods += [f"functions.{a.name}" for a in node.names]
            elif node.module.startswith("functions."):
                mods.append(node.module)
        elif isinstance(node, ast.Import):
            mods += [a.name for a in node.names if a.name.startswith("functions.")]
    return list(dict.fromkeys(mods))


def run_import_ladder(runs: int, log=print) -> dict[str, Any]:
    """Fresh-process cost of each of the handler's dependencies, in import order.

    One child imports the steps one after another and times each; a step's cost is therefore
    what it adds given the steps before it (numpy comes with onnxruntime, and so on). The
    median over `runs` fresh processes is reported per step.
    """
    from bench.target import REPO_ROOT

    own = handler_imports()
    steps: list[tuple[str, str]] = [
        ("onnxruntime (with numpy)", "onnxruntime"),
        ("orjson", "orjson"),
    ]
    if own:
        steps.append(("the handler's own modules (" + ", ".join(m.split(".", 1)[1] for m in own)
                      + "; not functions.app itself, which loads the model)", ",".join(own)))
    # not on the handler's cold path any more (functions/logs.py, functions/metrics.py): priced
    # after everything above, for the record of what leaving them out saves
    steps += [("aws_lambda_powertools.logging (Logger; reference, not imported by the handler)",
               "aws_lambda_powertools.logging"),
              ("aws_lambda_powertools.metrics (Metrics; reference, not imported by the handler)",
               "aws_lambda_powertools.metrics")]
    env = {**os.environ, "PYTHONPATH": child_path()}
    env.pop("MODEL_PATH", None)
    spec = ";".join(mods for _, mods in steps)
    log(f"  import ladder: {len(steps)} steps x {runs} fresh processes ...")
    per_step: dict[str, list[float]] = {"interpreter": [], **{label: [] for label, _ in steps}}
    totals: list[float] = []
    error = ""
    with tempfile.TemporaryDirectory(prefix="bench-imp-") as tmp:
        for i in range(runs + 1):
            r = _spawn("ladder", Path(tmp), env, REPO_ROOT, (spec,))
            if "error" in r:
                error = r["error"]
                break
            if i == 0:
                continue  # warm-up
            totals.append(r["spawn_to_result_ns"] / 1e6)
            per_step["interpreter"].append(r["steps"][0][1])
            for (label, _), (_, ms) in zip(steps, r["steps"][1:]):
                per_step[label].append(ms)
    return {"steps": list(per_step), "samples": per_step, "totals": totals, "error": error}


def run_coldstart(model_dirs: dict[str, Path], runs: int, which: str, with_naive: bool = True,
                  with_sha: bool = True, log=print) -> dict[str, Any]:
    import numpy as np

    from bench.events import make_event, sample_input
    from bench.target import REPO_ROOT

    modes = ["floor", "handler" if which == "real" else "stub", "sample"] + (["naive"] if with_naive else [])
    if which == "real" and with_sha:
        modes.append("handler-sha256")
    out: dict[str, Any] = {}
    for model, folder in model_dirs.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        shape = tuple(1 if d == -1 else d for d in manifest["inputs"][0]["shape"])
        x = sample_input(shape)
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
            work = Path(tmp)
            (work / "x.bin").write_bytes(np.ascontiguousarray(x, "<f4").tobytes())
            (work / "x.shape").write_text(json.dumps(list(shape)))
            kind = COLD_EVENT.get(model, "v2-json")
            (work / "event.json").write_text(json.dumps(make_event(kind, manifest["name"], x)))
            env = {**os.environ, "MODEL_PATH": str(folder), "PYTHONPATH": child_path(),
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
                          "folder": str(folder), "event": f"{kind}, batch 1"}
    return out
