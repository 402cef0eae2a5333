"""The model manifest: one versioned schema shared by the converter and the runtime.

`manifest.json` sits beside `model.onnx`. The converter (`deployer/model`) writes it, the handler
reads it at cold start. This module is the single definition of its shape, and it is imported by
the runtime, so it uses only the standard library: pydantic would add ~40-100 ms to every cold
start (see PERF-NOTES) for a file read once. `deployer` imports this module, never the reverse.

Shape (schema_version 1)::

    {
      "schema_version": 1,
      "name": "iris",                       # model name used in routes
      "version": "3f2a9c1d0b7e",            # content hash of model.onnx (sha256 prefix)
      "model": {"file": "model.onnx", "sha256": "...", "size_bytes": 1234,
                "opset": 17, "opsets": {"ai.onnx.ml": 1, ...}, "ir_version": 8,
                "producer": "skl2onnx 1.20.0",
                "external_data": [{"file": "model.onnx.data", "sha256": "...", "size_bytes": 1}]},
      "runtime": {"onnxruntime": "1.32.0",
                  "optimized": "basic" | null,       # graph optimization level baked in offline
                  "graph_optimization_level": "all"}, # the session's level (disable_all|basic|extended|all);
                                            # absent in older manifests (then disable_all if optimized)
      "inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],   # -1 / str = dynamic
      "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
      "labels": ["setosa", ...] | null,
      "source": {"framework": "sklearn", "file": "model.joblib" | null, "converter": "skl2onnx 1.20.0",
                 "reference": "scikit-learn 1.9.1 Pipeline.predict"},
      "parity": {"passed", "rows", "inputs": "sample" | "generated", "reference", "final_stage",
                 "label_agreement", "argmax_agreement", "max_abs_error", "max_rel_error",
                 "tolerance", "stages"} | null,        # converter's report, opaque to the runtime
      "optimization": {"level": "basic" | "none", "runtime_level": "all",   # the rule and its evidence:
                       "original": {"size_bytes"}, "optimized": {"size_bytes"},  # deployer/model/optimize.py
                       "quantization": {"mode", "size_bytes_before", "size_bytes_after"} | null} | null,
                                            # nothing measured: timings go to <out>.convert-report.json
      "baseline": {"x": {"per": "feature" | "channel" | "tensor", "rows", "source",
                         "mean": [...], "std": [...], "min": [...], "max": [...],
                         # drift bins, from a user's sample, [N, F] and [N] inputs only (optional):
                         "features": ["x[0]", ...], "edges": [[9 inner edges], ...],
                         "shares": [[10 shares], ...]}} | null,
      "predictions": {"label": {"kind": "classes" | "argmax", "rows", "source": "sample",
                                "classes": [0, 1, 2], "names": ["setosa", ...], "shares": [...]},
                      "y": {"kind": "values", "rows", "source", "mean", "std", "min", "max",
                            "p10", "p50", "p90", "edges": [...], "shares": [...]}} | null,
                                            # optional: the original's predictions on the sample
      "sample": {"rows": 3, "inputs": {"x": [[...]]}, "outputs": {"label": [...]}} | null,
                                            # null when one row holds more than 4096 values
      "notes": ["..."]
    }
"""

from __future__ import annotations

import json
import os
from typing import Any, TypedDict

__all__ = [
    "SCHEMA_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "TensorSpec",
    "MODEL_FILE",
    "MANIFEST_FILE",
    "GOLDEN_FILE",
    "MODEL_DIR",
    "CODE_DIR",
    "HANDLER",
    "MODEL_PATH_VARIABLE",
    "Manifest",
    "ManifestError",
    "load_manifest",
    "validate_manifest",
    "has_drift_baseline",
    "sha256_file",
]

SCHEMA_VERSION = 1

# The model-folder contract, in one place: the converter writes these names, the image builder and
# the files image put the folder at MODEL_DIR and functions/ under CODE_DIR, the template and the
# local runtimes set MODEL_PATH, and the handler reads them. Everything else imports them from here.
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
GOLDEN_FILE = "golden.json"  # push --golden: the set checked before traffic (functions/golden.py)
MODEL_DIR = "/opt/model"  # the model folder inside the image; MODEL_PATH's default
CODE_DIR = "/var/task"  # LAMBDA_TASK_ROOT: functions/ is copied here
HANDLER = "functions.app.handler"  # the image's CMD
MODEL_PATH_VARIABLE = "MODEL_PATH"

# KServe v2 datatype names; the runtime maps them to numpy and onnxruntime types.
DATATYPES = frozenset(
    {"BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
     "FP16", "FP32", "FP64", "BYTES"}
)


class TensorSpec(TypedDict):
    name: str
    datatype: str
    shape: list[int | str]


class Manifest(TypedDict, total=False):
    schema_version: int
    name: str
    version: str
    model: dict[str, Any]
    runtime: dict[str, Any]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    labels: list[Any] | None
    source: dict[str, Any]
    parity: dict[str, Any] | None
    optimization: dict[str, Any] | None
    baseline: dict[str, Any] | None
    predictions: dict[str, Any] | None  # optional (drift: functions/drift.py)
    sample: dict[str, Any] | None
    notes: list[str]


class ManifestError(ValueError):
    """The manifest is missing a field, has a wrong type, or does not match the model file."""


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "name": str,
    "version": str,
    "model": dict,
    "inputs": list,
    "outputs": list,
}


def validate_manifest(data: Any, where: str = MANIFEST_FILE) -> Manifest:
    """Check the fields the runtime relies on; return the manifest typed."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for key, kind in _REQUIRED.items():
        if key not in data:
            raise ManifestError(f"{where}: missing required field '{key}'")
        if not isinstance(data[key], kind):
            raise ManifestError(f"{where}: field '{key}' must be {_kind_name(kind)}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ManifestError(
            f"{where}: schema_version {data['schema_version']} is not supported "
            f"(this runtime reads {SCHEMA_VERSION}); rebuild the artifact with a matching deployer"
        )
    for side in ("inputs", "outputs"):
        for i, spec in enumerate(data[side]):
            _check_spec(spec, f"{where}: {side}[{i}]")
    model = data["model"]
    for key in ("sha256", "file"):
        if not isinstance(model.get(key), str):
            raise ManifestError(f"{where}: model.{key} must be a string")
    files = [model["file"]]
    extra = model.get("external_data") or []
    if not isinstance(extra, list) or not all(
        isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("sha256"), str) for e in extra
    ):
        raise ManifestError(f"{where}: model.external_data must be a list of {{file, sha256, size_bytes}}")
    files += [e["file"] for e in extra]
    for name in files:
        if not _plain_name(name):
            raise ManifestError(f"{where}: {name!r} must be a plain file name inside the model folder")
    return data  # type: ignore[return-value]


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _check_spec(spec: Any, where: str) -> None:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ManifestError(f"{where}: expected an object with a string 'name'")
    if spec.get("datatype") not in DATATYPES:
        raise ManifestError(f"{where}: datatype must be one of {sorted(DATATYPES)}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, (int, str)) for d in shape):
        raise ManifestError(f"{where}: shape must be a list of ints or dimension names")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "a list"}
    return names.get(kind, str(kind))  # type: ignore[arg-type]


def load_manifest(folder: str) -> Manifest | None:
    """Read and check `folder/manifest.json`; None when the folder has none."""
    path = os.path.join(folder, MANIFEST_FILE)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
    return validate_manifest(data, path)


def has_drift_baseline(manifest: Manifest | None) -> bool:
    """Whether the manifest holds what the drift monitor compares against (functions/drift.py): the
    original's predictions, or binned statistics (`edges`) of an input. Checked here, not in
    functions/drift.py, so that a model without them never imports the monitor (~0.5 ms of cold start)."""
    if not manifest:
        return False
    baseline = manifest.get("baseline") or {}
    return bool(manifest.get("predictions")) or (
        isinstance(baseline, dict) and any(isinstance(s, dict) and s.get("edges") for s in baseline.values()))


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    import hashlib  # only with MODEL_VERIFY=sha256 or at build time: kept out of the cold start (~3 ms)

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
