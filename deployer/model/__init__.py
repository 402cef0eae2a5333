"""deployer.model: any common model → a checked, optimized ONNX artifact with a manifest.

    convert(source, *, out, framework="auto", sample=None, quantize=None, atol=None, rtol=None,
            trust_pickle=False, progress=None, name=None, labels=None, opset=None,
            size_budget=DEFAULT_SIZE_BUDGET, worker=None) -> ConvertResult

Sources: ONNX files, scikit-learn estimators/pipelines (skl2onnx), PyTorch modules, TorchScript
and `.pt2` (torch.onnx), Keras models and `.tflite` files (tf2onnx). The stages are described
in `deployer/model/convert.py`; the artifact is `out/model.onnx` + `out/manifest.json` in the
schema of `functions/manifest.py`, every byte of it a function of the inputs; what convert measured
(session creation and run against the original) goes beside it, to `<out>.convert-report.json`.

Importing this package is cheap: the converters, onnx and onnxruntime are imported when
`convert` runs (the names below are resolved lazily), and the checking subprocess
(`python -m deployer.model._worker`) imports this package too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "convert",
    "ConvertResult",
    "manifest_json_schema",
    "ParityError",
    "UnsafeModelError",
    "ModelCrashError",
    "SizeBudgetError",
]

_LAZY = {
    "convert": "deployer.model.convert",
    "ConvertResult": "deployer.model.convert",
    "manifest_json_schema": "deployer.model.manifest",
    "ParityError": "deployer.model.errors",
    "UnsafeModelError": "deployer.model.errors",
    "ModelCrashError": "deployer.model.errors",
    "SizeBudgetError": "deployer.model.errors",
}

if TYPE_CHECKING:
    from deployer.model.convert import ConvertResult, convert
    from deployer.model.errors import ModelCrashError, ParityError, SizeBudgetError, UnsafeModelError
    from deployer.model.manifest import manifest_json_schema


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deployer.model' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
