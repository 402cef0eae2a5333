"""Ask the real runtime (`functions/`) about an artifact the converter wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from functions.app import Service
from functions.manifest import load_manifest
from functions.model import load_model


def _event(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"httpMethod": "POST", "path": path, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"stage": "test", "requestId": "r-1"}}


class _Context:
    aws_request_id = "00000000-0000-0000-0000-000000000000"


def infer_sample(folder: Path) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """POST the manifest's sample to /v2/models/{name}/infer; (status, answer, manifest)."""
    manifest = load_manifest(str(folder))
    assert manifest is not None
    sample = manifest["sample"]
    assert sample is not None
    return infer_rows(folder, *(np.asarray(rows) for rows in sample["inputs"].values()))


def infer_rows(folder: Path, *arrays: np.ndarray) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """POST these arrays (one per input, in order) to /v2/models/{name}/infer; (status, answer, manifest)."""
    manifest = load_manifest(str(folder))
    assert manifest is not None
    model = load_model(str(folder))
    assert model.name == manifest["name"] and model.version == manifest["version"]
    inputs = [{"name": spec["name"], "datatype": spec["datatype"], "shape": list(arr.shape),
               "data": arr.ravel().tolist()} for spec, arr in zip(manifest["inputs"], arrays)]
    raw = Service(str(folder)).handler(_event(f"/v2/models/{manifest['name']}/infer", {"inputs": inputs}),
                                       _Context())
    return raw["statusCode"], json.loads(raw["body"]), dict(manifest)


def assert_answers_like_manifest(folder: Path) -> None:
    status, answer, manifest = infer_sample(folder)
    assert status == 200, answer
    expected = manifest["sample"]["outputs"]
    for out in answer["outputs"]:
        want = np.asarray(expected[out["name"]]).ravel()
        got = np.asarray(out["data"]).ravel()
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        else:
            assert got.tolist() == want.tolist()
