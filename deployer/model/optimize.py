"""Offline optimization, the runtime level it is paired with, and optional dynamic int8 quantization.

The decision: bake onnxruntime's BASIC level offline, and have the handler open the file at ALL
-------------------------------------------------------------------------------------------
`convert` writes the model through onnxruntime itself (`optimized_model_filepath`) at
ORT_ENABLE_BASIC: constant folding, redundant-node elimination, Conv+BatchNorm/Add/Mul fusions.
These rewrites are the same on every machine and every execution provider, so the file is a
function of the model alone. The manifest then says `runtime.graph_optimization_level = "all"`,
and the handler (`functions/model.py`) creates its session at ORT_ENABLE_ALL on Lambda's own
CPU: the EXTENDED fusions (FusedConv, FusedGemm, GELU, attention, ...; CPU-provider specific,
and some of them, the int8/QDQ ones, depend on the instruction set) and the NCHWc layouts (tied
to the CPU's vector width) are made where they will run.

Why not what the first wave did (EXTENDED offline, runtime optimizations off): onnxruntime then
never applies its layout transforms. Measured side by side (`python -m bench.optimize --rounds 15
--run-budget 5 --check`, three runs; one process, variants alternating round by round; 2 vCPU
AVX-512, onnxruntime 1.32; the machine was shared, load average 4-10, so ratios only: the median
of the per-round ratios and fastest over fastest), `session.run` at batch 1 against a default
session on the original file:

    model (batch 1)          EXTENDED + runtime off   EXTENDED + runtime ALL   BASIC + ALL: the artifact
    cnn4 (4 conv, 224x224)        2.27-2.65x               1.01-1.08x              0.96-1.06x
    ResNet-18                     1.39-1.78x               0.79-1.04x              0.90-1.00x
    MLP 784-512-256-10            0.64-0.98x               0.89-0.99x              0.77-0.99x

and session creation of the artifact 0.64-0.79x of the original's on ResNet-18 (BN and constant
folding are done once, offline; 0.44-0.52x with the weights memory-mapped as external data, peak
RSS 148 against 205 MB), 0.97-1.00x on cnn4, 0.68-0.92x on the MLP. EXTENDED offline buys
nothing measurable over BASIC once the runtime runs at ALL (it redoes those fusions anyway), and
would bake CPU-provider choices into a file meant to be a function of its inputs; BASIC is the
portable half of the work. Runtime ALL costs session creation against runtime off (ResNet-18:
~2x, ~60 ms on an idle machine), once per cold start, and wins 25-40% of every `session.run` of
a convolutional model. The bench prints these tables and `--check` exits 1 when the rule stops
holding (the artifact slower than the original beyond NOISE_RATIO by both estimators).

Per model, `convert` measures the artifact against a default session on the original file
(`measure`, session creation and one-row `session.run`, alternating) and reports it beside the
artifact (`<out>.convert-report.json`, see `deployer/model/report.py`), never in it: timings
differ from run to run. Only when the artifact is clearly slower, beyond FALLBACK_RATIO by the median
of the paired ratios, the ratio of the fastest runs and the ratio of the medians, and confirmed by a second
measurement, does convert ship the converted model without offline
optimization (opened at ALL, which is exactly a default session on it) and say so, in the
manifest (`optimization.level = "none"`) and on the console. Smaller differences are reported,
not acted on, so the artifact stays the same from one run to the next.

Dynamic int8 quantization (weights int8, activations quantized on the fly) speeds up MatMul/
Gemm-heavy models and slows convolutional ones down (PERF-NOTES: ResNet-18 3-5x slower), so it
is only done on request, re-checked for parity, and reported with size (in the manifest) and
latency before and after (in the report); a note warns when the model is convolutional.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import median

from deployer.model._onnxutil import PROTOBUF_LIMIT
from deployer.model.worker import Worker

__all__ = ["OFFLINE_LEVEL", "RUNTIME_LEVEL", "FALLBACK_RATIO", "NOISE_RATIO", "Verdict", "judge", "optimize",
           "quantize_int8", "files_size", "model_files", "EXTERNAL_DATA_NAME"]

OFFLINE_LEVEL = "basic"  # baked into model.onnx: manifest.optimization.level and runtime.optimized
RUNTIME_LEVEL = "all"  # the handler's session: manifest.runtime.graph_optimization_level
EXTERNAL_DATA_NAME = "model.onnx.data"
NOISE_RATIO = 1.10  # paired ratios within 10% are "the same" on this kind of machine (bench/RESULTS.md)
FALLBACK_RATIO = 1.5  # clearly slower: run or session creation at least 1.5x the original's ...
FALLBACK_MIN_MS = {"run": 0.05, "session": 20.0}  # ... and by more than this much, in ms


@dataclass(frozen=True)
class Verdict:
    """How one measured quantity of the artifact compares with the original's."""

    what: str  # "run" | "session"
    original_ms: float  # medians
    artifact_ms: float
    ratio: float  # median of the per-round ratios artifact / original
    min_ratio: float  # fastest artifact / fastest original: interference only ever adds time

    @property
    def _medians(self) -> float:
        return self.artifact_ms / self.original_ms if self.original_ms > 0 else float("nan")

    @property
    def slower(self) -> bool:
        # every estimator agrees: on a busy machine one of them alone flips now and then
        return min(self.ratio, self.min_ratio, self._medians) > NOISE_RATIO

    @property
    def faster(self) -> bool:
        return max(self.ratio, self.min_ratio, self._medians) < 1 / NOISE_RATIO

    @property
    def clearly_slower(self) -> bool:
        return (min(self.ratio, self.min_ratio, self._medians) >= FALLBACK_RATIO
                and self.artifact_ms - self.original_ms > FALLBACK_MIN_MS[self.what])

    @property
    def words(self) -> str:
        return "slower" if self.slower else "faster" if self.faster else "no measurable change"

    def describe(self, label: str) -> str:
        return (f"{label}: {_ms(self.original_ms)} → {_ms(self.artifact_ms)} ms (median {self.ratio:.2f}x, "
                f"fastest {self.min_ratio:.2f}x: {self.words}; within {NOISE_RATIO - 1:.0%} counts as no change)")


def _ms(value: float) -> str:
    """Enough digits to tell two small timings apart: 4 significant ones."""
    return f"{value:.4g}"


def judge(what: str, original: list[float], artifact: list[float]) -> Verdict:
    """Compare per-round samples taken in alternation (paired ratios cancel slow drift)."""
    ratios = [b / a for a, b in zip(original, artifact) if a > 0]
    fastest = min(original) if original else 0.0
    return Verdict(what, median(original), median(artifact), median(ratios) if ratios else float("nan"),
                   min(artifact) / fastest if fastest > 0 and artifact else float("nan"))


def model_files(path: Path, external: list[Path] | None = None) -> list[Path]:
    """The model file and the external-data files it refers to."""
    from deployer.model.from_onnx import read_proto
    from deployer.model.safety import check_external_data

    if external is None:
        external = check_external_data(read_proto(path), path)
    return [path, *external]


def files_size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def optimize(worker: Worker, source: Path, folder: Path, level: str = OFFLINE_LEVEL) -> Path:
    """Write `folder/model.onnx`; weights go to `folder/model.onnx.data` when the source keeps
    external data or is too large for one protobuf (onnxruntime would otherwise point the new
    file at the source's data)."""
    files = model_files(source)
    external = len(files) > 1 or files_size(files) > PROTOBUF_LIMIT
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.onnx"
    worker.call("optimize", source, output=str(target), level=level,
                external_data=EXTERNAL_DATA_NAME if external else None)
    return target


def quantize_int8(worker: Worker, source: Path, target: Path) -> Path:
    worker.call("quantize", source, output=str(target))
    return target
