"""Optional converter extras: import them on demand, or fail with the exact pip command."""

from __future__ import annotations

import importlib
from types import ModuleType

from deployer.model.errors import DependencyError

__all__ = ["require", "PIP"]

# What to install for each framework. Versions are the ones this project is tested with; the
# same sets are the pyproject extras (`onnx-lambda-deployer[sklearn|torch|tensorflow]`).
PIP: dict[str, str] = {
    "sklearn": "pip install 'scikit-learn>=1.4' 'skl2onnx>=1.17'",
    "torch": "pip install 'torch>=2.6' 'onnxscript>=0.3'",
    "keras": "pip install 'tensorflow-cpu>=2.16' 'tf2onnx>=1.17'",
    "tflite": "pip install 'tensorflow-cpu>=2.16' 'tf2onnx>=1.17'",
    "skops": "pip install skops",
}


def require(module: str, framework: str, purpose: str) -> ModuleType:
    """Import `module` or raise DependencyError naming the pip command that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not installed; "
            f"install it with: {PIP[framework]}"
        ) from exc
