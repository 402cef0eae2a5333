"""What the handler emits: every metric name, its unit and the dimensions it carries.

This is the contract between the handler (functions/metrics.py writes nothing that is not
declared here: an undeclared name or dimension set raises when its EMF template is built) and
whatever reads the metrics: the template's dashboard and alarms (deployer/template), the CLI's
`metrics` command, the local cloud. Standard library only, no third-party import, so the
deployer can import it without the handler's run-time dependencies.

Every metric carries the dimensions model (the manifest's name), version (the manifest's
version: a content hash of model.onnx) and service (POWERTOOLS_SERVICE_NAME); `SERIES` lists,
per metric, the extra dimension sets it is emitted with (`()`: none beyond those three).

Per request (one EMF document per invocation, functions/app.py):
    RequestMs, PayloadBytes, InferenceMs, BatchSize, ColdStart + ModelLoadMs (first request of an
    environment), Errors; and Errors again with a `kind` dimension (functions/errors.py kinds).
Drift (functions/drift.py), per window of requests of one environment, when the model's
manifest has a drift baseline:
    DriftRows        rows the window's statistics are computed on
    DriftPSIMax      the largest DriftPSI of the window, over all monitored features (what the alarm reads)
    DriftPSI         {feature}: population stability index of the window against the baseline bins
    DriftOutOfRange  {feature}: share (0-1) of the window's values outside the training min..max
    PredictionPSI    {output}: PSI of the predictions against the original model's on the sample
    PredictionClassShare {output, class}: share (0-1) of the window's predictions of that class
    PredictionMean, PredictionP50, PredictionP90 {output}: of a numeric (regression) output

`drift_features` and `prediction_series` say, from a manifest alone, which `feature`, `output` and
`class` values the handler uses: the handler and the template both call them, so they name the
same series.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BASE_DIMENSIONS",
    "SERIES",
    "UNITS",
    "REQUEST_METRICS",
    "DRIFT_METRICS",
    "DRIFT_BINS",
    "DRIFT_MAX_FEATURES",
    "DRIFT_MAX_CLASSES",
    "DRIFT_EVERY_N",
    "DRIFT_EVERY_S",
    "DRIFT_MIN_ROWS",
    "DRIFT_SAMPLE_ROWS",
    "MAX_METRICS_PER_DOCUMENT",
    "MAX_DIMENSIONS",
    "Feature",
    "Prediction",
    "drift_features",
    "prediction_series",
    "emitted",
]

BASE_DIMENSIONS = ("model", "version", "service")

# CloudWatch's limits on one EMF document: 100 metrics, 30 dimensions per dimension set.
MAX_METRICS_PER_DOCUMENT = 100
MAX_DIMENSIONS = 30

# Quantile bins per feature in the manifest's baseline (deciles), and the caps on what drift
# monitors: features per model (each one is 2 CloudWatch metrics, billed per metric and month),
# classes per categorical output (more distinct values: treated as a numeric output).
DRIFT_BINS = 10
DRIFT_MAX_FEATURES = 100
DRIFT_MAX_CLASSES = 50
# When a window of the drift monitor closes (functions/drift.py), unless DRIFT_EVERY_N,
# DRIFT_EVERY_S, DRIFT_MIN_ROWS say otherwise; the deployment config's [monitoring] defaults.
DRIFT_EVERY_N = 4000
DRIFT_EVERY_S = 60
DRIFT_MIN_ROWS = 200
DRIFT_SAMPLE_ROWS = 500  # rows a check interval aims to observe: busier environments sample requests

# metric name -> (CloudWatch unit, the extra dimension sets it is emitted with)
REQUEST_METRICS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "ColdStart": ("Count", ((),)),
    "ModelLoadMs": ("Milliseconds", ((),)),
    "RequestMs": ("Milliseconds", ((),)),
    "InferenceMs": ("Milliseconds", ((),)),
    "BatchSize": ("Count", ((),)),
    "PayloadBytes": ("Bytes", ((),)),
    "Errors": ("Count", ((), ("kind",))),
}
DRIFT_METRICS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "DriftRows": ("Count", ((),)),
    "DriftPSIMax": ("None", ((),)),
    "DriftPSI": ("None", (("feature",),)),
    "DriftOutOfRange": ("None", (("feature",),)),
    "PredictionPSI": ("None", (("output",),)),
    "PredictionClassShare": ("None", (("output", "class"),)),
    "PredictionMean": ("None", (("output",),)),
    "PredictionP50": ("None", (("output",),)),
    "PredictionP90": ("None", (("output",),)),
}
SERIES = {**REQUEST_METRICS, **DRIFT_METRICS}
UNITS = {name: unit for name, (unit, _) in SERIES.items()}


class Feature:
    """One monitored input feature: `name` is the `feature` dimension's value. (Plain slotted
    classes, not NamedTuples: this module is imported at cold start, and each NamedTuple class
    costs ~0.15 ms to build.)"""

    __slots__ = ("name", "input", "index")

    def __init__(self, name: str, input: str, index: int) -> None:
        self.name = name
        self.input = input
        self.index = index  # column of the input's [N, F] rows (0 for a 1-D input)


class Prediction:
    """One monitored output: `kind` "classes" (label values), "argmax" (class of the row's largest
    score) or "values" (numeric); `classes` are the `class` dimension's values."""

    __slots__ = ("output", "kind", "classes")

    def __init__(self, output: str, kind: str, classes: tuple[str, ...]) -> None:
        self.output = output
        self.kind = kind
        self.classes = classes


def drift_features(manifest: Mapping[str, Any], max_features: int = DRIFT_MAX_FEATURES) -> list[Feature]:
    """The features drift monitors: those with baseline bins, in the manifest's order, at most
    `max_features` of them."""
    found: list[Feature] = []
    for name, stats in (manifest.get("baseline") or {}).items():
        if not isinstance(stats, dict) or not stats.get("edges") or not stats.get("features"):
            continue
        for index, feature in enumerate(stats["features"]):
            if len(found) >= max_features:
                return found
            found.append(Feature(str(feature), str(name), index))
    return found


def prediction_series(manifest: Mapping[str, Any]) -> list[Prediction]:
    """The outputs whose predictions drift monitors, in the manifest's order."""
    found = []
    for output, stats in (manifest.get("predictions") or {}).items():
        if not isinstance(stats, dict):
            continue
        kind = str(stats.get("kind"))
        names = tuple(str(n) for n in stats.get("names") or ()) if kind in ("classes", "argmax") else ()
        found.append(Prediction(str(output), kind, names))
    return found


def emitted(manifest: Mapping[str, Any], max_features: int = DRIFT_MAX_FEATURES,
            drift: bool = True) -> list[tuple[str, dict[str, str]]]:
    """Every (metric, extra dimensions) the handler can emit for this manifest; the request
    metrics' `Errors` by kind appears once, with kind "*" (its values are the error kinds)."""
    out: list[tuple[str, dict[str, str]]] = [(name, {}) for name in REQUEST_METRICS]
    out.append(("Errors", {"kind": "*"}))
    if not drift:
        return out
    features = drift_features(manifest, max_features)
    predictions = prediction_series(manifest)
    if not features and not predictions:
        return out
    out.append(("DriftRows", {}))
    if features:
        out.append(("DriftPSIMax", {}))
    for feature in features:
        out += [("DriftPSI", {"feature": feature.name}), ("DriftOutOfRange", {"feature": feature.name})]
    for prediction in predictions:
        out.append(("PredictionPSI", {"output": prediction.output}))
        if prediction.kind == "values":
            out += [(name, {"output": prediction.output})
                    for name in ("PredictionMean", "PredictionP50", "PredictionP90")]
        else:
            out += [("PredictionClassShare", {"output": prediction.output, "class": c}) for c in prediction.classes]
    return out
