"""The manifest as the converter writes it: built here, checked twice before it is saved.

`functions/manifest.py` is the one definition of the shape (stdlib only, read by the runtime at
cold start). This module mirrors it as a pydantic model that is stricter on the parts the
runtime treats as opaque (parity, baseline, sample, source, optimization), so that what
`deployer convert` writes is complete; `manifest_json_schema()` is that model as JSON Schema.
Every manifest passes both `functions.manifest.validate_manifest` and `ConvertedManifest`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from functions.manifest import DATATYPES, SCHEMA_VERSION, ManifestError, validate_manifest
from deployer.model.errors import ModelError

__all__ = ["ConvertedManifest", "check_manifest", "manifest_json_schema"]

Datatype = Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
                   "FP16", "FP32", "FP64", "BYTES"]
assert set(Datatype.__args__) == DATATYPES  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tensor(_Strict):
    name: str
    datatype: Datatype
    shape: list[int | str]


class ExternalFile(_Strict):
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)


class ModelFile(_Strict):
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    opset: int | None
    opsets: dict[str, int]
    ir_version: int
    producer: str
    external_data: list[ExternalFile] = []


class Runtime(_Strict):
    onnxruntime: str
    optimized: Literal["basic", "extended", "all"] | None  # the level baked in offline (None: nothing)
    # The handler's session level (functions/model.py `session_optimization_level`); chosen by the
    # rule in deployer/model/optimize.py. Absent in manifests written before it existed.
    graph_optimization_level: Literal["disable_all", "basic", "extended", "all"] | None = None


class Parity(_Strict):
    passed: bool
    rows: int = Field(ge=1)
    inputs: Literal["sample", "generated"]
    reference: str
    final_stage: str
    label_agreement: float | None
    argmax_agreement: dict[str, float]
    max_abs_error: dict[str, float]
    max_rel_error: dict[str, float]
    tolerance: dict[str, dict[str, float]]
    stages: dict[str, dict[str, Any]]


class Stats(_Strict):
    per: Literal["feature", "channel", "tensor"]
    rows: int
    source: Literal["sample", "generated"]
    mean: list[float]
    std: list[float]
    min: list[float]
    max: list[float]
    # Drift bins (functions/drift.py), from a user's sample, per feature of an [N, F] or [N] input.
    features: list[str] | None = None
    edges: list[list[float]] | None = None
    shares: list[list[float]] | None = None

    @model_validator(mode="after")
    def _bins_match(self) -> Stats:
        given = [self.features is not None, self.edges is not None, self.shares is not None]
        if any(given) and not all(given):
            raise ValueError("features, edges and shares go together")
        if self.features is not None and self.edges is not None and self.shares is not None:
            if not len(self.features) == len(self.edges) == len(self.shares) == len(self.min):
                raise ValueError("one name, edge list and share list per feature")
            for edges, shares in zip(self.edges, self.shares):
                _check_bins(edges, shares)
        return self


def _check_bins(edges: list[float], shares: list[float]) -> None:
    if len(shares) != len(edges) + 1 or any(b < a for a, b in zip(edges, edges[1:])):
        raise ValueError("bins need sorted inner edges and one share more than edges")


class Prediction(_Strict):
    """The original model's predictions on the sample, for prediction shift (functions/drift.py)."""

    kind: Literal["classes", "argmax", "values"]
    rows: int = Field(ge=1)
    source: Literal["sample"]
    shares: list[float]
    classes: list[Any] | None = None
    names: list[str] | None = None
    edges: list[float] | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Prediction:
        if self.kind == "values":
            if self.edges is None or self.mean is None or self.p50 is None or self.p90 is None:
                raise ValueError("a numeric output's baseline has edges, mean, p50 and p90")
            _check_bins(self.edges, self.shares)
        elif self.classes is None or self.names is None or not len(self.classes) == len(self.names) == len(self.shares):
            raise ValueError("a categorical output's baseline has one name and share per class")
        return self


class Sample(_Strict):
    rows: int = Field(ge=1)
    inputs: dict[str, list[Any]]
    outputs: dict[str, list[Any]]


class Source(_Strict):
    framework: Literal["onnx", "sklearn", "torch", "keras", "tflite"]
    file: str | None
    converter: str
    reference: str


class Size(_Strict):
    size_bytes: int


class Quantization(_Strict):
    mode: Literal["dynamic-int8"]
    size_bytes_before: int
    size_bytes_after: int


class Optimization(_Strict):
    """What was done, never what was measured: timings differ run to run, and the manifest is part
    of the artifact, whose bytes must not (they go to `<out>.convert-report.json`, report.py)."""

    level: Literal["none", "basic", "extended", "all"]  # baked in offline; "none": the converted model as is
    runtime_level: Literal["disable_all", "basic", "extended", "all"]  # = runtime.graph_optimization_level
    original: Size
    optimized: Size
    quantization: Quantization | None


class ConvertedManifest(_Strict):
    schema_version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    version: str = Field(pattern=r"^[0-9a-f]{12}$")
    model: ModelFile
    runtime: Runtime
    inputs: list[Tensor] = Field(min_length=1)
    outputs: list[Tensor] = Field(min_length=1)
    labels: list[Any] | None
    parity: Parity
    baseline: dict[str, Stats]
    predictions: dict[str, Prediction] | None = None  # added in schema_version 1; absent in older manifests
    sample: Sample | None
    source: Source
    optimization: Optimization
    notes: list[str]

    @model_validator(mode="after")
    def _one_runtime_level(self) -> ConvertedManifest:
        if self.runtime.graph_optimization_level != self.optimization.runtime_level:
            raise ValueError("runtime.graph_optimization_level and optimization.runtime_level must agree")
        baked = None if self.optimization.level == "none" else self.optimization.level
        if self.runtime.optimized != baked:
            raise ValueError("runtime.optimized must be optimization.level (null for 'none')")
        return self


assert SCHEMA_VERSION == 1, "ConvertedManifest mirrors schema_version 1 of functions/manifest.py"


def check_manifest(data: dict[str, Any], where: str) -> None:
    """Both checks: the runtime's own and the converter's stricter one; ModelError on failure."""
    try:
        validate_manifest(data, where)
    except ManifestError as exc:
        raise ModelError(f"the manifest built for {where} is not valid for the runtime: {exc}") from exc
    try:
        ConvertedManifest.model_validate(data)
    except ValidationError as exc:
        raise ModelError(f"the manifest built for {where} is incomplete: {exc}") from exc


def manifest_json_schema() -> dict[str, Any]:
    return ConvertedManifest.model_json_schema()
