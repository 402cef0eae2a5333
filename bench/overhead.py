"""Section 1: handler overhead at batch 1, in-process, against bare `session.run`.

Run per model in a child process (the handler reads ``MODEL_PATH`` once, at import). In the
child, for each body form, handler calls and bare ``session.run`` calls alternate (the order
flips every round), so the machine's drift hits both alike. The bare call uses the handler's
own `InferenceSession` when one can be found in the handler module's state (same options, same
threads); otherwise a session built the way the handler is supposed to build it.

Afterwards each body form is run under cProfile, and the functions with the most own time are
kept for the report: that is where the overhead goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_overhead"]


# --------------------------------------------------------------------------- parent side

# Steps of the real handler that can be cut out one at a time to price them (see _ablations).
# Each is `label=ClassName.method`: the first reachable instance of that class gets a no-op.
ABLATIONS = {
    "real": "EMF line write (RequestMetrics.emit)=RequestMetrics.emit;"
            "metrics step (Service._emit: values dict + EMF line)=Service._emit;"
            "drift monitor (Drift.observe)=Drift.observe",
    "stub": "",
}


def run_overhead(model_dirs: dict[str, Path], kinds: dict[str, list[str]], pairs: dict[str, int],
                 profile_calls: dict[str, int], which: str, ablate_pairs: dict[str, int] | None = None,
                 log=print, originals: dict[str, Path] | None = None) -> dict[str, Any]:
    """Spawn one child per model; return {model: child result}. `originals`: the model's original
    (unconverted) file, timed as a default session in the same rotation."""
    from bench.target import REPO_ROOT

    results: dict[str, Any] = {}
    for model, folder in model_dirs.items():
        with tempfile.TemporaryDirectory(prefix="bench-ovh-") as tmp:
            out = Path(tmp) / "result.json"
            stdout_path = Path(tmp) / "stdout.txt"
            env = {**os.environ, "MODEL_PATH": str(folder), "PYTHONPATH": str(REPO_ROOT),
                   "POWERTOOLS_METRICS_NAMESPACE": "bench", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1"}
            if originals and model in originals:
                env["BENCH_ORIGINAL_MODEL"] = str(originals[model])
            cmd = [sys.executable, "-m", "bench.overhead", "--handler", which, "--out", str(out),
                   "--kinds", ",".join(kinds[model]), "--pairs", str(pairs[model]),
                   "--profile-calls", str(profile_calls[model])]
            if which == "real":
                cmd.append("--lean")
            if ablate_pairs and ablate_pairs.get(model) and ABLATIONS[which]:
                cmd += ["--ablate", ABLATIONS[which], "--ablate-pairs", str(ablate_pairs[model])]
            log(f"  overhead {model}: {' '.join(kinds[model])}, {pairs[model]} pairs each ...")
            with open(stdout_path, "wb") as so:
                proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=so,
                                      stderr=subprocess.PIPE, timeout=900)
            if proc.returncode != 0 or not out.exists():
                tail = proc.stderr.decode(errors="replace")[-3000:]
                results[model] = {"error": f"child exited {proc.returncode}: {tail}"}
                continue
            res = json.loads(out.read_text())
            calls = res.get("handler_calls", 0)
            res["stdout_bytes_per_call"] = stdout_path.stat().st_size / calls if calls else 0
            res["stdout_sample"] = stdout_path.read_bytes()[:600].decode(errors="replace")
            res["stderr_tail"] = proc.stderr.decode(errors="replace")[-600:]
            results[model] = res
    return results


# --------------------------------------------------------------------------- child side

def _walk(root: Any, max_depth: int = 5):
    """Objects reachable from `root` through attributes, containers and bound methods.

    Modules outside the handler's own package are not entered. Breadth-first, each object once.
    """
    seen: set[int] = set()
    frontier = [root]
    for _ in range(max_depth):
        nxt = []
        for obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            yield obj
            children: list[Any] = []
            if isinstance(obj, dict):
                children = list(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                children = list(obj)
            elif isinstance(obj, type(sys)):
                if obj is not root and not obj.__name__.startswith(("functions", "bench")):
                    continue
                children = list(vars(obj).values())
            elif hasattr(obj, "__self__") and not isinstance(obj, type(sys)):
                children = [obj.__self__]  # bound method: the instance behind it
            elif hasattr(obj, "__dict__") and not isinstance(obj, type) and not callable(obj):
                children = list(vars(obj).values())
            if not isinstance(obj, type) and not callable(obj):
                for klass in type(obj).__mro__:  # slotted objects (dataclass(slots=True) and co.)
                    slots = klass.__dict__.get("__slots__", ())
                    for slot in (slots,) if isinstance(slots, str) else (slots or ()):
                        if slot not in ("__dict__", "__weakref__"):
                            children.append(getattr(obj, slot, None))
            # functools.cache'd loaders keep their value out of sight; ask them if argument-free
            if callable(obj) and hasattr(obj, "cache_info") and obj.cache_info().currsize == 1:
                try:
                    children.append(obj())
                except TypeError:
                    pass
            nxt.extend(children)
        frontier = nxt


def _find_session(root: Any) -> Any:
    """The first onnxruntime InferenceSession reachable from `root`, or None."""
    import onnxruntime as ort

    for obj in _walk(root):
        if isinstance(obj, ort.InferenceSession):
            return obj
    return None


def _profile(handler, event, ctx_factory, calls: int, top: int = 14) -> list[dict[str, Any]]:
    contexts = [ctx_factory() for _ in range(calls)]
    prof = cProfile.Profile()
    prof.enable()
    for ctx in contexts:
        handler(event, ctx)
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"func": f"{_short(file)}:{line}({func})", "ncalls_per_req": nc / calls,
                     "own_us_per_req": tt / calls * 1e6, "cum_us_per_req": ct / calls * 1e6})
    rows.sort(key=lambda r: r["own_us_per_req"], reverse=True)
    return rows[:top]


def _short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _child(args: argparse.Namespace) -> None:
    import numpy as np
    import onnxruntime as ort

    from bench.events import FakeContext, make_event, response_output, sample_input
    from bench.target import load_handler_module

    folder = Path(os.environ["MODEL_PATH"])
    manifest = json.loads((folder / "manifest.json").read_text())
    shape = tuple(1 if d == -1 else d for d in manifest["inputs"][0]["shape"])
    x = sample_input(shape)

    t0 = time.perf_counter_ns()
    mod = load_handler_module(args.handler)
    import_ms = (time.perf_counter_ns() - t0) / 1e6
    handler = mod.handler

    # One call first: a handler may create its session lazily.
    first = make_event("v2-json", manifest["name"], x)
    t0 = time.perf_counter_ns()
    resp = handler(first, FakeContext())
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    calls = 1

    sess = _find_session(mod)
    session_source = "the handler's own session object"
    if sess is None:
        from functions.model import session_optimization_level

        so = ort.SessionOptions()
        so.graph_optimization_level = session_optimization_level(manifest)  # the level the handler would use
        sess = ort.InferenceSession(str(folder / manifest["model"]["file"]), so,
                                    providers=["CPUExecutionProvider"])
        session_source = ("a separate session (handler's session not found in module state); "
                          "the manifest's runtime optimization level; default threads")
    feeds = {"x": x}
    ref = sess.run(None, feeds)[0]
    lean = None
    if args.handler == "real" and args.lean:
        import bench.stub_app as stub_app

        lean = stub_app.make_handler(sess)  # same session: only the Python around session.run differs
    opts = sess.get_session_options()
    original = None
    if os.environ.get("BENCH_ORIGINAL_MODEL"):  # what a user gets for free: defaults, original file
        original = ort.InferenceSession(os.environ["BENCH_ORIGINAL_MODEL"], providers=["CPUExecutionProvider"])
    lean_original = None
    if original is not None:
        import bench.stub_app as stub_app

        lean_original = stub_app.make_handler(original)  # the same minimal handler, serving the original

    result: dict[str, Any] = {
        "handler": args.handler, "model": manifest["name"], "folder": str(folder),
        "import_ms": import_ms, "first_call_ms": first_ms, "first_status": resp.get("statusCode"),
        "session_source": session_source,
        "session_threads": {"intra_op": opts.intra_op_num_threads,
                            "inter_op": opts.inter_op_num_threads,
                            "graph_optimization_level": str(opts.graph_optimization_level)},
        "kinds": {},
    }
    for kind in args.kinds.split(","):
        event = make_event(kind, manifest["name"], x)
        body_len = len(event["body"])
        entry: dict[str, Any] = {"body_bytes": body_len}
        resp = handler(event, FakeContext())
        calls += 1
        entry["status"] = resp.get("statusCode")
        if resp.get("statusCode") != 200:
            entry["error"] = f"status {resp.get('statusCode')}: {str(resp.get('body'))[:300]}"
            result["kinds"][kind] = entry
            continue
        got = response_output(resp)
        entry["output_matches_bare"] = bool(
            got is not None and got.size == ref.size
            and np.allclose(got.reshape(ref.shape), ref, rtol=1e-3, atol=1e-3))
        if lean is not None:
            lean_resp = lean(event, FakeContext())
            if lean_resp.get("statusCode") != 200:
                entry["lean_error"] = str(lean_resp.get("body"))[:300]
        warm = max(3, min(50, args.pairs // 10))
        for _ in range(warm):
            handler(event, FakeContext())
            sess.run(None, feeds)
            if original is not None:
                original.run(None, feeds)
                lean_original(event, FakeContext())  # type: ignore[misc]
            if lean is not None:
                lean(event, FakeContext())
        calls += warm
        gc.collect()
        # Arms timed in rotation each round: bare session.run, the handler, and (when the real
        # handler is under test) the bench's minimal handler on the same session, as a floor
        # for what any handler of this protocol costs.
        arms: list[tuple[str, Any]] = [("bare", None), ("handler", handler)]
        if lean is not None:
            arms.append(("lean", lean))
        if original is not None:
            arms += [("orig", None), ("lean_orig", lean_original)]
        times: dict[str, list[int]] = {name: [] for name, _ in arms}
        pc = time.perf_counter_ns
        n_arms = len(arms)
        for i in range(args.pairs):
            k = i % n_arms
            for name, fn in arms[k:] + arms[:k]:
                if name == "orig":
                    t0 = pc(); original.run(None, feeds); t1 = pc()  # type: ignore[union-attr]
                elif fn is None:
                    t0 = pc(); sess.run(None, feeds); t1 = pc()
                else:
                    ctx = FakeContext()
                    t0 = pc(); fn(event, ctx); t1 = pc()
                times[name].append(t1 - t0)
        bare_ns, hand_ns = times["bare"], times["handler"]
        if lean is not None:
            entry["lean_ns"] = times["lean"]
        if original is not None:
            entry["orig_ns"] = times["orig"]
            entry["lean_orig_ns"] = times["lean_orig"]
        calls += args.pairs
        entry["bare_ns"] = bare_ns
        entry["handler_ns"] = hand_ns
        if args.profile_calls:
            entry["profile"] = _profile(handler, event, FakeContext, args.profile_calls)
            calls += args.profile_calls
        result["kinds"][kind] = entry
    if args.ablate:
        event = make_event(args.ablate_kind, manifest["name"], x)
        result["ablations"] = _ablations(mod, handler, event, args.ablate, args.ablate_pairs)
        calls += 2 * args.ablate_pairs * len(result["ablations"])
    result["handler_calls"] = calls
    Path(args.out).write_text(json.dumps(result))


def _resolve(root: Any, target: str) -> tuple[Any, str] | None:
    """`ClassName.method` → (the first reachable instance of a class of that name, method)."""
    cls_name, attr = target.rsplit(".", 1)
    for obj in _walk(root):
        if type(obj).__name__ == cls_name and hasattr(obj, attr) and not isinstance(obj, type):
            return obj, attr
    return None


def _ablations(mod: Any, handler: Any, event: dict[str, Any], spec: str,
               pairs: int) -> list[dict[str, Any]]:
    """Cost of one step = handler time minus handler time with that step replaced by a no-op.

    Full and ablated calls alternate, so the difference is paired. The handler's source is not
    touched: the attribute is swapped in this process only and restored afterwards.
    """
    from bench.events import FakeContext

    out = []
    pc = time.perf_counter_ns
    for item in spec.split(";"):
        label, dotted = item.split("=", 1)
        found = _resolve([mod, handler], dotted)
        if found is None:
            out.append({"step": label, "target": dotted, "error": "not found in the handler"})
            continue
        obj, attr = found
        original = getattr(obj, attr)
        had_own = attr in getattr(obj, "__dict__", {})
        noop = lambda *a, **k: None  # noqa: E731
        full_ns: list[int] = []
        cut_ns: list[int] = []
        try:
            for i in range(pairs):
                for variant in ((0, 1) if i % 2 == 0 else (1, 0)):
                    setattr(obj, attr, noop if variant else original)
                    ctx = FakeContext()
                    t0 = pc()
                    resp = handler(event, ctx)
                    (cut_ns if variant else full_ns).append(pc() - t0)
            status = resp.get("statusCode")
        finally:
            if had_own:
                setattr(obj, attr, original)
            else:
                delattr(obj, attr)
        diffs = sorted(f - c for f, c in zip(full_ns, cut_ns))
        out.append({"step": label, "target": dotted, "status_when_cut": status,
                    "cost_us": diffs[len(diffs) // 2] / 1e3,
                    "full_us": sorted(full_ns)[len(full_ns) // 2] / 1e3,
                    "cut_us": sorted(cut_ns)[len(cut_ns) // 2] / 1e3})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--handler", choices=["real", "stub"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--kinds", required=True)
    p.add_argument("--pairs", type=int, required=True)
    p.add_argument("--profile-calls", type=int, default=0)
    p.add_argument("--ablate", default="", help="label=Class.method;... (no-op'd one at a time)")
    p.add_argument("--ablate-kind", default="v2-json")
    p.add_argument("--lean", action="store_true", help="also time bench/stub_app.py's handler")
    p.add_argument("--ablate-pairs", type=int, default=0)
    _child(p.parse_args())


if __name__ == "__main__":
    main()
