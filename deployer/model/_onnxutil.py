"""Small edits of an ONNX ModelProto that every converter needs: names, canonical form and saving.

Canonical form (`canonicalize`, applied by `save` and to the final artifact): converters leak the
order of Python sets and dicts into the protobuf, which PYTHONHASHSEED changes from one process to
the next (skl2onnx's `opset_import`; tf2onnx's generated `name__N` counters). The model is the same
but its bytes, its sha256 and so its version are not. So `opset_import` is sorted by domain (one entry per domain),
`metadata_props` by key (the graph's and its parts' are exporters' debugging records, with file
paths in stack traces, and are dropped), and initializers follow the order in which nodes first use them;
`renumber_generated` renames a converter's counter-numbered names in order of first appearance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["rename_io", "name_batch_dim", "name_unknown_batch", "save", "default_io_names", "canonicalize",
           "renumber_generated", "PROTOBUF_LIMIT"]

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


def canonicalize(model: Any) -> Any:
    """Put the parts whose order means nothing in one order, in place (see the module docstring)."""
    versions: dict[str, int] = {}
    for imp in model.opset_import:  # skl2onnx may list a domain twice
        versions[imp.domain] = max(versions.get(imp.domain, 0), int(imp.version))
    del model.opset_import[:]
    for domain, version in sorted(versions.items(), key=lambda d: (d[0] != "", d[0])):
        entry = model.opset_import.add()
        entry.domain, entry.version = domain, version
    props = sorted(((p.key, p.value) for p in model.metadata_props))
    del model.metadata_props[:]
    for key, value in props:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    graph = model.graph
    # exporters' debugging records (torch: fx nodes, module paths, stack traces with file paths);
    # onnxruntime drops them when it writes the optimized file, so the unoptimized one does too
    for part in [graph, *graph.node, *graph.value_info, *graph.initializer, *graph.input, *graph.output]:
        if len(getattr(part, "metadata_props", ())):  # the field is from onnx 1.16 (IR 10) on
            del part.metadata_props[:]
    first_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            first_use.setdefault(name, i)
    for i, vi in enumerate(graph.output):
        first_use.setdefault(vi.name, len(graph.node) + i)
    if len(graph.initializer) > 1:
        order = sorted(range(len(graph.initializer)),
                       key=lambda k: (first_use.get(graph.initializer[k].name, len(graph.node) + len(graph.output)), k))
        if order != list(range(len(order))):
            tensors = [graph.initializer[k] for k in order]
            copies = [type(t)() for t in tensors]
            for copy, tensor in zip(copies, tensors):
                copy.CopyFrom(tensor)
            del graph.initializer[:]
            graph.initializer.extend(copies)
    return model


def renumber_generated(model: Any, pattern: str = r"^(?P<stem>.+?)__(?P<n>\d+)(?P<rest>(:\d+)?)$") -> None:
    """Renumber names made by a converter's global counter (tf2onnx's `Relu__10`,
    `const_fold_opt__15`) in order of first appearance, in place. tf2onnx numbers them while it
    walks Python sets, so the same model got `const_fold_opt__14` and `__15` swapped from one
    PYTHONHASHSEED to another. Graph inputs and outputs keep their names."""
    graph = model.graph
    keep = {vi.name for vi in list(graph.input) + list(graph.output)}
    regex = re.compile(pattern)
    seen: list[str] = []
    for node in graph.node:
        seen += list(node.input) + list(node.output)
    seen += [t.name for t in graph.initializer] + [vi.name for vi in graph.value_info]
    mapping: dict[str, str] = {}
    for name in seen:
        if name in mapping or name in keep:
            continue
        found = regex.match(name)
        if found:
            mapping[name] = f"{found['stem']}__g{len(mapping)}{found['rest']}"
    nodes: dict[str, str] = {}
    for node in graph.node:
        found = regex.match(node.name) if node.name else None
        if found:
            nodes[node.name] = f"{found['stem']}__n{len(nodes)}{found['rest']}"
            node.name = nodes[node.name]
    if mapping:
        _graph_renamer(graph, mapping)
        for tensor in graph.initializer:
            tensor.name = mapping.get(tensor.name, tensor.name)


def save(model: Any, path: Path) -> Path:
    """Save in canonical form; weights go to `<file>.data` beside it when the protobuf would be too large."""
    import onnx

    canonicalize(model)
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
