"""The convert report: what `convert` measured, kept beside the artifact, never inside it.

The model folder (`model.onnx`, its external data, `manifest.json`) becomes the image's model
layer and its sha256 the model's version, so every byte in it is a function of the inputs
(model, sample, options, toolchain versions). Timings are not: they change from run to run and
machine to machine. They go to ``<out>.convert-report.json``, a sibling of the folder
(``build/iris`` → ``build/iris.convert-report.json``), and to the console; `ConvertResult.report`
holds the same dict. A second conversion of an unchanged model rewrites the report and leaves
the folder's bytes as they were.

Shape (``"report": 1``)::

    {"report": 1, "name": "iris", "version": "3f2a9c1d0b7e", "folder": "/abs/build/iris",
     "machine": {"onnxruntime": "1.32.0", "python": "3.12.3", "cpu": "x86_64", "cpus": 2},
     "original": {"graph_optimization_level": "all", "session_ms": 3.1, "run_ms": 0.012},
     "artifact": {"offline_level": "basic", "graph_optimization_level": "all", "session_ms": 2.4, "run_ms": 0.011},
     "session": {"ratio": 0.8, "min_ratio": 0.82, "verdict": "faster"},   # ratio: median of paired rounds
     "run": {"ratio": 0.97, "min_ratio": 1.01, "verdict": "no measurable change"},  # min_ratio: fastest/fastest
     "fallback": false, "rounds": 5, "reps": 400,
     "quantization": {"run_ms_before": .., "run_ms_after": .., "ratio": .., "min_ratio": .., "verdict": ..} | null,
     "warnings": ["..."]}
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["REPORT_SUFFIX", "report_path", "write_report", "machine"]

REPORT_SUFFIX = ".convert-report.json"


def report_path(out: Path) -> Path:
    """``<out>.convert-report.json`` beside the model folder (outside the image's model layer)."""
    folder = Path(out).resolve()
    return folder.with_name(folder.name + REPORT_SUFFIX)


def machine(onnxruntime_version: str) -> dict[str, Any]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"onnxruntime": onnxruntime_version, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpus": cpus}


def write_report(path: Path, report: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
