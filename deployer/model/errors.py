"""Errors of the model pipeline, all under `deployer.errors.ModelError` (or `DependencyError`).

    ModelError                     (deployer.errors) the model is missing, unreadable or invalid
    ├── UnsafeModelError           refused before reading: pickle without trust, external data
    │                              escaping the model folder
    ├── ParityError                the ONNX model does not predict what the original predicts
    ├── ModelCrashError            onnxruntime (or onnx) died in the checking subprocess
    └── SizeBudgetError            the model does not fit in a Lambda container image
    DependencyError                (deployer.errors) a converter extra is missing; carries the pip command

Every message says what failed, on which file or output, and what to do about it.
"""

from __future__ import annotations

from deployer.errors import DependencyError, ModelError

__all__ = [
    "ModelError",
    "DependencyError",
    "UnsafeModelError",
    "ParityError",
    "ModelCrashError",
    "SizeBudgetError",
]


class UnsafeModelError(ModelError):
    """The model was refused for safety before any untrusted byte was used."""


class ParityError(ModelError):
    """The converted model's outputs differ from the original's beyond tolerance."""

    def __init__(self, message: str, report: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.report = report


class ModelCrashError(ModelError):
    """The checking subprocess died (a signal or an abort inside onnxruntime)."""


class SizeBudgetError(ModelError):
    """The artifact is larger than a Lambda container image can hold."""
