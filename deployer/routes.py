"""The HTTP routes a deployed model answers, as the CLI shows and calls them.

The handler (`functions/app.py`) owns the routes; this module only names them for users, from
the model's folder, without loading the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployer.errors import ModelError
from functions.manifest import MODEL_FILE, ManifestError, load_manifest

__all__ = ["model_name", "routes", "default_route"]


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
