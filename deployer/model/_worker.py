"""The checking subprocess: `python -m deployer.model._worker` (one request, one reply).

A malformed or hostile model can crash onnxruntime (a segfault or an abort in C++), which would
take the CLI down with it. So every step that hands a candidate model to onnx's C++ checker or
to onnxruntime runs here, in a child process. The protocol is tiny:

- stdin: one JSON object ``{"step": ..., "reply": "/tmp/.../reply.json", ...}``;
- the reply file: ``{"ok": true, ...}`` or ``{"ok": false, "error": "...", "type": "..."}``,
  serialized before anything is written and put in place with a rename, so it exists whole or
  not at all (a crash leaves no half reply for the parent to misread); a reply that cannot be
  serialized is a bug of this module, reported as ``"type": "WorkerProtocolError"``;
- stderr: lines ``@@step <what>`` before each stage, so that when the process dies the parent
  can say which stage killed it; other stderr is kept for the error message.

Arrays travel as `.npz` files (no pickle). This module imports only numpy, onnx and
onnxruntime, and nothing of the deployer but the package marker.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import traceback
from typing import Any, Callable

import numpy as np

Request = dict[str, Any]


def _stage(what: str) -> None:
    sys.stderr.write(f"@@step {what}\n")
    sys.stderr.flush()


def _options(optimization: str, threads: int = 0) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    levels = {
        "default": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    so.graph_optimization_level = levels[optimization]
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return so


def _session(path: str, optimization: str = "default", threads: int = 0) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(path, _options(optimization, threads), providers=["CPUExecutionProvider"])


def _dims(value_info: Any) -> list[int | str]:
    dims: list[int | str] = []
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return dims
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.dim_param:
            dims.append(dim.dim_param)
        else:
            dims.append(-1)
    return dims


def check(req: Request) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    path = req["model"]
    _stage("reading the ONNX protobuf")
    model = onnx.load(path, load_external_data=False)
    _stage("onnx.checker (full check with strict shape inference)")
    onnx.checker.check_model(path, full_check=True)
    _stage("creating an onnxruntime session")
    session = _session(path)
    graph_in = {vi.name: vi for vi in model.graph.input}
    graph_out = {vi.name: vi for vi in model.graph.output}

    def spec(arg: Any, table: dict[str, Any]) -> dict[str, Any]:
        vi = table.get(arg.name)
        if vi is not None and vi.type.HasField("tensor_type"):
            return {"name": arg.name, "elem_type": vi.type.tensor_type.elem_type, "shape": _dims(vi)}
        return {"name": arg.name, "ort_type": arg.type, "shape": [d if isinstance(d, (int, str)) else -1
                                                                   for d in (arg.shape or [])]}

    opsets = {imp.domain or "ai.onnx": int(imp.version) for imp in model.opset_import}
    return {
        "inputs": [spec(a, graph_in) for a in session.get_inputs()],
        "outputs": [spec(a, graph_out) for a in session.get_outputs()],
        "opset": opsets.get("ai.onnx"),
        "opsets": opsets,
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "onnxruntime": ort.__version__,
        "node_types": sorted({n.op_type for n in model.graph.node}),
    }


def _feeds(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _to_saveable(arr: Any) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == object:  # string tensors come back as object arrays
        arr = arr.astype(np.str_)
    return arr


def run(req: Request) -> dict[str, Any]:
    _stage(f"creating an onnxruntime session (graph optimizations: {req.get('optimization', 'default')})")
    # One intra-op thread: the outputs (parity figures, the manifest's sample) then do not depend
    # on how many cores the converting machine has.
    session = _session(req["model"], req.get("optimization", "default"), int(req.get("threads", 1)))
    feeds = _feeds(req["inputs"])
    for name, arr in feeds.items():
        if arr.dtype.kind == "U":
            feeds[name] = arr.astype(object)
    rows = len(next(iter(feeds.values()))) if feeds else 0
    chunk = req.get("batch") or rows or 1
    names = [o.name for o in session.get_outputs()]
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    _stage(f"running inference on {rows} rows")
    for start in range(0, max(rows, 1), chunk):
        batch = {k: v[start:start + chunk] for k, v in feeds.items()}
        for name, value in zip(names, session.run(names, batch)):
            parts[name].append(_to_saveable(value))
    outputs = {n: (np.concatenate(p) if len(p) > 1 else p[0]) for n, p in parts.items()}
    np.savez(req["outputs"], **outputs)
    return {"outputs": names, "rows": rows}


def optimize(req: Request) -> dict[str, Any]:
    so = _options(req["level"], threads=1)
    so.optimized_model_filepath = req["output"]
    if req.get("external_data"):
        # Large models: keep weights in one file beside the model (protobuf caps a file at 2 GB).
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    req["external_data"])
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    import onnxruntime as ort

    _stage(f"optimizing offline (graph optimization level {req['level']})")
    ort.InferenceSession(req["model"], so, providers=["CPUExecutionProvider"])
    return {"output": req["output"]}


def quantize(req: Request) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _stage("dynamic int8 quantization (onnxruntime.quantization.quantize_dynamic)")
    # reduce_range: 7-bit weights. x86 kernels multiply u8 activations by s8 weights with
    # VPMADDUBSW, whose 16-bit sums saturate with full-range weights (errors of ~40% were seen).
    quantize_dynamic(req["model"], req["output"], weight_type=QuantType.QInt8, reduce_range=True)
    return {"output": req["output"]}


def measure(req: Request) -> dict[str, Any]:
    """Session creation and `session.run` on one row (one batch when it is fixed) of each model, the models in alternation round
    by round (the machine drifts; only paired ratios mean much). Sessions use onnxruntime's
    default threads, as the handler does. Medians and the per-round samples, in ms."""
    models: list[dict[str, str]] = req["models"]
    create: list[list[float]] = [[] for _ in models]
    _stage("timing session creation")
    for round_ in range(int(req.get("rounds", 5)) + 1):  # round 0 warms the page cache and onnxruntime up
        for i, spec in enumerate(models):
            started = time.perf_counter()
            _session(spec["path"], spec["optimization"])
            if round_:
                create[i].append((time.perf_counter() - started) * 1000.0)
    _stage("measuring inference latency")
    feeds = {k: v[:int(req.get("rows", 1))] for k, v in _feeds(req["inputs"]).items()}  # one row, or one fixed batch
    for name, arr in feeds.items():
        if arr.dtype.kind == "U":
            feeds[name] = arr.astype(object)
    sessions = [_session(spec["path"], spec["optimization"]) for spec in models]
    first = []
    for session in sessions:
        session.run(None, feeds)  # warm-up
        started = time.perf_counter()
        session.run(None, feeds)
        first.append((time.perf_counter() - started) * 1000.0)
    budget_ms = float(req.get("budget_ms", 1500.0))
    reps = max(int(req.get("min_reps", 15)), min(int(req.get("max_reps", 400)), int(budget_ms / max(sum(first), 1e-3))))
    runs: list[list[float]] = [[] for _ in sessions]
    for _ in range(reps):
        for i, session in enumerate(sessions):
            started = time.perf_counter()
            session.run(None, feeds)
            runs[i].append((time.perf_counter() - started) * 1000.0)
    return {"session_ms": [statistics.median(s) for s in create], "run_ms": [statistics.median(r) for r in runs],
            "session_samples_ms": create, "run_samples_ms": runs, "reps": reps}


STEPS: dict[str, Callable[[Request], dict[str, Any]]] = {
    "check": check, "run": run, "optimize": optimize, "quantize": quantize,
    "measure": measure,
}


def main() -> int:
    req: Request = json.loads(sys.stdin.read())
    try:
        reply = {"ok": True, **STEPS[req["step"]](req)}
    except Exception as exc:  # reported to the parent, which raises a ModelError naming the model
        text = str(exc).strip() or type(exc).__name__
        reply = {"ok": False, "error": text[:2000], "type": type(exc).__name__,
                 "traceback": traceback.format_exc()[-4000:]}
    try:
        text = json.dumps(reply)
    except (TypeError, ValueError) as exc:  # a value of ours that JSON cannot hold: our bug
        text = json.dumps({"ok": False, "type": "WorkerProtocolError",
                           "error": f"the reply to step {req.get('step')!r} cannot be serialized: {exc}"})
    partial = req["reply"] + ".partial"
    with open(partial, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(partial, req["reply"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
