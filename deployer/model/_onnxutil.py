"""Small edits of an ONNX ModelProto that every converter needs: names and saving."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["rename_io", "name_batch_dim", "name_unknown_batch", "save", "default_io_names", "PROTOBUF_LIMIT"]

PROTOBUF_LIMIT = 2 * 1000**3 - 64 * 1000**2  # protobuf caps a message at 2 GiB; keep a margin


def default_io_names(count: int, stem: str) -> list[str]:
    return [stem] if count == 1 else [f"{stem}{i}" for i in range(count)]


def _graph_renamer(graph: Any, mapping: Mapping[str, str]) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]
        for attr in node.attribute:
            if attr.HasField("g"):
                _graph_renamer(attr.g, mapping)  # subgraphs may use outer names
            for sub in attr.graphs:
                _graph_renamer(sub, mapping)
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.name in mapping:
            vi.name = mapping[vi.name]


def rename_io(model: Any, inputs: list[str], outputs: list[str]) -> None:
    """Rename the graph's inputs and outputs (in order) to the given names, in place."""
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    real_inputs = [vi.name for vi in graph.input if vi.name not in initializers]
    mapping = {old: new for old, new in zip(real_inputs, inputs) if old != new}
    mapping.update({old.name: new for old, new in zip(graph.output, outputs) if old.name != new})
    taken = {n for node in graph.node for n in list(node.input) + list(node.output)} | initializers
    if any(new in taken and new not in mapping for new in mapping.values()):
        return  # a new name is already used inside the graph: keep the converter's names
    if mapping:
        _graph_renamer(graph, mapping)


def name_batch_dim(model: Any, name: str = "batch") -> None:
    """Call the symbolic first dimension shared by all inputs `name` (exporters say s0, unk__7)."""
    graph = model.graph
    firsts = set()
    for vi in graph.input:
        dims = vi.type.tensor_type.shape.dim
        if not dims or not dims[0].dim_param:
            return
        firsts.add(dims[0].dim_param)
    if len(firsts) != 1 or name in firsts:
        return
    old = firsts.pop()
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        for dim in vi.type.tensor_type.shape.dim:
            if dim.dim_param == old:
                dim.dim_param = name


def save(model: Any, path: Path) -> Path:
    """Save; weights go to `<file>.data` beside it when the protobuf would be too large."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    if model.ByteSize() > PROTOBUF_LIMIT:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=1024)
    else:
        onnx.save(model, str(path))
    return path


def name_unknown_batch(model: Any, name: str = "batch") -> None:
    """Give anonymous first dimensions of inputs and outputs the name `name` (for converters whose
    every tensor is row-major, like skl2onnx's, which leaves them unnamed)."""
    for vi in list(model.graph.input) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value") and not dims[0].dim_param:
            dims[0].dim_param = name
