"""Step 1 of a push: the model folder to deploy, converting a raw model file first (cached).

A folder holding model.onnx + manifest.json is deployed as it is. A model file (.onnx, .skops,
.joblib, .pt2, .keras, .tflite, ...) is converted by `deployer.model.convert` into
`<project>/.deployer/build/<stem>-<sha256 prefix of the file>/`, and a later push of the same
bytes finds it there and converts nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import ModelError
from functions.manifest import MANIFEST_FILE, MODEL_FILE

__all__ = ["ModelInput", "prepare_model"]


@dataclass(frozen=True)
class ModelInput:
    folder: Path
    converted: bool  # converted by this push (False: a folder, or found in the cache)
    source: Path


def prepare_model(
    path: Path,
    build_root: Path,
    *,
    trust_pickle: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ModelInput:
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise ModelError(f"{path}: no {MODEL_FILE}; pass a model file to convert, or a folder made by `convert`")
        if not (path / MANIFEST_FILE).is_file():
            raise ModelError(f"{path}: no {MANIFEST_FILE}; convert the model first (python -m deployer convert)")
        return ModelInput(path.resolve(), False, path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file or folder; pass a model file or a converted model folder")
    digest = _sha256(path)
    out = Path(build_root) / f"{path.stem}-{digest[:16]}"
    if (out / MANIFEST_FILE).is_file() and (out / MODEL_FILE).is_file():
        return ModelInput(out.resolve(), False, path)
    from deployer.model import convert

    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-._")[:64] or "model"
    convert(path, out=out, trust_pickle=trust_pickle, progress=progress, name=name)
    return ModelInput(out.resolve(), True, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
