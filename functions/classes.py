"""Class scores and their labels: Triton's classification extension (KServe v2) and TF Serving's `:classify`.

Labels. The converter records a classifier's classes in the manifest's `labels`, in the order of
its score columns (examples/iris/model/manifest.json). They name the classes of an output whose
last dimension is static and exactly that long (iris: `probabilities` [batch, 3] and 3 labels);
any other output's classes have no label. Non-string labels (scikit-learn's integer classes) are
written as text, as both protocols carry labels as strings.

Triton's extension (https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/
protocol/extension_classification.html), as tritonclient users know it: an output asked for with
`"parameters": {"classification": N}` comes back as BYTES of shape [..., N] in place of its values:
the N highest values of each vector along the last axis, highest first, each as
"<value>:<index>[:<label>]" (the value as C++'s std::to_string writes it: `%f` for floats). N is
capped at the number of classes, as Triton does. Ties keep the lower index first.

TF Serving's classify answers one list of [label, score] per example, every class in the model's
order (not sorted), the label "" when the class has none (its REST API's documented shape for
ClassificationResponse). The scores are the first floating-point output of rank 2 whose classes
the labels name, else the first floating-point output of rank 2.

Loaded only when a request asks for classes (functions/kserve.py, functions/tfserving.py import it
lazily): the default answers and the cold start do not change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from functions.errors import BadRequest
from functions.model import Model, TensorInfo

__all__ = ["labels_for", "top_k", "scores_output"]


def labels_for(model: Model, spec: TensorInfo | None) -> list[str] | None:
    """The manifest's labels when they name the classes of `spec` (its last, static dimension), else None."""
    labels = (model.manifest or {}).get("labels") if model.manifest else None
    if not labels or spec is None or not spec.shape or spec.shape[-1] != len(labels):
        return None
    return [label if isinstance(label, str) else str(label) for label in labels]


def top_k(arr: np.ndarray, count: int, labels: list[str] | None, where: str) -> np.ndarray:
    """The `count` highest values along the last axis as Triton's "value:index[:label]" strings."""
    if arr.dtype.kind not in "biuf" or arr.ndim == 0 or arr.shape[-1] == 0:
        raise BadRequest(f"{where}: classification needs a numeric output with classes along its last "
                         f"dimension; this one is {_words(arr)}")
    classes = int(arr.shape[-1])
    k = min(count, classes)
    flat = arr.reshape(-1, classes)
    order = np.argsort(-flat.astype(np.float64), axis=1, kind="stable")[:, :k]
    floating = arr.dtype.kind == "f"
    strings: list[str] = []
    for row, indices in zip(flat.tolist(), order.tolist()):
        for index in indices:
            value = row[index]
            text = f"{value:f}" if floating else str(int(value))
            text = f"{text}:{index}"
            if labels is not None:
                text = f"{text}:{labels[index]}"
            strings.append(text)
    out = np.empty(len(strings), dtype=object)
    out[:] = strings
    return out.reshape(arr.shape[:-1] + (k,))


def scores_output(model: Model) -> TensorInfo:
    """The output TF Serving's classify reads class scores from (module docstring), or a 400."""
    candidates = [t for t in model.outputs if t.dtype is not None and t.dtype.kind == "f" and len(t.shape) == 2]
    for spec in candidates:
        if labels_for(model, spec) is not None:
            return spec
    if candidates:
        return candidates[0]
    outputs = ", ".join(t.describe() for t in model.outputs)
    raise BadRequest(f"':classify' needs an output of class scores (floating point, [batch, classes]); this model "
                     f"has {outputs}: use ':predict'")


def _words(arr: Any) -> str:
    kind = "strings" if arr.dtype.kind == "O" else str(arr.dtype)
    return f"{kind} of shape {list(arr.shape)}"
