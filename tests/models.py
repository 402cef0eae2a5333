"""Small ONNX models built in code for the tests (table-driven, no files in the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from functions.manifest import MODEL_FILE, SCHEMA_VERSION, sha256_file

OPSET = 17
ONNX_TYPES = {
    "BOOL": TensorProto.BOOL, "INT8": TensorProto.INT8, "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32, "INT64": TensorProto.INT64, "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16, "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64,
    "FP16": TensorProto.FLOAT16, "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def two_input_model(path: Path) -> Path:
    """a: FP32 [N,3], b: INT64 [N,3] → total = a + float(b) (FP32), doubled = 2*b (INT64)."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["b"], ["b_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a", "b_float"], ["total"]),
            helper.make_node("Add", ["b", "b"], ["doubled"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("b", TensorProto.INT64, ["N", 3]),
        ],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("doubled", TensorProto.INT64, ["N", 3]),
        ],
    )
    return _save(graph, path)


def identity_model(path: Path, datatype: str, shape: list[int | str] | None = None) -> Path:
    """y = x for one datatype, shape [N, 2] by default."""
    dims = shape or ["N", 2]
    kind = ONNX_TYPES[datatype]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        f"identity_{datatype.lower()}",
        [helper.make_tensor_value_info("x", kind, dims)],
        [helper.make_tensor_value_info("y", kind, dims)],
    )
    return _save(graph, path)


def write_manifest(folder: Path, name: str, inputs: list[dict], outputs: list[dict], **extra: object) -> Path:
    """manifest.json for folder/model.onnx, in the shared schema."""
    import json

    model_file = folder / MODEL_FILE
    digest = sha256_file(str(model_file))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": digest[:12],
        "model": {"file": MODEL_FILE, "sha256": digest, "size_bytes": model_file.stat().st_size,
                  "opset": OPSET, "ir_version": 8, "producer": "tests"},
        "runtime": {"onnxruntime": "any", "optimized": None},
        "inputs": inputs,
        "outputs": outputs,
        **extra,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "manifest.json"


def two_input_folder(folder: Path, name: str = "pair") -> Path:
    two_input_model(folder / MODEL_FILE)
    write_manifest(
        folder,
        name,
        [{"name": "a", "datatype": "FP32", "shape": ["N", 3]}, {"name": "b", "datatype": "INT64", "shape": ["N", 3]}],
        [{"name": "total", "datatype": "FP32", "shape": ["N", 3]}, {"name": "doubled", "datatype": "INT64", "shape": ["N", 3]}],
    )
    return folder


def sample_pair(rows: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 3)).astype(np.float32), rng.integers(-1000, 1000, size=(rows, 3))
