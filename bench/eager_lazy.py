"""Where the model load lands in a cold start: beside the imports, before them, or on the first request.

    .venv/bin/python -m bench.eager_lazy [ROUNDS] [--one-cpu]

Spawns fresh interpreters (`python -S -P`, as bench/coldchild.py: no site hook) alternately for
each mode, the order rotating every round, on the offline-optimized bench models (`python -m
bench` generates them). Each child imports onnxruntime first (the same ~100 ms in every mode),
then functions.app, then answers one request; printed: medians of each step, spawn to answer
(interpreter exit included), and each mode's paired ratio to `background` of what the modes differ
in: the import of functions.app after onnxruntime's (the model load included) + the first request.
`--one-cpu` pins the children to one CPU (Lambda below 1,769 MB). The figures are quoted in
functions/app.py's docstring.

Modes:
  background  the handler as shipped: `functions.model.start_loading()` at the top of
              functions/app.py, the session created in a thread (on 2+ CPUs) while the rest of the
              handler is imported
  serial      the same with `background=False`: the session created first, then the imports
  lazy        no model at import (MODEL_PATH points nowhere); `Service(folder)` loads it on the
              first request
  threaded    (with --one-cpu only) `background=True` even on one CPU: what the thread would cost
              where there is no second CPU to run it on
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "bench" / ".models"
MODES = ("background", "serial", "lazy")

CHILD = r"""
import time, sys, os, json
T0 = time.perf_counter()
mode, folder = sys.argv[1], sys.argv[2]
os.environ["MODEL_PATH"] = "/nonexistent" if mode == "lazy" else folder
if mode in ("serial", "threaded"):  # the shipped code with the background thread turned off / always on
    import functions.model as fm
    _start, _on = fm.start_loading, mode == "threaded"
    fm.start_loading = lambda path=None, threads=None, background=_on: _start(path, threads, background)
sys.stdout = open(os.devnull, "w")  # the handler's log lines
import onnxruntime  # first, in every mode: its ~100 ms (numpy included) is the same for all and only adds noise
TORT = time.perf_counter()
import functions.app as app
T1 = time.perf_counter()
import numpy as np, base64
manifest = json.load(open(os.path.join(folder, "manifest.json")))
shape = [1] + [d for d in manifest["inputs"][0]["shape"][1:]]
x = np.zeros(shape, dtype=np.float32)
body = json.dumps({"inputs": [{"name": manifest["inputs"][0]["name"], "datatype": "FP32", "shape": shape,
                               "data": base64.b64encode(x.tobytes()).decode()}]})
event = {"httpMethod": "POST", "path": f"/v2/models/{manifest['name']}/infer",
         "headers": {"Content-Type": "application/json"}, "body": body, "requestContext": {}}
class Context: aws_request_id = "bench"
T2 = time.perf_counter()
service = app.Service(folder) if mode == "lazy" else app.service
assert service.handler(event, Context())["statusCode"] == 200
T3 = time.perf_counter()
sys.stderr.write(json.dumps({"ort": (TORT - T0) * 1e3, "init": (T1 - TORT) * 1e3, "first": (T3 - T2) * 1e3}) + "\n")
"""


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    one_cpu = "--one-cpu" in sys.argv[1:]
    rounds = int(args[0]) if args else 8
    from bench.coldstart import child_path

    env = {**os.environ, "PYTHONPATH": child_path()}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte code cached, as in the image
    if one_cpu:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"command: .venv/bin/python -m bench.eager_lazy {rounds}{' --one-cpu' if one_cpu else ''}; "
          f"{len(os.sched_getaffinity(0))} CPU(s); load average {os.getloadavg()[0]:.2f}")
    print("| model | loading | import onnxruntime ms | then import functions.app ms | first request ms "
          "| the two ms | spawn to answer ms | the two / background's (paired) |\n|---|---|---|---|---|---|---|---|")
    for model in ("mlp-opt", "cnn4-opt", "resnet18-opt"):
        folder = MODELS / model
        if not folder.is_dir():
            sys.exit(f"{folder} is missing: run `python -m bench --quick` first to generate the models")
        modes = MODES + (("threaded",) if one_cpu else ())
        samples: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in modes}
        for i in range(rounds + 1):
            k = i % len(modes)
            for mode in modes[k:] + modes[:k]:
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-S", "-P", "-c", CHILD, mode, str(folder)], env=env,
                                      cwd=ROOT, capture_output=True, text=True, check=True)
                total = (time.perf_counter() - started) * 1e3
                child = json.loads(done.stderr.strip().splitlines()[-1])
                if i:  # the first round warms the byte-code and page caches
                    samples[mode].append((child["ort"], child["init"], child["first"], total))
        for mode, rows in samples.items():
            ort, init, first, total = (statistics.median(r[i] for r in rows) for i in range(4))
            # paired, on the part the modes differ in (import of functions.app after onnxruntime's +
            # the first request): onnxruntime's import, spawn and exit are the same work and add only noise
            ratio = statistics.median((r[1] + r[2]) / (b[1] + b[2]) for r, b in zip(rows, samples["background"]))
            print(f"| {model} | {mode} | {ort:.1f} | {init:.1f} | {first:.2f} | {init + first:.1f} | {total:.1f} "
                  f"| {ratio:.3f}x |")


if __name__ == "__main__":
    main()
