"""The child process of the cold-start benchmark: one fresh interpreter, one first prediction.

Run as ``python -S -P bench/coldchild.py MODE WORKDIR`` with ``PYTHONPATH`` = the repo root and
the environment's site-packages (no ``site``: the dev venv's editable-install hook costs ~30 ms
per process and a Lambda image has none) and ``MODEL_PATH`` = the model folder. Only the standard library is imported before MODE's own
imports, so each mode pays for exactly what it needs. Prints one line
``BENCH_RESULT {json}`` as soon as the first prediction is done; the parent times spawn → line.

MODE:
  floor    import onnxruntime, InferenceSession on the (offline-optimized) model at the runtime
           graph optimization level its manifest names (as the handler opens it), one run on
           the raw input
  handler  import functions.app, call handler(event, context) once
  stub     the same with bench.stub_app (when the real handler does not exist)
  naive    the same with bench.naive_app
  sample   the same with bench.aws_sample_app (the AWS-sample-style peer)
  handler-sha256  the handler with MODEL_VERIFY=sha256: the full run-time hash of the model
           files instead of the default size check (prices that choice)
  ladder   import the steps of argv[3] (';' between steps, ',' between modules) in order,
           timing each step; reports the per-step milliseconds
"""

import time

T0 = time.perf_counter()
WALL0 = time.time()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

HEAVY = ("numpy", "onnxruntime", "orjson", "pydantic", "boto3", "botocore", "aws_xray_sdk",
         "aws_lambda_powertools", "jmespath", "urllib3", "requests", "typing_extensions",
         "email", "http.client", "ssl", "asyncio", "concurrent.futures", "decimal", "uuid",
         "dataclasses", "logging", "onnx", "google.protobuf")


def _report(**fields):
    fields["modules"] = len(sys.modules)
    fields["heavy_loaded"] = [m for m in HEAVY if m in sys.modules]
    fields["wall_start"] = WALL0
    sys.stdout.write("BENCH_RESULT " + json.dumps(fields) + "\n")
    sys.stdout.flush()


def main() -> None:
    mode, work = sys.argv[1], sys.argv[2]
    folder = os.environ.get("MODEL_PATH", "")
    if mode == "ladder":  # import the steps in order; time each step in this process
        import importlib
        steps = []
        t_prev = time.perf_counter()
        steps.append(("interpreter", (t_prev - T0) * 1e3))
        for step in filter(None, sys.argv[3].split(";")):
            for name in filter(None, step.split(",")):
                importlib.import_module(name)
            t = time.perf_counter()
            steps.append((step, (t - t_prev) * 1e3))
            t_prev = t
        _report(status=200, steps=steps, import_ms=(t_prev - T0) * 1e3, init_ms=0.0, first_ms=0.0)
        return
    if mode == "floor":
        import onnxruntime as ort
        import numpy as np
        t1 = time.perf_counter()
        with open(os.path.join(folder, "manifest.json"), "rb") as fh:
            manifest = json.loads(fh.read())
        so = ort.SessionOptions()
        runtime = manifest.get("runtime") or {}
        level = runtime.get("graph_optimization_level") or ("disable_all" if runtime.get("optimized") else "all")
        so.graph_optimization_level = {
            "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
        sess = ort.InferenceSession(os.path.join(folder, manifest["model"]["file"]), so,
                                    providers=["CPUExecutionProvider"])
        t2 = time.perf_counter()
        with open(os.path.join(work, "x.bin"), "rb") as fh:
            raw = fh.read()
        with open(os.path.join(work, "x.shape"), "rb") as fh:
            shape = json.loads(fh.read())
        out = sess.run(None, {"x": np.frombuffer(raw, "<f4").reshape(shape)})
        t3 = time.perf_counter()
        _report(status=200, import_ms=(t1 - T0) * 1e3, init_ms=(t2 - t1) * 1e3,
                first_ms=(t3 - t2) * 1e3, out_len=int(out[0].size))
        return
    if mode == "handler-sha256":
        # The handler with the full run-time hash of the model files (functions/model.py,
        # MODEL_VERIFY), against the default size check: what moving the digest to build time saves.
        os.environ["MODEL_VERIFY"] = "sha256"
        mode = "handler"
    module = {"handler": "functions.app", "stub": "bench.stub_app", "naive": "bench.naive_app",
              "sample": "bench.aws_sample_app"}[mode]
    with open(os.path.join(work, "event.json"), "rb") as fh:
        event = json.loads(fh.read())
    from bench.context import FakeContext
    import importlib
    t1 = time.perf_counter()
    app = importlib.import_module(module)
    t2 = time.perf_counter()
    resp = app.handler(event, FakeContext())
    t3 = time.perf_counter()
    extra = {"tracer": getattr(app, "TRACER", None)} if mode == "naive" else {}
    _report(status=resp.get("statusCode"), import_ms=(t2 - T0) * 1e3, init_ms=0.0,
            first_ms=(t3 - t2) * 1e3, pre_import_ms=(t1 - T0) * 1e3,
            body_head=str(resp.get("body"))[:200] if resp.get("statusCode") != 200 else "",
            **extra)


if __name__ == "__main__":
    main()
