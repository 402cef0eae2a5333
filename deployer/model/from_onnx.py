"""ONNX sources: read the protobuf only, refuse unsafe external data, hand the file on as is.

The full check (onnx.checker with strict shape inference, then an onnxruntime session) happens
in the checking subprocess like for every other source; here we only make sure the file is an
ONNX model at all and that its external data stays inside its folder, before anything reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployer.model import _onnxutil
from deployer.model.errors import ModelError, UnsafeModelError
from deployer.model.safety import check_external_data, external_locations
from deployer.model.source import Converted, SourceOptions

__all__ = ["load_onnx_file", "from_proto"]


def read_proto(path: Path) -> Any:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} is not a readable ONNX model (truncated or another format?): {exc}") from exc
    if not model.HasField("graph") or not model.graph.output:
        raise ModelError(f"{path} is not a complete ONNX model: it has no graph outputs (a truncated or empty "
                         "file?); export it again")
    bad = _not_text(model)
    if bad is not None:
        what, value = bad
        raise ModelError(f"{path}: the {what} {value[:60]!r} is not UTF-8 text, as ONNX strings must be (a corrupted "
                         "file?); export the model again")
    return model


def _not_text(model: Any) -> tuple[str, bytes] | None:
    """The first name the pipeline reads that is not UTF-8, or None.

    protobuf hands a proto2 string field that is not UTF-8 back as bytes; two flipped bits in an
    opset domain made the checking subprocess's reply (opsets by domain) unwritable as JSON.
    """
    graph = model.graph
    fields: list[tuple[str, Any]] = [("opset domain", imp.domain) for imp in model.opset_import]
    fields += [("producer name", model.producer_name), ("producer version", model.producer_version)]
    fields += [("graph input name", vi.name) for vi in graph.input]
    fields += [("graph output name", vi.name) for vi in graph.output]
    for node in graph.node:
        fields += [("operator type", node.op_type), ("operator domain", node.domain)]
    return next(((what, value) for what, value in fields if isinstance(value, bytes)), None)


def load_onnx_file(path: Path, opts: SourceOptions) -> Converted:
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path} is empty; export the model again")
    model = read_proto(path)
    check_external_data(model, path)
    producer = f"{model.producer_name} {model.producer_version}".strip() or "unknown"
    return Converted("onnx", path, producer, None, "the ONNX file with onnxruntime's default session options",
                     str(path))


def from_proto(model: Any, opts: SourceOptions) -> Converted:
    """An in-memory onnx.ModelProto: it must carry its weights (no external data without a folder)."""
    if external_locations(model):
        raise UnsafeModelError("the in-memory ONNX model refers to external data, which has no folder to be "
                               "checked against; pass the .onnx file's path instead")
    path = _onnxutil.save(model, opts.workdir / "candidate.onnx")
    producer = f"{model.producer_name} {model.producer_version}".strip() or "unknown"
    return Converted("onnx", path, producer, None, "the ONNX model with onnxruntime's default session options",
                     "in-memory onnx.ModelProto")
