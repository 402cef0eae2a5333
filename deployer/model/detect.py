"""Which framework a source belongs to: from the object's classes, a file's suffix, or its bytes.

Only the classes' module names are looked at, so detecting never imports a framework.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from deployer.errors import ConfigError
from deployer.model.errors import ModelError

__all__ = ["FRAMEWORKS", "detect"]

FRAMEWORKS = ("onnx", "sklearn", "torch", "keras", "tflite")

_SUFFIXES = {
    ".onnx": "onnx",
    ".joblib": "sklearn", ".pkl": "sklearn", ".pickle": "sklearn", ".sav": "sklearn", ".skops": "sklearn",
    ".pt": "torch", ".pth": "torch", ".pt2": "torch", ".ts": "torch", ".torchscript": "torch",
    ".keras": "keras", ".h5": "keras", ".hdf5": "keras",
    ".tflite": "tflite",
}


def _roots(obj: Any) -> set[str]:
    return {cls.__module__.split(".")[0] for cls in type(obj).__mro__}


def detect(source: Any, framework: str = "auto") -> str:
    if framework != "auto":
        if framework not in FRAMEWORKS:
            raise ConfigError(f"--framework {framework!r} is not one of auto, {', '.join(FRAMEWORKS)}")
        return framework
    if isinstance(source, (str, Path)):
        return _detect_path(Path(source))
    roots = _roots(source)
    if "onnx" in roots and type(source).__name__ == "ModelProto":
        return "onnx"
    if "sklearn" in roots:
        return "sklearn"
    if "torch" in roots:
        return "torch"
    if roots & {"keras", "tf_keras", "tensorflow"}:
        return "keras"
    raise ConfigError(f"cannot tell which framework a {type(source).__module__}.{type(source).__name__} belongs "
                      f"to; pass framework= one of {', '.join(FRAMEWORKS)}")


def _detect_path(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise ConfigError(f"{path} is a TensorFlow SavedModel, which is not supported; save the Keras model "
                              "as .keras, or convert it to .tflite or ONNX first")
        raise ConfigError(f"{path} is a folder; pass the model file")
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    found = _SUFFIXES.get(path.suffix.lower())
    if found:
        return found
    return _sniff(path)


def _sniff(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"\x89HDF"):
        return "keras"
    if head.startswith(b"\x80"):
        return "sklearn"  # a pickle; joblib files of estimators are the common case
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            names = []
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        if any(n.endswith(("data.pkl", "constants.pkl")) or "/serialized_" in n or n.endswith("archive_format")
               for n in names):
            return "torch"
    if head[:1] == b"\x08":  # protobuf field 1 (ir_version), varint: how ONNX files begin
        return "onnx"
    raise ConfigError(f"cannot tell the format of {path} from its name or content; pass --framework "
                      f"({', '.join(FRAMEWORKS)})")
