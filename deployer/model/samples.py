"""Inputs for the parity check: the user's sample or rows generated from the signature.

A sample arrives as a file (`.npy`, `.npz`, `.json`, `.csv`) or, from Python, as an array, a
tuple/list of arrays, or a dict name → array. It is first kept raw (ordered, names optional),
because some converters need it before a signature exists (torch traces with it), then fitted
to the ONNX signature: matched by name or else by position, cast to the declared dtype when
that loses nothing, and checked against the fixed dimensions.

Also here: the baseline statistics of the inputs (for drift detection) and the small sample
with expected outputs that the manifest carries for the smoke test after deploy.

The drift baseline (read by functions/drift.py, which documents the statistics): from the user's
sample only (rows generated from the signature describe no real traffic), per feature of each
numeric [N, F] or [N] input, the inner edges of DRIFT_BINS quantile bins and the sample's share in
each bin, binned by the handler's own `functions.drift.bin_counts`; and, per output, the original
model's predictions on the sample: class shares, or mean / quantiles / bins of a numeric output.
Edges and statistics are rounded to 7 significant digits and the shares computed on the rounded
edges, so the handler's bins are exactly these; everything is a pure function of the sample and
the predictions (no randomness, no set or hash order): same model + sample, same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deployer.errors import ConfigError, ModelError
from deployer.model.signature import TensorSpec
from functions.drift import bin_counts
from functions.series import DRIFT_BINS, DRIFT_MAX_CLASSES

__all__ = [
    "RawSample", "read_sample", "fit_sample", "generate", "baseline", "prediction_baseline", "sample_rows",
    "manifest_sample", "GENERATED_ROWS", "DYNAMIC_DIM", "MAX_GENERATED_VALUES", "unsendable",
]

RawSample = dict[str, np.ndarray]  # keys: input names, or "#0", "#1", ... when unnamed
GENERATED_ROWS = 64
DYNAMIC_DIM = 8  # size given to a symbolic non-batch dimension when generating rows
MAX_FEATURES = 256  # per-feature baseline up to this many values per row, then per channel
MAX_SAMPLE_VALUES = 4096  # values (all inputs together) the manifest's sample may carry
# Generated parity inputs, all inputs together. A model may declare any fixed dimension (2**40
# rows, a 10**6-wide feature axis); without a cap numpy was asked for terabytes and convert died
# with a MemoryError instead of saying what is wrong. Wide inputs get fewer rows (at least one, or
# one fixed batch) under the cap; what cannot fit even so is refused, naming the input.
MAX_GENERATED_VALUES = 32 * 1024**2  # 256 MB as the float64/int64 numpy draws them


def read_sample(sample: Any) -> RawSample:
    """A sample from a path, an array, a sequence of arrays or a mapping of name → array."""
    if isinstance(sample, (str, Path)):
        return _read_file(Path(sample))
    if isinstance(sample, Mapping):
        return {str(k): _array(v, f"sample[{k!r}]") for k, v in sample.items()}
    if isinstance(sample, (tuple, list)) and sample and all(_is_arraylike(v) for v in sample):
        return {f"#{i}": _array(v, f"sample[{i}]") for i, v in enumerate(sample)}
    return {"#0": _array(sample, "sample")}


def _is_arraylike(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _array(value: Any, where: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # a tf tensor
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: not an array ({exc})") from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(np.str_)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: ragged or mixed values; give a rectangular array") from exc
    return arr


def _read_file(path: Path) -> RawSample:
    if not path.is_file():
        raise ConfigError(f"--sample {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return {"#0": np.load(path, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        if suffix == ".json":
            return _from_json(json.loads(path.read_text(encoding="utf-8")), path)
        if suffix in (".csv", ".txt"):
            return {"#0": _read_csv(path)}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--sample {path}: cannot read it ({exc})") from exc
    raise ConfigError(f"--sample {path}: unknown format {suffix!r}; use .npy, .npz, .json or .csv")


def _from_json(data: Any, path: Path) -> RawSample:
    if isinstance(data, dict) and isinstance(data.get("inputs"), list):  # KServe v2 request body
        out = {}
        for item in data["inputs"]:
            arr = np.asarray(item["data"])
            out[str(item["name"])] = arr.reshape(item["shape"]) if "shape" in item else arr
        return out
    if isinstance(data, dict) and "instances" in data:  # TF Serving row format
        data = data["instances"]
    if isinstance(data, dict):
        return {str(k): _array(v, f"{path}[{k!r}]") for k, v in data.items()}
    if isinstance(data, list):
        return {"#0": _array(data, str(path))}
    raise ConfigError(f"--sample {path}: expected a JSON list of rows or an object name → rows")


def _read_csv(path: Path) -> np.ndarray:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the file is empty")
    try:
        [float(v) for v in lines[0].split(",")]
        start = 0
    except ValueError:
        start = 1  # a header row
    return np.loadtxt(lines[start:], delimiter=",", ndmin=2)


def fit_sample(raw: RawSample, inputs: Sequence[TensorSpec], where: str = "--sample") -> dict[str, np.ndarray]:
    """Match the raw sample to the model inputs and cast it; refuse what does not fit."""
    names = [spec.name for spec in inputs]
    if set(raw) == set(names):
        pairs = [(spec, raw[spec.name]) for spec in inputs]
    elif len(raw) == len(inputs) and all(k.startswith("#") for k in raw) or (len(raw) == len(inputs) == 1):
        pairs = list(zip(inputs, raw.values()))
    else:
        raise ConfigError(f"{where}: has arrays {sorted(raw)}, but the model's inputs are {names}; "
                          "name the arrays after the inputs (an .npz or a JSON object)")
    fitted: dict[str, np.ndarray] = {}
    for spec, arr in pairs:
        fitted[spec.name] = _fit_one(spec, arr, where)
    rows = {len(a) for a in fitted.values()}
    if len(rows) > 1:
        raise ConfigError(f"{where}: inputs have different numbers of rows ({sorted(rows)})")
    return fitted


def _fit_one(spec: TensorSpec, arr: np.ndarray, where: str) -> np.ndarray:
    rank = len(spec.shape)
    if rank and arr.ndim == rank - 1:
        arr = arr[None, ...]  # one row given without the batch dimension
    if rank and arr.ndim != rank:
        raise ConfigError(f"{where}: input {spec.describe()} needs {rank} dimensions, the sample has "
                          f"shape {list(arr.shape)}")
    for axis, (want, got) in enumerate(zip(spec.shape, arr.shape)):
        if axis > 0 and isinstance(want, int) and want >= 0 and want != got:
            raise ConfigError(f"{where}: input {spec.describe()} needs size {want} on axis {axis}, "
                              f"the sample has shape {list(arr.shape)}")
    target = spec.dtype
    if spec.datatype == "BYTES":
        return arr.astype(np.str_)
    if arr.dtype.kind in "fc" and target.kind in "iub":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ConfigError(f"{where}: input {spec.describe()} takes integers, the sample has fractions")
    if arr.dtype.kind not in "biuf":
        raise ConfigError(f"{where}: input {spec.describe()} takes numbers, the sample has {arr.dtype}")
    return np.ascontiguousarray(arr.astype(target, copy=False))


def generate(inputs: Sequence[TensorSpec], rows: int = GENERATED_ROWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Random rows that fit the signature (`rows`, or fewer for wide inputs; a multiple of a fixed batch size)."""
    rng = np.random.default_rng(seed)
    for spec in inputs:
        if spec.datatype == "BYTES":
            raise ConfigError(f"input {spec.describe()} takes strings, which cannot be generated; "
                              "pass a sample (--sample FILE)")
    plan = _plan(inputs, rows)
    total = sum(math.prod(dims) for dims in plan.values())
    if total > MAX_GENERATED_VALUES and rows > 1:
        plan = _plan(inputs, max(1, rows * MAX_GENERATED_VALUES // total))
        total = sum(math.prod(dims) for dims in plan.values())
    if total > MAX_GENERATED_VALUES:
        name, dims = max(plan.items(), key=lambda item: math.prod(item[1]))
        spec = next(s for s in inputs if s.name == name)
        raise ModelError(
            f"input {spec.describe()} needs {math.prod(dims):,} values for even one call (shape {dims}), more "
            f"than the {MAX_GENERATED_VALUES:,} convert generates for the parity check; check the model's "
            "declared input shape (a fixed dimension that should be dynamic?), or pass a sample (--sample FILE)"
        )
    out: dict[str, np.ndarray] = {}
    for spec in inputs:
        dims = plan[spec.name]
        kind = spec.dtype.kind
        if kind == "f":
            arr = rng.standard_normal(dims).astype(spec.dtype)
        elif kind == "b":
            arr = rng.integers(0, 2, size=dims).astype(np.bool_)
        else:
            arr = rng.integers(0, 10, size=dims).astype(spec.dtype)
        out[spec.name] = arr
    return out


def _plan(inputs: Sequence[TensorSpec], rows: int) -> dict[str, list[int]]:
    """The dims of each generated input, before anything is allocated."""
    plan: dict[str, list[int]] = {}
    for spec in inputs:
        batch = spec.batch
        n = rows if batch is None else batch * math.ceil(rows / max(batch, 1))
        dims = [n] + [d if isinstance(d, int) and d >= 0 else DYNAMIC_DIM for d in spec.row_shape]
        if not spec.shape:
            dims = []
        plan[spec.name] = dims
    return plan


def _stat(values: np.ndarray) -> list[float]:
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def baseline(inputs: Mapping[str, np.ndarray], source: str, bins: int = DRIFT_BINS) -> dict[str, Any]:
    """Per input: mean, std, min, max per feature (or per channel / whole tensor when wide); and,
    from a user's sample, the drift bins of each feature of a [N, F] or [N] input."""
    out: dict[str, Any] = {}
    for name, arr in inputs.items():
        if arr.dtype.kind not in "biuf" or arr.ndim == 0 or len(arr) == 0:
            continue
        data = arr.astype(np.float64)
        per_row = int(np.prod(arr.shape[1:], dtype=np.int64)) if arr.ndim > 1 else 1
        if per_row <= MAX_FEATURES:
            flat, axis = data.reshape(len(data), -1), "feature"
        elif arr.ndim >= 3 and arr.shape[1] <= MAX_FEATURES:
            flat, axis = np.moveaxis(data, 1, -1).reshape(-1, arr.shape[1]), "channel"
        else:
            flat, axis = data.reshape(-1, 1), "tensor"
        out[name] = {
            "per": axis, "rows": int(len(arr)), "source": source,
            "mean": _stat(flat.mean(axis=0)), "std": _stat(flat.std(axis=0)),
            "min": _stat(flat.min(axis=0)), "max": _stat(flat.max(axis=0)),
        }
        if source == "sample" and axis == "feature" and arr.ndim <= 2 and np.isfinite(flat).all():
            names = [f"{name}[{i}]" for i in range(flat.shape[1])] if arr.ndim == 2 else [str(name)]
            edges, shares = _bins(flat, bins)
            out[name].update(features=names, edges=edges, shares=shares)
    return out


def _bins(flat: np.ndarray, bins: int) -> tuple[list[list[float]], list[list[float]]]:
    """Quantile edges [F, bins-1] of rows [n, F], rounded, and each bin's share of the rows."""
    edges = np.quantile(flat, np.arange(1, bins) / bins, axis=0).T.reshape(flat.shape[1], bins - 1)
    rounded = np.array([_stat(row) for row in edges], dtype=np.float64).reshape(edges.shape)
    rounded = np.maximum.accumulate(rounded, axis=1)  # rounding keeps the order; this makes it certain
    shares = bin_counts(flat, rounded) / len(flat)
    return rounded.tolist(), [_stat(row) for row in shares]


def prediction_baseline(outputs: Sequence[TensorSpec], predictions: Mapping[str, np.ndarray],
                        labels: Sequence[Any] | None, scores: Sequence[str] = (), bins: int = DRIFT_BINS) -> dict[str, Any]:
    """Per output, what the original model predicted on the sample (functions/drift.py reads it):
    - a label output (integers, booleans or strings, one per row, at most DRIFT_MAX_CLASSES distinct):
      `kind` "classes", the class values, their `names` (the labels when they name them) and shares;
    - the scores [N, K] of a model without a label output, when K labels name the columns: "argmax",
      the share of rows whose largest score is each column's;
    - a numeric output with one value per row: "values", mean, std, min, max, p10/p50/p90, bins.
    Score outputs of a label output (`scores`) and other shapes are left out."""
    out: dict[str, Any] = {}
    for spec in outputs:
        if spec.name not in predictions:
            continue
        arr = np.asarray(predictions[spec.name])
        if arr.ndim == 0 or not len(arr):
            continue
        rows = int(len(arr))
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
            entry = _classes(arr.reshape(-1), labels) if arr.dtype.kind in "biuUSO" else None
            if entry is None and arr.dtype.kind in "iuf":
                entry = _values(arr.reshape(-1).astype(np.float64), bins)
        elif arr.ndim == 2 and arr.dtype.kind == "f" and spec.name not in scores and labels and len(labels) == arr.shape[1]:
            names = _names(labels)
            entry = None if names is None else {
                "kind": "argmax", "classes": list(range(arr.shape[1])), "names": names,
                "shares": _stat(np.bincount(arr.argmax(axis=1), minlength=arr.shape[1]) / rows),
            }
        else:
            entry = None
        if entry is not None:
            out[spec.name] = {"kind": entry.pop("kind"), "rows": rows, "source": "sample", **entry}
    return out


def _names(values: Sequence[Any]) -> list[str] | None:
    """Class names as dimension values: non-empty and distinct, or None."""
    names = [str(v) for v in values]
    return names if all(names) and len(set(names)) == len(names) else None


def _classes(values: np.ndarray, labels: Sequence[Any] | None) -> dict[str, Any] | None:
    if values.dtype.kind == "O":
        if not all(isinstance(v, str) for v in values.tolist()):
            return None
        values = values.astype(np.str_)
    distinct = np.unique(values)
    if len(distinct) > DRIFT_MAX_CLASSES:
        return None
    seen = distinct.tolist()
    if labels and values.dtype.kind in "iu" and len(labels) <= DRIFT_MAX_CLASSES and all(0 <= v < len(labels) for v in seen):
        classes: list[Any] = list(range(len(labels)))
        names = _names(labels)
    elif labels and len(labels) <= DRIFT_MAX_CLASSES and all(any(v == label and type(v) is type(label) for label in labels)
                                                            for v in seen):
        classes, names = list(labels), _names(labels)
    else:
        classes, names = seen, _names(seen)
    if names is None:
        return None
    index = {v: i for i, v in enumerate(classes)}
    counts = np.zeros(len(classes), dtype=np.int64)
    for value, count in zip(*np.unique(values, return_counts=True)):
        counts[index[value.item() if hasattr(value, "item") else value]] += count
    return {"kind": "classes", "classes": classes, "names": names, "shares": _stat(counts / len(values))}


def _values(values: np.ndarray, bins: int) -> dict[str, Any] | None:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None
    edges, shares = _bins(finite.reshape(-1, 1), bins)
    p10, p50, p90 = np.percentile(finite, [10, 50, 90])
    return {
        "kind": "values", "mean": _stat(finite.mean())[0], "std": _stat(finite.std())[0],
        "min": _stat(finite.min())[0], "max": _stat(finite.max())[0],
        "p10": _stat(p10)[0], "p50": _stat(p50)[0], "p90": _stat(p90)[0],
        "edges": edges[0], "shares": shares[0],
    }


def sample_rows(inputs: Mapping[str, np.ndarray], batch: int | None) -> tuple[int, str | None]:
    """How many leading rows the manifest's sample keeps (0, with the reason, when none fit)."""
    rows = min(batch or 3, min((len(a) for a in inputs.values()), default=0))
    per_row = sum(int(np.prod(a.shape[1:], dtype=np.int64)) for a in inputs.values())
    while rows > (batch or 1) and rows * per_row > MAX_SAMPLE_VALUES:
        rows -= 1
    if rows * per_row > MAX_SAMPLE_VALUES:
        return 0, (f"no sample rows in the manifest: {rows} row(s) hold {rows * per_row} input values "
                   f"(the manifest keeps at most {MAX_SAMPLE_VALUES})")
    return rows, None


def unsendable(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> str | None:
    """Why these sample rows cannot go into the manifest, or None.

    NaN and infinity have no JSON form: the manifest carried `NaN` (not JSON), the handler answers
    them as null, and the smoke test after deploy failed comparing the two.
    """
    for kind, arrays in (("input", inputs), ("output", outputs)):
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
                return (f"no sample rows in the manifest: the model's {kind} {name} is NaN or infinite on them, "
                        "which JSON cannot carry (the smoke test after deploy has nothing to compare)")
    return None


def manifest_sample(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The sample rows and the outputs the final model gives for exactly those rows (dynamic
    quantization makes an output depend on the whole batch, so they are computed apart)."""
    rows = len(next(iter(inputs.values())))
    return {
        "rows": rows,
        "inputs": {k: v.tolist() for k, v in inputs.items()},
        "outputs": {k: v.tolist() for k, v in outputs.items()},
    }
