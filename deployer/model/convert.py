"""`convert`: any supported model → a checked, optimized `model.onnx` with its `manifest.json`.

The stages, in order; each one can refuse, and nothing reaches `out` before the last:

1. detect the framework and convert in this process with the field's converter
   (skl2onnx, torch.onnx, tf2onnx) into a private work folder; ONNX files are read as they are;
2. refuse unsafe external data and models over the size budget, then check the candidate in a
   subprocess: onnx.checker (full, with strict shape inference) and an onnxruntime session;
3. parity inputs: the user's sample, or rows generated from the signature; run the original
   and the candidate, compare (stage "converted");
4. optimize offline at the BASIC level, run it as the handler will (runtime level ALL) and
   compare with the original again (stage "optimized"); with `quantize="int8"`, quantize,
   optimize, compare with looser tolerances (stage "quantized"). Why these levels:
   `deployer/model/optimize.py`;
5. measure the final file against a default session on the original (session creation and
   `session.run`); if it is clearly slower, ship the converted model unoptimized instead;
   build the manifest and check it;
6. publish: the old manifest is removed first, the model replaced, the manifest written last,
   each by an atomic rename — a folder is an artifact only once its manifest is there. The
   measurements go beside the folder (`deployer/model/report.py`), never into it.

Repeatable: every byte in the folder is a function of the inputs (model, sample, options and the
versions of the toolchain). Converters' set/dict orders are canonicalized (`_onnxutil`), parity
runs use one onnxruntime thread, baseline statistics are rounded, and nothing measured enters
the manifest. tests/unit/model/test_repeatable.py converts each framework's model in processes
with different PYTHONHASHSEED values and compares the folders byte by byte.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deployer.errors import ConfigError
from deployer.model import _onnxutil
from deployer.model import optimize as opt
from deployer.model.detect import detect
from deployer.model.errors import ModelCrashError, ModelError, ParityError
from deployer.model.from_onnx import read_proto
from deployer.model.manifest import check_manifest
from deployer.model.pickles import pickle_evidence
from deployer.model.report import machine, report_path, write_report
from deployer.model.parity import StageReport, Tolerance, compare
from deployer.model.safety import (
    DEFAULT_SIZE_BUDGET, PICKLE_SUFFIXES, check_external_data, check_size_budget,
    refuse_untrusted_pickle,
)
from deployer.model.samples import (
    RawSample, baseline, fit_sample, generate, manifest_sample, prediction_baseline, read_sample, sample_rows,
    unsendable,
)
from deployer.model.signature import TensorSpec, spec_from_dict
from deployer.model.source import Converted, SourceOptions
from deployer.model.worker import Worker, load_arrays, save_arrays
from functions.manifest import MANIFEST_FILE, MODEL_FILE, SCHEMA_VERSION, sha256_file

__all__ = ["convert", "ConvertResult"]

QUANTIZE_MODES = ("int8",)


@dataclass(frozen=True)
class ConvertResult:
    """Where the artifact is and what its manifest says."""

    out: Path
    manifest: dict[str, Any]
    report: dict[str, Any] | None = None  # measurements, also in `report_path` (not in the artifact)
    report_path: Path | None = None

    @property
    def model_path(self) -> Path:
        return self.out / MODEL_FILE

    @property
    def manifest_path(self) -> Path:
        return self.out / MANIFEST_FILE

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def summary(self) -> dict[str, Any]:
        """The manifest's headline figures, for `--json` and the CLI's table."""
        m = self.manifest
        parity = m["parity"]
        o = m["optimization"]
        return {
            "name": m["name"],
            "version": m["version"],
            "out": str(self.out),
            "framework": m["source"]["framework"],
            "converter": m["source"]["converter"],
            "model": {k: m["model"][k] for k in ("file", "sha256", "size_bytes", "opset", "ir_version")},
            "inputs": m["inputs"],
            "outputs": m["outputs"],
            "labels": m["labels"],
            "parity": {k: parity[k] for k in ("passed", "rows", "inputs", "final_stage", "label_agreement",
                                               "argmax_agreement", "max_abs_error", "max_rel_error", "tolerance")},
            "optimization": o,
            "notes": m["notes"],
            "measured": self.report,
            "report": str(self.report_path) if self.report_path else None,
        }


# Memory addresses in a converter's message ("<function f at 0x7f3a...>") change from run to run.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")

# Above this size the weights are written as external data, which onnxruntime memory-maps.
EXTERNAL_DATA_MIN_BYTES = 4 * 1024 * 1024


def convert(
    source: Any,
    *,
    out: str | os.PathLike[str],
    framework: str = "auto",
    sample: Any = None,
    quantize: str | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    trust_pickle: bool = False,
    progress: Callable[[str], None] | None = None,
    name: str | None = None,
    labels: Sequence[Any] | None = None,
    opset: int | None = None,
    size_budget: int = DEFAULT_SIZE_BUDGET,
    external_data: bool | None = None,
    worker: Worker | None = None,
) -> ConvertResult:
    """Convert `source` (a path or an in-memory model) and write `out/model.onnx` + `out/manifest.json`.

    With external data the weights go to `out/model.onnx.data`, which onnxruntime
    memory-maps: session creation of a ResNet-18 drops from ~53 to ~14 ms and peak memory from
    ~110 to ~61 MB (bench/optimize.py). `external_data=None` (the default) decides by size:
    models over EXTERNAL_DATA_MIN_BYTES get it, small ones stay one file. Raises a `deployer.errors.DeployerError` subclass,
    having written nothing to `out`, when the model is refused, cannot be converted, or does not
    match the original within tolerance.
    """
    say = progress or (lambda message: None)
    out = Path(out)
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise ConfigError(f"--quantize {quantize!r} is not supported; use one of {', '.join(QUANTIZE_MODES)}")
    for flag, value in (("--atol", atol), ("--rtol", rtol)):
        if value is not None and not (value >= 0 and np.isfinite(value)):
            raise ConfigError(f"{flag} must be a finite number >= 0, got {value}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for model.onnx and manifest.json")
    if isinstance(source, (str, Path)) and Path(source).is_file() and not trust_pickle:
        evidence = pickle_evidence(Path(source))  # from the bytes, before any loader, whatever name or framework
        if evidence:
            refuse_untrusted_pickle(Path(source), evidence)
    fw = detect(source, framework)
    raw = read_sample(sample) if sample is not None else None
    worker = worker or Worker()
    with tempfile.TemporaryDirectory(prefix="deployer-convert-") as tmp:
        workdir = Path(tmp)
        converted = _load(source, fw, SourceOptions(workdir, raw, trust_pickle, say, opset))
        if labels is not None:
            converted.labels = list(labels)
        pipeline = _Pipeline(converted, workdir, worker, say, raw, Tolerance(atol, rtol), quantize,
                             size_budget, external_data)
        manifest = pipeline.run(_name(name, out, source))
        check_manifest(manifest, str(out / MANIFEST_FILE))
        say(f"writing {out / MODEL_FILE} and {out / MANIFEST_FILE}")
        _publish(workdir / "final", manifest, out)
    report = {"report": 1, "name": manifest["name"], "version": manifest["version"], "folder": str(out.resolve()),
              **pipeline.measured}
    try:
        where: Path | None = write_report(report_path(out), report)
    except OSError as exc:  # the artifact is complete; only the measurements have nowhere to go
        where = None
        report["warnings"].append(f"the convert report could not be written beside {out}: {exc}")
    return ConvertResult(out, manifest, report, where)


def _name(name: str | None, out: Path, source: Any) -> str:
    candidate = name or out.resolve().name or (Path(source).stem if isinstance(source, (str, Path)) else "model")
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", candidate).strip("-._")[:63]
    if name is not None and clean != name:
        raise ConfigError(f"model name {name!r} may hold only letters, digits, '.', '_' and '-' "
                          "(it becomes part of the URL /v2/models/<name>)")
    return clean or "model"


def _load(source: Any, fw: str, opts: SourceOptions) -> Converted:
    """Run the framework's converter; pickles are refused here unless trusted."""
    path = Path(source) if isinstance(source, (str, Path)) else None
    where = str(path) if path else f"in-memory {type(source).__name__}"
    if path is not None and not path.exists():
        raise ModelError(f"{path}: no such file")
    if fw == "onnx":
        from deployer.model.from_onnx import from_proto, load_onnx_file

        return load_onnx_file(path, opts) if path else from_proto(source, opts)
    if fw == "tflite":
        from deployer.model.from_tf import convert_tflite

        if path is None:
            raise ConfigError("a TFLite model is converted from its .tflite file; pass the path")
        return convert_tflite(path, opts)
    obj = source
    if path is not None:
        obj = _load_file(path, fw, opts)
    actual = _framework_of_loaded(obj, path) if fw == "sklearn" and path is not None else fw
    if actual == "sklearn":
        from deployer.model.from_sklearn import convert_sklearn

        return convert_sklearn(obj, opts, where)
    if actual == "torch":
        from deployer.model.from_torch import convert_torch

        return convert_torch(obj, opts, where)
    if actual == "keras":
        from deployer.model.from_tf import convert_keras

        return convert_keras(obj, opts, where)
    return _load(obj, actual, opts)


def _framework_of_loaded(obj: Any, path: Path) -> str:
    try:
        return detect(obj)
    except ConfigError as exc:
        raise ModelError(f"{path} loaded as a {type(obj).__module__}.{type(obj).__name__}, which is not a "
                         "scikit-learn, PyTorch or Keras model; pass the file the model was saved to") from exc


def _load_file(path: Path, fw: str, opts: SourceOptions) -> Any:
    if fw == "sklearn":
        from deployer.model.from_sklearn import load_sklearn_file

        if path.suffix.lower() in PICKLE_SUFFIXES | {""} and not opts.trust_pickle:
            refuse_untrusted_pickle(path)  # named as a pickle but not one by content: still not loaded untrusted
        opts.progress(f"loading {path} (trusted pickle)" if opts.trust_pickle else f"loading {path}")
        return load_sklearn_file(path, opts)
    if fw == "torch":
        from deployer.model.from_torch import load_torch_file

        opts.progress(f"loading {path}")
        return load_torch_file(path, opts)
    if fw == "keras":
        from deployer.model.from_tf import load_keras_file

        opts.progress(f"loading {path} (importing TensorFlow)")
        return load_keras_file(path, opts)
    raise ConfigError(f"cannot load {path} as {fw}")


class _Pipeline:
    """Stages 2-5 for one converted candidate, inside the private work folder."""

    def __init__(self, converted: Converted, workdir: Path, worker: Worker, say: Callable[[str], None],
                 raw: RawSample | None, tol: Tolerance, quantize: str | None, budget: int,
                 external_data: bool | None = None) -> None:
        self.c = converted
        self.workdir = workdir
        self.worker = worker
        self.say = say
        self.raw = raw
        self.tol = tol
        self.quantize = quantize
        self.budget = budget
        self.external_data = external_data
        self.notes = list(converted.notes)  # deterministic facts, into the manifest
        self.warnings: list[str] = []  # from measurements, into the report only
        self.measured: dict[str, Any] = {}
        self.batch: int | None = None

    def _run(self, model: Path, optimization: str, feeds_path: Path, batch: int | None, tag: str) -> dict[str, np.ndarray]:
        result_path = self.workdir / f"outputs-{tag}.npz"
        self.worker.call("run", model, inputs=str(feeds_path), outputs=str(result_path),
                         optimization=optimization, batch=batch)
        return load_arrays(result_path)

    def _fail(self, report: StageReport, rows: int, kind: str) -> ParityError:
        words = {
            "converted": f"the converted model ({self.c.producer}) does not predict what the original does",
            "optimized": "the offline-optimized model does not predict what the original does",
            "quantized": "the int8-quantized model differs from the original beyond the quantization tolerance",
        }
        hint = {
            "converted": "Check that the model uses only operations the converter supports; if the difference "
                         "is acceptable, pass --atol/--rtol",
            "optimized": "This is an onnxruntime optimization problem; please report it with the model",
            "quantized": "Convert without --quantize, or pass --atol/--rtol if the loss is acceptable",
        }[report.stage]
        return ParityError(
            f"parity check failed for {self.c.source}: {words[report.stage]} on {rows} {kind} rows — "
            + "; ".join(report.failures) + f". Nothing was written. {hint}", report.to_dict())

    def run(self, name: str) -> dict[str, Any]:
        c, say = self.c, self.say
        candidate = c.onnx_path
        cand_files = [candidate, *check_external_data(read_proto(candidate), candidate)]
        check_size_budget(opt.files_size(cand_files), f"the ONNX model from {c.source}", self.budget)
        say("checking the ONNX model in a subprocess (onnx.checker full check, shape inference, onnxruntime)")
        info = self.worker.call("check", candidate)
        try:
            inputs = [spec_from_dict(d) for d in info["inputs"]]
            outputs = [spec_from_dict(d) for d in info["outputs"]]
        except (ValueError, KeyError) as exc:
            raise ModelError(f"{c.source}: {exc}") from exc
        _unique_names(c.source, "input", inputs)
        _unique_names(c.source, "output", outputs)
        _no_empty_inputs(c.source, inputs)
        if self.raw is not None:
            feeds, kind = fit_sample(self.raw, inputs), "sample"
        else:
            feeds, kind = generate(inputs), "generated"
            self.notes.append(f"parity ran on {len(next(iter(feeds.values())))} rows generated from the signature "
                              "(standard normal floats, small integers); pass --sample for realistic rows")
        rows = len(next(iter(feeds.values()))) if feeds else 0
        batches = {s.batch for s in inputs if s.batch is not None}
        batch = batches.pop() if len(batches) == 1 else None
        self.batch = batch
        feeds_path = save_arrays(self.workdir / "inputs.npz", feeds)
        feeds = load_arrays(feeds_path)  # exactly what the subprocess sees (strings as numpy str)

        stages: dict[str, StageReport] = {}
        if c.reference is not None:
            say(f"running the original model ({c.reference_name}) on {rows} {kind} rows")
            try:
                expected = _call_in_chunks(c.reference, feeds, batch)
            except Exception as exc:  # the user's model raised on the parity inputs
                raise ModelError(f"the original model failed on the parity inputs: {type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:400]}") from exc
            say("running the converted model with onnxruntime and comparing")
            got = self._run(candidate, "default", feeds_path, batch, "converted")
            stages["converted"] = compare("converted", expected, got, outputs, self.tol, c.scores_for)
            if not stages["converted"].passed:
                raise self._fail(stages["converted"], rows, kind)
        else:
            say(f"running the ONNX model as given on {rows} {kind} rows")
            expected = self._run(candidate, "default", feeds_path, batch, "original")

        say(f"optimizing offline with onnxruntime (level {opt.OFFLINE_LEVEL}; the handler adds level "
            f"{opt.RUNTIME_LEVEL} on its own CPU)")
        optimized = opt.optimize(self.worker, candidate, self.workdir / "optimized")
        got = self._run(optimized, opt.RUNTIME_LEVEL, feeds_path, batch, "optimized")
        stages["optimized"] = compare("optimized", expected, got, outputs, self.tol, c.scores_for)
        if not stages["optimized"].passed:
            raise self._fail(stages["optimized"], rows, kind)
        _declared_shapes(c.source, outputs, got, rows, chunked=batch is not None)
        final, final_stage, offline = optimized, "optimized", opt.OFFLINE_LEVEL

        quantization = None
        q_measure = None
        if self.quantize == "int8":
            say("quantizing weights to int8 (dynamic quantization)")
            quantized = opt.quantize_int8(self.worker, candidate, self.workdir / "quantized.onnx")
            q_opt = opt.optimize(self.worker, quantized, self.workdir / "quantized-optimized")
            q_got = self._run(q_opt, opt.RUNTIME_LEVEL, feeds_path, batch, "quantized")
            q_tol = Tolerance(self.tol.atol, self.tol.rtol, quantized=True)
            stages["quantized"] = compare("quantized", expected, q_got, outputs, q_tol, c.scores_for)
            if not stages["quantized"].passed:
                raise self._fail(stages["quantized"], rows, kind)
            say("measuring latency before and after quantization")
            q_measure = self._measure(optimized, q_opt, feeds_path)
            before, after = opt.files_size(opt.model_files(optimized)), opt.files_size(opt.model_files(q_opt))
            quantization = {"mode": "dynamic-int8", "size_bytes_before": before, "size_bytes_after": after}
            if "Conv" in info.get("node_types", []):
                self.notes.append("dynamic int8 quantization on a convolutional model is usually slower; "
                                  "static (QDQ) quantization with calibration data suits it better")
            final, final_stage = q_opt, "quantized"

        say("measuring the artifact against a default session on the original (session creation and run)")
        measured = self._measure(candidate, final, feeds_path)
        verdicts = [opt.judge(w, measured[f"{w}_samples_ms"][0], measured[f"{w}_samples_ms"][1]) for w in ("session", "run")]
        fallback = False
        if self.quantize is None and any(v.clearly_slower for v in verdicts):
            say("the optimized model measured clearly slower than the original; measuring again")
            measured = self._measure(candidate, final, feeds_path)
            verdicts = [opt.judge(w, measured[f"{w}_samples_ms"][0], measured[f"{w}_samples_ms"][1])
                        for w in ("session", "run")]
            if any(v.clearly_slower for v in verdicts):
                fallback = True
                self.warnings.append("the offline-optimized model was clearly slower than the original at onnxruntime's "
                                     "default settings (" + "; ".join(v.describe(v.what) for v in verdicts)
                                     + "); the converted model ships without offline optimization")
                self.notes.append("offline optimization was dropped: the optimized model measured clearly slower than "
                                  "the converted model at onnxruntime's default settings")
                stages["unoptimized"] = stages["converted"] if "converted" in stages else compare(
                    "unoptimized", expected, expected, outputs, self.tol, c.scores_for)  # it made `expected`
                final, final_stage, offline = candidate, "unoptimized", None
                measured = self._measure(candidate, final, feeds_path)
                verdicts = [opt.judge(w, measured[f"{w}_samples_ms"][0], measured[f"{w}_samples_ms"][1])
                            for w in ("session", "run")]
        for v in verdicts:
            if v.slower:
                self.warnings.append(f"the artifact measured slower than the original at onnxruntime's default "
                                     f"settings: {v.describe('session creation' if v.what == 'session' else 'session.run')}")
        self.measured = self._report(info, measured, verdicts, offline, fallback, q_measure)

        final_files = opt.model_files(final)
        final_size = opt.files_size(final_files)
        check_size_budget(final_size, "the optimized model", self.budget)
        self._stage_final(final, final_files)
        parity = self._parity(stages, final_stage, rows, kind, outputs)
        small = None
        keep, why = sample_rows(feeds, batch)
        if why:
            self.notes.append(why)
        else:
            head = {k: v[:keep] for k, v in feeds.items()}
            head_path = save_arrays(self.workdir / "sample.npz", head)
            try:
                answers = self._run(final, opt.RUNTIME_LEVEL, head_path, batch, "sample")
            except ModelError as exc:
                raise (ModelCrashError if isinstance(exc, ModelCrashError) else ModelError)(
                    f"{c.source}: the model ran on {rows} {kind} rows at once but fails on the first {keep} alone, "
                    f"although its signature accepts any number of rows ({exc}); it works only with some batch "
                    "sizes (an exported shape fixed to the tracing batch?): export it again with a batch dimension "
                    "that works for every size, or a fixed one") from exc
            why = unsendable(head, answers)
            if why:
                self.notes.append(why)
            else:
                small = manifest_sample(head, answers)
        predictions = None
        if kind == "sample":  # the original's predictions on the user's rows; the final model's where it has none
            predictions = prediction_baseline(outputs, {**got, **expected}, c.labels, tuple(c.scores_for.values()))
        else:
            self.notes.append("no drift baseline: drift monitoring needs the training rows (pass --sample)")
        return self._manifest(name, info, inputs, outputs, parity, baseline(feeds, kind), predictions, small, {
            "level": offline or "none",
            "runtime_level": opt.RUNTIME_LEVEL,
            "original": {"size_bytes": opt.files_size(cand_files)},
            "optimized": {"size_bytes": final_size},
            "quantization": quantization,
        })

    def _measure(self, original: Path, artifact: Path, feeds_path: Path) -> dict[str, Any]:
        """The original at onnxruntime's defaults against `artifact` as the handler opens it."""
        return self.worker.call("measure", artifact, inputs=str(feeds_path), rounds=5, rows=self.batch or 1, models=[
            {"path": str(original), "optimization": "default"},
            {"path": str(artifact), "optimization": opt.RUNTIME_LEVEL}])

    def _report(self, info: dict[str, Any], measured: dict[str, Any], verdicts: list[opt.Verdict],
                offline: str | None, fallback: bool, q_measure: dict[str, Any] | None) -> dict[str, Any]:
        """What goes beside the artifact (deployer/model/report.py), never into it."""
        session, run = verdicts
        quantization = None
        if q_measure is not None:
            q = opt.judge("run", q_measure["run_samples_ms"][0], q_measure["run_samples_ms"][1])
            quantization = {"run_ms_before": round(q.original_ms, 6), "run_ms_after": round(q.artifact_ms, 6),
                            "ratio": round(q.ratio, 4), "min_ratio": round(q.min_ratio, 4), "verdict": q.words}
            if q.slower:
                self.warnings.append(f"int8 quantization made inference slower: {q.describe('session.run, 1 row')}")
        return {
            "machine": machine(info["onnxruntime"]),
            "original": {"graph_optimization_level": "all", "session_ms": round(session.original_ms, 4),
                         "run_ms": round(run.original_ms, 6)},
            "artifact": {"offline_level": offline or "none", "graph_optimization_level": opt.RUNTIME_LEVEL,
                         "session_ms": round(session.artifact_ms, 4), "run_ms": round(run.artifact_ms, 6)},
            "session": {"ratio": round(session.ratio, 4), "min_ratio": round(session.min_ratio, 4),
                        "verdict": session.words},
            "run": {"ratio": round(run.ratio, 4), "min_ratio": round(run.min_ratio, 4), "verdict": run.words},
            "fallback": fallback, "rounds": len(measured["session_samples_ms"][0]), "reps": measured["reps"],
            "quantization": quantization,
            "warnings": self.warnings,
        }

    def _stage_final(self, final: Path, files: list[Path]) -> None:
        """Gather model.onnx and its external data in workdir/final for publishing."""
        folder = self.workdir / "final"
        folder.mkdir()
        external = self.external_data
        if external is None:
            external = final.stat().st_size > EXTERNAL_DATA_MIN_BYTES
        import onnx

        if external and len(files) == 1:
            proto = _onnxutil.canonicalize(onnx.load(str(final)))
            onnx.save(proto, str(folder / MODEL_FILE), save_as_external_data=True,
                      all_tensors_to_one_file=True, location=opt.EXTERNAL_DATA_NAME, size_threshold=1024)
            return
        # the graph in canonical form; external data, if any, copied as it is (its offsets stay valid)
        onnx.save(_onnxutil.canonicalize(onnx.load(str(final), load_external_data=False)), str(folder / MODEL_FILE))
        for extra in files[1:]:
            shutil.copyfile(extra, folder / extra.name)

    def _parity(self, stages: dict[str, StageReport], final_stage: str, rows: int, kind: str,
                outputs: list[TensorSpec]) -> dict[str, Any]:
        last = stages[final_stage]
        values = {n: e for n, e in last.outputs.items() if e["kind"] == "values"}
        return {
            "passed": all(s.passed for s in stages.values()),
            "rows": rows,
            "inputs": kind,
            "reference": self.c.reference_name,
            "final_stage": final_stage,
            "label_agreement": last.label_agreement,
            "argmax_agreement": {n: e["argmax_agreement"] for n, e in values.items() if "argmax_agreement" in e},
            "max_abs_error": {n: e["max_abs_error"] for n, e in values.items()},
            "max_rel_error": {n: e["max_rel_error"] for n, e in values.items()},
            "tolerance": {n: {"atol": e["atol"], "rtol": e["rtol"]} for n, e in values.items()},
            "stages": {k: v.to_dict() for k, v in stages.items()},
        }

    def _manifest(self, name: str, info: dict[str, Any], inputs: list[TensorSpec], outputs: list[TensorSpec],
                  parity: dict[str, Any], stats: dict[str, Any], predictions: dict[str, Any] | None,
                  small: dict[str, Any] | None, optimization: dict[str, Any]) -> dict[str, Any]:
        folder = self.workdir / "final"
        model_path = folder / MODEL_FILE
        final_proto = read_proto(model_path)
        externals = check_external_data(final_proto, model_path)
        opsets = {imp.domain or "ai.onnx": int(imp.version) for imp in final_proto.opset_import}
        digest = sha256_file(str(model_path))
        c = self.c
        return {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "version": digest[:12],
            "model": {
                "file": MODEL_FILE,
                "sha256": digest,
                "size_bytes": model_path.stat().st_size,
                "opset": opsets.get("ai.onnx"),
                "opsets": opsets,
                "ir_version": int(final_proto.ir_version),
                "producer": c.producer,
                "external_data": [{"file": p.name, "sha256": sha256_file(str(p)), "size_bytes": p.stat().st_size}
                                  for p in externals],
            },
            "runtime": {"onnxruntime": info["onnxruntime"],
                        "optimized": None if optimization["level"] == "none" else optimization["level"],
                        "graph_optimization_level": optimization["runtime_level"]},
            "inputs": [s.to_manifest() for s in inputs],
            "outputs": [s.to_manifest() for s in outputs],
            "labels": c.labels,
            "parity": parity,
            "baseline": stats,
            "predictions": predictions,
            "sample": small,
            "source": {"framework": c.framework, "file": Path(c.source).name if Path(c.source).exists() else None,
                       "converter": c.producer, "reference": c.reference_name},
            "optimization": optimization,
            "notes": [_ADDRESS.sub("0x…", n) for n in self.notes + [n for s in parity["stages"].values() for n in s["notes"]]],
        }


def _declared_shapes(source: str, outputs: list[TensorSpec], got: dict[str, np.ndarray], rows: int,
                     chunked: bool) -> None:
    """Refuse a model whose outputs contradict their declared fixed dimensions or rank.

    onnxruntime only logs a warning ("Expected shape from model of {-1,2} does not match actual
    shape of {3,3}"), and the manifest, the metadata route and the OpenAPI document would publish
    the declared shape, which clients rely on. The first axis is not checked when the rows ran in
    chunks of a fixed batch (the chunks' outputs are concatenated). A shape the graph leaves out
    (no dims at all) is not checked.
    """
    for spec in outputs:
        arr = got.get(spec.name)
        if arr is None or not spec.shape:
            continue
        wrong = arr.ndim != len(spec.shape) or any(
            isinstance(want, int) and want >= 0 and want != have and not (axis == 0 and chunked)
            for axis, (want, have) in enumerate(zip(spec.shape, arr.shape)))
        if wrong:
            raise ModelError(f"{source}: the model declares its output {spec.name!r} as {list(spec.shape)} but returns "
                             f"shape {list(arr.shape)} for {rows} rows, so its signature is wrong; fix the graph's "
                             "output shape (onnx.tools.update_model_dims, or export again) and convert again")


def _no_empty_inputs(source: str, inputs: list[TensorSpec]) -> None:
    """Refuse an input with a fixed dimension of 0: it holds no values, the handler refuses every
    empty tensor (so the model could never answer), and with a batch of 0 the parity check ran on
    no rows and convert ended on a pydantic dump about `parity.rows`."""
    for spec in inputs:
        if any(isinstance(d, int) and d == 0 for d in spec.shape):
            raise ModelError(f"{source}: input {spec.describe()} has a dimension fixed to 0, so it can hold no "
                             "values and no request could ever be answered; fix the model's declared input shape "
                             "(a dynamic or positive size) and convert again")


def _unique_names(source: str, kind: str, specs: list[TensorSpec]) -> None:
    """Refuse two inputs or two outputs of one name: onnx.checker and onnxruntime accept a graph
    output listed twice, but the protocols answer by name, and the parity run and the manifest
    sample merged the two (a 3-row sample carried 6 labels)."""
    names = [s.name for s in specs]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise ModelError(f"{source}: the model has {names.count(twice)} {kind}s named {twice!r}; {kind} names must "
                         f"be unique (requests and answers name each {kind}). Export the model again with "
                         f"distinct {kind} names")


def _call_in_chunks(reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                    feeds: dict[str, np.ndarray], batch: int | None) -> dict[str, np.ndarray]:
    """Run the original on all rows at once, or in chunks of a fixed batch size."""
    rows = len(next(iter(feeds.values()))) if feeds else 0
    if not batch or batch >= rows:
        return {k: np.asarray(v) for k, v in reference(feeds).items()}
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, rows, batch):
        for k, v in reference({n: a[start:start + batch] for n, a in feeds.items()}).items():
            parts.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _publish(staged: Path, manifest: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).unlink(missing_ok=True)  # the folder stops being an artifact until the end
    for item in sorted(staged.iterdir(), key=lambda p: p.name != MODEL_FILE):
        tmp = out / f".{item.name}.tmp"
        shutil.copyfile(item, tmp)
        os.replace(tmp, out / item.name)
    tmp = out / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST_FILE)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


