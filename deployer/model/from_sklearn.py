"""scikit-learn estimators and pipelines through skl2onnx.

The model takes one float32 matrix ``X [batch, n_features]`` (integer samples give an int64
input). Classifiers are converted without ZipMap, so they answer with two tensors, the label and
the class probabilities (or decision scores), in the order skl2onnx gives them; `classes_`
becomes the manifest's labels. The original is run with `predict` and `predict_proba` /
`decision_function` (or `transform` for a pipeline that ends in a transformer) on the very same
float32 rows the ONNX model receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deployer.errors import ConfigError
from deployer.model import _onnxutil
from deployer.model._deps import require
from deployer.model.errors import ModelError
from deployer.model.source import Converted, SourceOptions

__all__ = ["convert_sklearn", "is_sklearn"]


def is_sklearn(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "sklearn" for cls in type(obj).__mro__)


def _final(estimator: Any) -> Any:
    while hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    return estimator


def _input_type(estimator: Any, opts: SourceOptions) -> tuple[Any, int, str]:
    types = require("skl2onnx.common.data_types", "sklearn", "converting a scikit-learn model")
    n_features = getattr(estimator, "n_features_in_", None)
    kind = "f"
    if opts.sample:
        if len(opts.sample) != 1:
            raise ConfigError(f"the scikit-learn model takes one matrix X; the sample has {len(opts.sample)} arrays")
        arr = next(iter(opts.sample.values()))
        if arr.ndim != 2:
            raise ConfigError(f"the scikit-learn model takes a 2-D matrix X; the sample has shape {list(arr.shape)}")
        if n_features is not None and arr.shape[1] != n_features:
            raise ConfigError(f"the model was fitted on {n_features} features; the sample has {arr.shape[1]}")
        n_features, kind = arr.shape[1], arr.dtype.kind
    if n_features is None:
        raise ConfigError("cannot tell how many features the scikit-learn model takes (no n_features_in_); "
                          "pass a sample (--sample FILE)")
    if kind in "iub":
        return types.Int64TensorType([None, int(n_features)]), int(n_features), "int64"
    return types.FloatTensorType([None, int(n_features)]), int(n_features), "float32"


def _outputs_reference(estimator: Any, output_names: list[str]) -> tuple[Any, str, dict[str, str]]:
    """A function X -> {output name: array} and a description of what it calls."""
    final = _final(estimator)
    names = list(output_names)
    scores_for: dict[str, str] = {}
    calls: list[tuple[str, str]] = []
    if hasattr(final, "predict") and len(names) >= 1:
        calls.append((names[0], "predict"))
        if len(names) >= 2:
            for method in ("predict_proba", "decision_function", "transform"):
                if hasattr(estimator, method):
                    calls.append((names[1], method))
                    break
            if hasattr(final, "classes_"):
                scores_for[names[0]] = names[1]
    elif hasattr(estimator, "transform") and names:
        calls.append((names[0], "transform"))

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = next(iter(inputs.values()))
        return {name: np.asarray(getattr(estimator, method)(x)) for name, method in calls}

    described = "/".join(method for _, method in calls) or "nothing"
    return reference, described, scores_for


_DIV_CAST_SCALERS = ("StandardScaler", "RobustScaler", "MaxAbsScaler")


def _scaler_options(estimator: Any) -> dict[int, dict[str, Any]]:
    """Scalers compute in double and cast, as scikit-learn does before a tree casts to float32.

    Without it a float32 scaler lands a row on the other side of a split threshold now and
    then: a scaler + random forest pipeline missed parity by 0.05 in probability on 2 of 240
    values of the wine data set; with `div_cast` it matches.
    """
    found = [estimator, *(v for v in estimator.get_params(deep=True).values() if hasattr(v, "fit"))]
    return {id(step): {"div": "div_cast"} for step in found if type(step).__name__ in _DIV_CAST_SCALERS}


def convert_sklearn(estimator: Any, opts: SourceOptions, source: str) -> Converted:
    skl2onnx = require("skl2onnx", "sklearn", "converting a scikit-learn model")
    sklearn = require("sklearn", "sklearn", "converting a scikit-learn model")
    input_type, n_features, dtype = _input_type(estimator, opts)
    final = _final(estimator)
    options: dict[int, dict[str, Any]] = _scaler_options(estimator)
    if hasattr(final, "classes_"):
        options[id(final)] = {"zipmap": False}
    opts.progress(f"converting {type(estimator).__name__} ({n_features} features, {dtype}) with skl2onnx")
    try:
        model = skl2onnx.to_onnx(estimator, initial_types=[("X", input_type)], options=options,
                                 target_opset=opts.opset)
    except Exception as exc:  # skl2onnx raises many kinds: unsupported estimator, missing converter, ...
        raise ModelError(f"skl2onnx could not convert {type(estimator).__name__} from {source}: "
                         f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:400]}") from exc
    _onnxutil.name_unknown_batch(model)
    output_names = [o.name for o in model.graph.output]
    reference, described, scores_for = _outputs_reference(estimator, output_names)
    labels = None
    if hasattr(final, "classes_"):
        labels = np.asarray(final.classes_).tolist()
    path = _onnxutil.save(model, opts.workdir / "candidate.onnx")
    return Converted(
        framework="sklearn",
        onnx_path=path,
        producer=f"skl2onnx {skl2onnx.__version__}",
        reference=reference,
        reference_name=f"scikit-learn {sklearn.__version__} {type(estimator).__name__}.{described}",
        source=source,
        labels=labels,
        scores_for=scores_for,
    )


def load_sklearn_file(path: Path, opts: SourceOptions) -> Any:
    """Unpickle a joblib/pickle file (the caller has checked trust) or load a .skops file."""
    if path.suffix.lower() == ".skops":
        sio = require("skops.io", "skops", f"loading {path.name}")
        untrusted = sio.get_untrusted_types(file=str(path))
        if untrusted and not opts.trust_pickle:
            from deployer.model.errors import UnsafeModelError

            raise UnsafeModelError(f"{path} contains types skops does not trust by default ({', '.join(untrusted)}); "
                                   "pass --trust-pickle if you trust the file")
        return sio.load(str(path), trusted=untrusted or None)
    joblib = require("joblib", "sklearn", f"loading {path.name}")
    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises anything the file's code raises
        raise ModelError(f"could not load {path} with joblib: {type(exc).__name__}: {exc}") from exc
