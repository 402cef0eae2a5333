"""The HTTP routes a deployed model answers, as the CLI shows and calls them.

The handler (`functions/app.py`) owns the routes; this module only names them for users, from
the model's folder, without loading the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployer.errors import ModelError
from functions.manifest import MODEL_FILE, ManifestError, load_manifest

__all__ = ["model_name", "routes", "default_route", "example_request"]


def model_name(model: Path) -> str:
    """The name the endpoint serves: the manifest's name, else the model file's stem."""
    if model.is_dir():
        try:
            manifest = load_manifest(str(model))
        except ManifestError as exc:
            raise ModelError(str(exc)) from exc
        if manifest is not None:
            return manifest["name"]
        return Path(MODEL_FILE).stem
    return model.stem


def routes(name: str) -> dict[str, str]:
    return {
        "metadata": f"GET /v2/models/{name}",
        "infer": f"POST /v2/models/{name}/infer",
        "predict": f"POST /v1/models/{name}:predict",
        "classify": f"POST /v1/models/{name}:classify",
        "torchserve": f"POST /predictions/{name}",
        "describe": f"GET /models/{name}",
        "ping": "GET /ping",
        "ready": "GET /v2/health/ready",
        "openapi": "GET /openapi.json",
    }


def default_route(name: str, body: bytes | None) -> str:
    """v2 infer for a body, TF Serving predict when the body looks like one, metadata without."""
    if body is None:
        return f"/v2/models/{name}"
    try:
        obj = json.loads(body)
    except ValueError:
        return f"/v2/models/{name}/infer"
    if isinstance(obj, dict) and ("instances" in obj or isinstance(obj.get("inputs"), dict)):
        return f"/v1/models/{name}:predict"
    return f"/v2/models/{name}/infer"


def example_request(model: Path) -> str:
    """A v2 infer body for the model in `model`: its manifest's first sample row, else zeros."""
    try:
        manifest = load_manifest(str(model)) if model.is_dir() else None
    except ManifestError:
        manifest = None
    if manifest is None:
        return '{"inputs": [...]}'
    sample = (manifest.get("sample") or {}).get("inputs") or {}
    tensors = []
    for spec in manifest["inputs"]:
        rows = sample.get(spec["name"])
        if rows:
            row = rows[0]
        else:
            row = _zeros([d if isinstance(d, int) and d > 0 else 1 for d in spec["shape"][1:]])
        shape = [1, *_shape_of(row)]
        tensors.append({"name": spec["name"], "datatype": spec["datatype"], "shape": shape, "data": [_short(row)]})
    return json.dumps({"inputs": tensors}, separators=(",", ":"))


def _short(value: object) -> object:
    """Floats as float32 prints them (5.1, not 5.099999904632568)."""
    if isinstance(value, list):
        return [_short(v) for v in value]
    return float(f"{value:.7g}") if isinstance(value, float) else value


def _zeros(dims: list[int]) -> object:
    return 0 if not dims else [_zeros(dims[1:]) for _ in range(dims[0])]


def _shape_of(value: object) -> list[int]:
    return [len(value), *_shape_of(value[0])] if isinstance(value, list) and value else []
