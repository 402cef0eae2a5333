"""Eager (at import) vs lazy (first request) model loading: where the cold-start time lands.

    .venv/bin/python -m bench.eager_lazy [ROUNDS]

Spawns fresh interpreters alternately for each mode on the offline-optimized bench models
(`python -m bench` generates them) and prints medians of init (import of functions.app),
first request and spawn-to-answer. The figures are quoted in functions/app.py's docstring.
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

CHILD = r"""
import time, sys, os, json
T0 = time.perf_counter()
mode, folder = sys.argv[1], sys.argv[2]
os.environ["MODEL_PATH"] = "/nonexistent" if mode == "lazy" else folder
import logging; logging.disable(logging.CRITICAL)
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
service = app.service if mode == "eager" else app.Service(folder)
sys.stdout = open(os.devnull, "w")
assert service.handler(event, Context())["statusCode"] == 200
T3 = time.perf_counter()
sys.stderr.write(json.dumps({"init": (T1 - T0) * 1e3, "first": (T3 - T2) * 1e3}) + "\n")
"""


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"command: .venv/bin/python -m bench.eager_lazy {rounds}")
    print("| model | loading | init ms | first request ms | spawn to answer ms |\n|---|---|---|---|---|")
    for model in ("mlp-opt", "resnet18-opt"):
        folder = MODELS / model
        if not folder.is_dir():
            sys.exit(f"{folder} is missing: run `python -m bench --quick` first to generate the models")
        samples: dict[str, list[tuple[float, float, float]]] = {"eager": [], "lazy": []}
        for _ in range(rounds):
            for mode in samples:
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder)], env=env, cwd=ROOT,
                                      capture_output=True, text=True, check=True)
                total = (time.perf_counter() - started) * 1e3
                child = json.loads(done.stderr.strip().splitlines()[-1])
                samples[mode].append((child["init"], child["first"], total))
        for mode, rows in samples.items():
            init, first, total = (statistics.median(r[i] for r in rows) for i in range(3))
            print(f"| {model} | {mode} | {init:.0f} | {first:.0f} | {total:.0f} |")


if __name__ == "__main__":
    main()
