"""Run the benchmark suite and write bench/RESULTS.md.

    .venv/bin/python -m bench              # full run, ~5-8 minutes on 2 vCPUs
    .venv/bin/python -m bench --quick      # fewer repeats, under ~2 minutes
    .venv/bin/python -m bench --only cold,parse --models mlp

Everything runs in one process tree, each comparison side by side in alternation: the machine
is shared and drifts, so only ratios within one run mean anything. Sections:

1. ``overhead``  handler vs bare ``session.run``, batch 1, in-process (bench/overhead.py)
2. ``cold``      fresh process → first prediction: floor vs handler vs naive (bench/coldstart.py)
3. ``local``     the local runtime endpoint, warm and first request; ``sam local invoke``
4. ``parse``     decoding a 150k-float body: json vs orjson vs base64 vs binary (bench/parse.py)
5. ``optimize``  session creation of the ResNet-18: original vs offline-optimized vs
                 memory-mapped external data (bench/optimize.py, through deployer.convert)
6. ``drift``     the drift monitor's cost per request and at cold start (bench/drift.py)
7. ``deploy``    push on the local target: first, unchanged, changed (bench/deploy.py)

``local`` also runs the local loop against SAM (``deployer invoke`` vs ``sam local invoke``, a warm
``deployer serve`` request vs ``sam local start-api``). A run of some sections (``--only``) merges
into the existing report: the sections and target rows it did not run are kept (bench/loopreport.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

__all__ = ["main"]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SECTIONS = ("overhead", "cold", "local", "parse", "optimize", "drift", "deploy")

def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- options

PRESETS = {
    #            overhead pairs   profile calls   ablation  cold  parse  local warm   sam
    "full": dict(pairs_mlp=2000, pairs_cnn=60, prof_mlp=1000, prof_cnn=4, ablate=3000,
                 cold_runs=20, parse_rounds=30, local_mlp=300, local_cnn=30, sam_runs=5,
                 loop_rounds=10, served_pairs=60, deploy_rounds=5),
    "quick": dict(pairs_mlp=300, pairs_cnn=8, prof_mlp=200, prof_cnn=1, ablate=500,
                  cold_runs=5, parse_rounds=8, local_mlp=50, local_cnn=5, sam_runs=1,
                  loop_rounds=3, served_pairs=15, deploy_rounds=1),
}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats (under ~2 minutes)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run, of {', '.join(SECTIONS)}")
    p.add_argument("--models", default="mlp,resnet18,cnn4", help="comma-separated: mlp, resnet18, cnn4")
    p.add_argument("--handler", choices=["auto", "real", "stub"], default="auto",
                   help="real = functions.app; stub = bench/stub_app.py; auto = real if present")
    p.add_argument("--no-naive", action="store_true", help="skip the naive cold-start column")
    p.add_argument("--sam-image", default=os.environ.get("BENCH_SAM_IMAGE"),
                   help="function image for `sam local invoke` (env BENCH_SAM_IMAGE)")
    p.add_argument("--cpus", type=int, default=None,
                   help="pin this run and all its children to the first N CPUs (Lambda gives "
                        "one vCPU below 1,769 MB of memory)")
    p.add_argument("--out", default=str(BENCH_DIR / "RESULTS.md"), help="report path")
    for key, val in PRESETS["full"].items():
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=None,
                       help=f"override (full: {val}, quick: {PRESETS['quick'][key]})")
    args = p.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    for key, val in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, val)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in args.only if s not in SECTIONS]
    if bad:
        p.error(f"unknown section(s) {bad}; choose from {SECTIONS}")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    return args


def _command_line(argv: list[str]) -> str:
    exe = Path(sys.executable)
    try:
        shown = "./" + str(exe.relative_to(REPO_ROOT)) if exe.is_relative_to(REPO_ROOT) else str(exe)
    except ValueError:
        shown = str(exe)
    # the venv's python may resolve to the base interpreter; show what the user typed
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    if sys.prefix == str(REPO_ROOT / ".venv") and venv.exists():
        shown = ".venv/bin/python"
    return " ".join([shown, "-m", "bench", *map(shlex.quote, argv)])


# --------------------------------------------------------------------------- machine facts

def _machine() -> dict[str, Any]:
    cpu, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass

    def ver(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "functions", "deployer/local")
    import hashlib

    h = hashlib.sha256()
    for path in sorted((REPO_ROOT / "functions").rglob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return {
        "nproc": affinity, "cpu_count": os.cpu_count(), "cpu": cpu,
        "simd": ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512bw") if f in flags)
                or "no AVX2",
        "mem": mem, "kernel": platform.release(), "python": platform.python_version(),
        "onnxruntime": ver("onnxruntime"), "numpy": ver("numpy"), "onnx": ver("onnx"),
        "orjson": ver("orjson"), "powertools": ver("aws-lambda-powertools"),
        "commit": commit or "unknown", "functions_hash": h.hexdigest()[:12],
        "dirty": bool(dirty), "dirty_files": dirty.splitlines()[:12] if dirty else [],
        "loadavg_start": os.getloadavg(),
        "env_flags": {k: os.environ[k] for k in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
                                                  "OMP_NUM_THREADS", "PYTHONHASHSEED")
                      if k in os.environ},
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# --------------------------------------------------------------------------- the run

def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = _parse_args(argv)
    if args.cpus:
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(allowed[: args.cpus]))  # children inherit it
    started = time.monotonic()
    from bench.models import ensure_models
    from bench.target import resolve

    which = resolve(args.handler)
    machine = _machine()
    _log(f"bench: handler={which}, sections={','.join(args.only)}, models={','.join(args.models)}"
         f"{' (quick)' if args.quick else ''}")
    models = ensure_models(tuple(args.models), log=_log)
    opt_dirs = {name: ms.optimized for name, ms in models.items()}
    res: dict[str, Any] = {"which": which, "machine": machine, "models": {
        n: {"params": ms.params, "raw": str(ms.raw), "optimized": str(ms.optimized),
            "size_mb": (ms.optimized / "model.onnx").stat().st_size / 1e6}
        for n, ms in models.items()}}
    timings: dict[str, float] = {}

    def section(name: str, fn: Callable[[], Any]) -> None:
        if name not in args.only:
            return
        _log(f"[{name}]")
        t0 = time.monotonic()
        try:
            res[name] = fn()
        except Exception as exc:  # one broken section must not lose the others
            import traceback

            res[name] = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-2000:]}
            _log(res[name]["traceback"])
        timings[name] = time.monotonic() - t0

    def do_overhead() -> Any:
        from bench.overhead import run_overhead

        kinds = {"mlp": ["v2-json", "v2-binary", "v2-b64", "v1-instances"],
                 # v1 instances on the ResNet is the v2 JSON case again (3 MB of numbers);
                 # its pairs go to the three forms that have targets
                 "resnet18": ["v2-json", "v2-binary", "v2-b64"],
                 # the small CNN: served against a default session on its original file (issue 12)
                 "cnn4": ["v2-binary", "v2-b64"]}
        originals = {n: ms.raw / "model.onnx" for n, ms in models.items() if n != "mlp"}
        return run_overhead(
            opt_dirs, kinds,
            {"mlp": args.pairs_mlp, "resnet18": args.pairs_cnn, "cnn4": args.pairs_cnn * 5},
            {"mlp": args.prof_mlp, "resnet18": args.prof_cnn, "cnn4": args.prof_cnn * 5}, which,
            ablate_pairs={"mlp": args.ablate}, log=_log, originals=originals)

    def do_cold() -> Any:
        from bench.coldstart import run_coldstart, run_import_ladder

        out = run_coldstart(opt_dirs, args.cold_runs, which, with_naive=not args.no_naive, log=_log)
        out["_imports"] = run_import_ladder(max(4, args.cold_runs // 2), log=_log)
        allowed = sorted(os.sched_getaffinity(0))
        if not args.quick and len(allowed) > 1:
            # Lambda gives one vCPU below 1,769 MB: the same comparison pinned to one CPU
            _log("  cold start again, pinned to 1 CPU ...")
            os.sched_setaffinity(0, {allowed[0]})
            try:
                out["_one_cpu"] = run_coldstart(opt_dirs, max(8, args.cold_runs // 2), which,
                                                with_naive=False, log=_log)
            finally:
                os.sched_setaffinity(0, set(allowed))
        return out

    def do_local() -> Any:
        from bench.local_invoke import run_local, run_loop, run_sam

        kinds = {"mlp": "v2-json", "resnet18": "v2-binary"}
        served = {m: d for m, d in opt_dirs.items() if m in kinds}  # the small CNN adds nothing here
        local = run_local(served, {m: kinds[m] for m in served},
                          {"mlp": args.local_mlp, "resnet18": args.local_cnn}, log=_log)
        sam = run_sam(served, args.sam_image, args.sam_runs, log=_log)
        loop = run_loop(args.loop_rounds, args.served_pairs, log=_log)
        return {"local": local, "sam": sam, "loop": loop}

    def do_parse() -> Any:
        from bench.parse import run_parse

        return run_parse(args.parse_rounds, log=_log)

    section("parse", do_parse)        # first: the overhead verdicts quote its figures
    section("overhead", do_overhead)
    section("cold", do_cold)
    section("local", do_local)

    def do_optimize() -> Any:
        rounds = "6" if args.quick else "15"
        done = subprocess.run([sys.executable, "-m", "bench.optimize", "--model", "resnet18", "--rounds", rounds],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        return {"markdown": done.stdout.strip()}

    if "resnet18" in args.models:
        section("optimize", do_optimize)

    def do_drift() -> Any:
        extra = ["--rounds", "6", "--cold-runs", "6"] if args.quick else []
        done = subprocess.run([sys.executable, "-m", "bench.drift", *extra],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        return {"markdown": done.stdout.strip()}

    section("drift", do_drift)

    def do_deploy() -> Any:
        from bench.deploy import run_deploy

        return run_deploy(args.deploy_rounds, log=_log)

    section("deploy", do_deploy)

    machine["loadavg_end"] = os.getloadavg()
    res["elapsed_s"] = time.monotonic() - started
    res["section_s"] = timings
    res["command"] = _command_line(argv)
    res["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["quick"] = args.quick
    res["args"] = {k: v for k, v in vars(args).items() if k not in ("out",)}

    from bench.report import render

    out = Path(args.out)
    report = render(res)
    optimize = res.get("optimize") or {}
    if "markdown" in optimize:
        report += "\n## 5. Offline optimization (issue: model pipeline)\n\n" + optimize["markdown"].replace("### ", "") + "\n"
    drift = res.get("drift") or {}
    if "markdown" in drift:
        report += "\n## 6. Drift monitor (issue 10)\n\n" + drift["markdown"] + "\n"
    from bench.loopreport import merge, render_deploy

    lines: list[str] = []
    render_deploy(res.get("deploy"), lines.append)
    report += ("\n" + "\n".join(lines)) if lines else ""
    if out.exists():
        report = merge(out.read_text(), report)  # keep the sections this run did not measure
    out.write_text(report)
    raw = BENCH_DIR / ".models" / "last-run.json"
    raw.write_text(json.dumps(res, default=str))
    _log(f"wrote {out} (raw samples: {raw}) in {res['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
