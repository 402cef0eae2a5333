"""Offline optimization and optional dynamic int8 quantization, run in the checking subprocess.

The optimized graph is written by onnxruntime itself (`optimized_model_filepath`) at the
EXTENDED level: constant folding, redundant-node elimination, BatchNorm/Conv fusions and the
contrib fusions (GELU, attention, ...). It is portable across x86-64 CPUs; the ALL level adds
NCHWc layouts tied to the instruction set of the machine that wrote the file (PERF-NOTES), which
need not be Lambda's. The handler then opens the file with runtime optimizations disabled
(`manifest.runtime.optimized = "extended"`), which is where the session-creation time goes.

Dynamic int8 quantization (weights int8, activations quantized on the fly) speeds up MatMul/
Gemm-heavy models and slows convolutional ones down (PERF-NOTES: ResNet-18 3-5x slower), so it
is only done on request, re-checked for parity, and reported with size and latency before and
after; a note warns when the model is convolutional or got slower.
"""

from __future__ import annotations

from pathlib import Path

from deployer.model._onnxutil import PROTOBUF_LIMIT
from deployer.model.worker import Worker

__all__ = ["OPTIMIZATION_LEVEL", "optimize", "quantize_int8", "files_size", "model_files"]

OPTIMIZATION_LEVEL = "extended"
EXTERNAL_DATA_NAME = "model.onnx.data"


def model_files(path: Path, external: list[Path] | None = None) -> list[Path]:
    """The model file and the external-data files it refers to."""
    from deployer.model.from_onnx import read_proto
    from deployer.model.safety import check_external_data

    if external is None:
        external = check_external_data(read_proto(path), path)
    return [path, *external]


def files_size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def optimize(worker: Worker, source: Path, folder: Path, level: str = OPTIMIZATION_LEVEL) -> Path:
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
