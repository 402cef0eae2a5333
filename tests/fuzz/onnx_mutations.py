"""Seed models for convert fuzzing and seeded mutators of their bytes and of their protobuf.

Seeds (valid, each converts): a linear layer, Conv+BatchNorm, two inputs sharing N, an INT64
identity, the bundled iris classifier (ai.onnx.ml operators), a model with external weights, an
If with two subgraphs, and a string identity (converted with a sample: strings cannot be
generated).

Mutations, one to three per model, all drawn from one `random.Random`:
- bytes: bit flips, truncation, insertions, zeroed ranges, duplicated chunks, a foreign header;
- graph: nodes dropped, duplicated, reordered, rewired to missing or clashing names, bogus op
  types and domains, graph outputs removed or duplicated;
- types and shapes: element types (undefined, complex, float8, out of range), dims 0, -1, 2**40,
  2**62, odd symbols, ranks changed, huge fixed batches;
- initializers: dims that disagree with the data, truncated data, huge dims, changed types;
- external data: locations that climb out, are absolute, missing, empty, symlinks out, offsets
  and lengths past the file or not numbers;
- attributes: dropped, retyped, bogus, non-UTF-8 strings (b'\\xff\\xfe'), huge values;
- model: opsets 0 / 1 / 10**6 / missing, IR versions 0 / 99, bogus local functions,
  ConstantOfShape of 2**40 elements;
- names: one byte of a name, domain, op type or external-data location made invalid UTF-8 (the
  protobuf stays well formed; protobuf then hands the field back as bytes, not str).
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.models import OPSET, identity_model, two_input_model
from tests.unit.model.builders import onnx_conv_bn, onnx_linear, onnx_with_real_external_data

__all__ = ["SEEDS", "Seed", "build_seeds", "mutate_model"]

REPO = Path(__file__).resolve().parents[2]
HUGE_DIMS = [0, -1, -7, 2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1]
ELEM_TYPES = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 21, 22, 23, 40, 999, -1]
OP_TYPES = ["Foo", "", "Relu", "MatMul", "Conv", "Add", "Loop", "Scan", "If", "Constant", "Reshape", "Cast",
            "TreeEnsembleClassifier", "LinearClassifier", "Softmax", "Gemm", "Identity", "Split", "Concat",
            "ConstantOfShape", "Einsum", "Resize", "NonZero", "TopK", "Pad", "Sequence", "\u00e9", "Relu\x00"]
DOMAINS = ["", "ai.onnx.ml", "com.microsoft", "com.bogus", "ai.onnx", "ai.onnx.preview.training"]
LOCATIONS = ["../weights.bin", "/etc/passwd", "", "nope.bin", "C:\\weights.bin", "sub/../../weights.bin",
             "./weights.bin", "weights.bin/", "%2e%2e/weights.bin", "weights.bin\\..\\..\\x", "/",
             "..", ".", "link.bin", "weights.bin"]


@dataclass(frozen=True)
class Seed:
    name: str
    folder: Path  # holds model.onnx (and its external data)
    sample: Any = None  # for models whose inputs cannot be generated


def _if_model(path: Path) -> Path:
    then_g = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N", 3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["N", 3])])
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
        "branches",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


SEEDS: dict[str, Callable[[Path], Seed]] = {
    "linear": lambda f: Seed("linear", onnx_linear(f / "model.onnx").parent),
    "convbn": lambda f: Seed("convbn", onnx_conv_bn(f / "model.onnx", channels=4, size=8).parent),
    "pair": lambda f: Seed("pair", two_input_model(f / "model.onnx").parent),
    "int64": lambda f: Seed("int64", identity_model(f / "model.onnx", "INT64").parent),
    "iris": lambda f: Seed("iris", _copy(REPO / "examples" / "iris" / "model" / "model.onnx", f)),
    "external": lambda f: Seed("external", onnx_with_real_external_data(f).parent),
    "if": lambda f: Seed("if", _if_model(f / "model.onnx").parent),
    "strings": lambda f: Seed("strings", identity_model(f / "model.onnx", "BYTES").parent,
                              sample=np.array([["a", "b"], ["é", ""], ["日本", "x"]])),
}


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _copy(source: Path, folder: Path) -> Path:
    _mkdir(folder)
    shutil.copyfile(source, folder / "model.onnx")
    return folder


def build_seeds(root: Path) -> dict[str, Seed]:
    return {name: make(_mkdir(root / name)) for name, make in SEEDS.items()}


# --- protobuf-level mutations: each takes (rng, model, folder) and says what it did, or None ---

def _nodes(model: onnx.ModelProto, rng: random.Random) -> Any:
    """A graph's node list: the main graph, or sometimes a subgraph's."""
    graphs = [model.graph]
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                graphs.append(attr.g)
    return rng.choice(graphs)


def _drop_node(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    graph = _nodes(m, rng)
    if not graph.node:
        return None
    i = rng.randrange(len(graph.node))
    del graph.node[i]
    return f"dropped node {i}"


def _dup_node(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    graph = _nodes(m, rng)
    if not graph.node:
        return None
    i = rng.randrange(len(graph.node))
    graph.node.insert(rng.randrange(len(graph.node) + 1), graph.node[i])
    return f"duplicated node {i}"


def _reorder(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    nodes = list(m.graph.node)
    if len(nodes) < 2:
        return None
    rng.shuffle(nodes)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return "nodes shuffled"


def _bogus_op(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    graph = _nodes(m, rng)
    if not graph.node:
        return None
    node = rng.choice(graph.node)
    if rng.random() < 0.7:
        node.op_type = rng.choice(OP_TYPES)
        return f"op type {node.op_type!r}"
    node.domain = rng.choice(DOMAINS)
    return f"op domain {node.domain!r}"


def _rewire(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    graph = _nodes(m, rng)
    if not graph.node:
        return None
    node = rng.choice(graph.node)
    names = [n for nd in m.graph.node for n in list(nd.input) + list(nd.output)] + [vi.name for vi in m.graph.input]
    new = rng.choice(names + ["", "missing", "x", "y", "W"])
    if node.input and rng.random() < 0.6:
        i = rng.randrange(len(node.input))
        node.input[i] = new
        return f"node input -> {new!r}"
    if node.output:
        i = rng.randrange(len(node.output))
        node.output[i] = new
        return f"node output -> {new!r}"
    node.input.append(new)
    return f"extra node input {new!r}"


def _io(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    graph = m.graph
    roll = rng.random()
    if roll < 0.25 and graph.output:
        del graph.output[rng.randrange(len(graph.output))]
        return "graph output removed"
    if roll < 0.45 and graph.input:
        graph.input.append(graph.input[rng.randrange(len(graph.input))])
        return "graph input duplicated"
    if roll < 0.6 and graph.output:
        graph.output.append(graph.output[0])
        return "graph output duplicated"
    if roll < 0.75 and graph.input:
        graph.input[rng.randrange(len(graph.input))].name = rng.choice(["", "y", "W", "b", "zero", " "])
        return "graph input renamed"
    if roll < 0.9 and graph.input:
        del graph.input[rng.randrange(len(graph.input))]
        return "graph input removed"
    graph.output.add().CopyFrom(helper.make_tensor_value_info("ghost", TensorProto.FLOAT, ["N"]))
    return "graph output nobody produces"


def _value_infos(m: onnx.ModelProto) -> list[Any]:
    return list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info)


def _dims(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    infos = [vi for vi in _value_infos(m) if vi.type.HasField("tensor_type")]
    if not infos:
        return None
    vi = rng.choice(infos)
    shape = vi.type.tensor_type.shape
    roll = rng.random()
    if roll < 0.5 and shape.dim:
        dim = shape.dim[rng.randrange(len(shape.dim))]
        if rng.random() < 0.75:
            dim.dim_value = rng.choice(HUGE_DIMS + [1, 2, 3, 5])
            return f"{vi.name} dim -> {dim.dim_value}"
        dim.dim_param = rng.choice(["N", "M", "", " ", "batch", "é", "-1", "0", "N" * 1000])
        return f"{vi.name} dim -> {dim.dim_param[:10]!r}"
    if roll < 0.65:
        shape.dim.add().dim_value = rng.choice([1, 2, 3, 2**40])
        return f"{vi.name} rank + 1"
    if roll < 0.8 and shape.dim:
        del shape.dim[rng.randrange(len(shape.dim))]
        return f"{vi.name} rank - 1"
    if roll < 0.9:
        vi.type.tensor_type.ClearField("shape")
        return f"{vi.name} shape removed"
    for d in shape.dim:  # a huge fixed batch (or every dim huge)
        d.dim_value = rng.choice([2**20, 2**31, 2**40])
        if rng.random() < 0.6:
            break
    return f"{vi.name} huge fixed dims"


def _elem_type(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    infos = [vi for vi in _value_infos(m) if vi.type.HasField("tensor_type")]
    if not infos:
        return None
    vi = rng.choice(infos)
    vi.type.tensor_type.elem_type = rng.choice(ELEM_TYPES)
    return f"{vi.name} elem_type {vi.type.tensor_type.elem_type}"


def _initializer(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    inits = list(m.graph.initializer)
    if not inits:
        return None
    t = rng.choice(inits)
    roll = rng.random()
    if roll < 0.25 and t.dims:
        t.dims[rng.randrange(len(t.dims))] = rng.choice(HUGE_DIMS + [1, 2, 5])
        return f"initializer {t.name} dims {list(t.dims)}"
    if roll < 0.4 and t.raw_data:
        t.raw_data = t.raw_data[: rng.randrange(len(t.raw_data))]
        return f"initializer {t.name} data truncated"
    if roll < 0.55:
        t.data_type = rng.choice(ELEM_TYPES)
        return f"initializer {t.name} type {t.data_type}"
    if roll < 0.7:
        t.dims.append(rng.choice([2**40, 0, 3]))
        return f"initializer {t.name} extra dim"
    if roll < 0.8:
        del m.graph.initializer[inits.index(t)]
        return f"initializer {t.name} removed"
    if roll < 0.9:
        m.graph.initializer.append(t)
        return f"initializer {t.name} duplicated"
    t.ClearField("raw_data")
    t.float_data.extend([1.0] * rng.choice([0, 1, 3]))
    return f"initializer {t.name} float_data"


def _external(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    inits = list(m.graph.initializer)
    if not inits:
        return None
    t = rng.choice(inits)
    if t.data_location != TensorProto.EXTERNAL:
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "48")):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
    entries = {e.key: e for e in t.external_data}
    roll = rng.random()
    if roll < 0.55 and "location" in entries:
        location = rng.choice(LOCATIONS)
        entries["location"].value = location
        if location == "link.bin":
            os.symlink("/etc/hostname" if rng.random() < 0.5 else "../../outside.bin", folder / "link.bin")
        if location == "weights.bin" and not (folder / "weights.bin").exists():
            (folder / "weights.bin").write_bytes(os.urandom(rng.choice([0, 7, 48, 4096])))
        return f"external location {location!r}"
    key = rng.choice(["offset", "length", "checksum", "location"])
    value = rng.choice(["-1", "abc", "", str(2**63), str(2**40), "4096", "1", "0x10", " 8"])
    entry = entries.get(key) or t.external_data.add()
    entry.key, entry.value = key, value
    if rng.random() < 0.2:
        t.data_location = TensorProto.DEFAULT  # external entries without the flag
    return f"external {key}={value!r}"


def _attribute(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    graph = _nodes(m, rng)
    nodes = [n for n in graph.node]
    if not nodes:
        return None
    node = rng.choice(nodes)
    roll = rng.random()
    if roll < 0.25 and node.attribute:
        del node.attribute[rng.randrange(len(node.attribute))]
        return f"{node.op_type} attribute removed"
    if roll < 0.45:
        node.attribute.append(helper.make_attribute(rng.choice(["bogus", "axis", "to", "kernel_shape"]),
                                                    rng.choice([b"\xff\xfe", 2**62, -1, [2**40, 0], 1.5])))
        return f"{node.op_type} attribute added"
    if roll < 0.65 and node.attribute:
        attr = rng.choice(node.attribute)
        attr.type = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 30])
        return f"{node.op_type}.{attr.name} type {attr.type}"
    if roll < 0.85 and node.attribute:
        attr = rng.choice(node.attribute)
        if attr.ints:
            attr.ints[rng.randrange(len(attr.ints))] = rng.choice(HUGE_DIMS)
        elif attr.floats:
            attr.floats[rng.randrange(len(attr.floats))] = rng.choice([float("nan"), float("inf"), 1e38])
        else:
            attr.i = rng.choice(HUGE_DIMS)
        return f"{node.op_type}.{attr.name} huge value"
    node.attribute.append(helper.make_attribute("note", b"\xff\xfe\x00bad"))
    return f"{node.op_type} non-UTF-8 string attribute"


def _model_fields(rng: random.Random, m: onnx.ModelProto, folder: Path) -> str | None:
    roll = rng.random()
    if roll < 0.3:
        m.ir_version = rng.choice([0, 1, 2, 3, 7, 11, 99, 2**40])
        return f"ir_version {m.ir_version}"
    if roll < 0.6 and m.opset_import:
        imp = rng.choice(m.opset_import)
        imp.version = rng.choice([0, 1, 6, 7, 99, 10**6, -1])
        return f"opset {imp.domain or 'ai.onnx'} -> {imp.version}"
    if roll < 0.7:
        del m.opset_import[:]
        return "no opset imports"
    if roll < 0.8:
        m.opset_import.add().CopyFrom(helper.make_opsetid(rng.choice(DOMAINS), rng.choice([1, 3, 99])))
        return "extra opset import"
    if roll < 0.9:
        fn = m.functions.add()
        fn.name, fn.domain = rng.choice(["Relu", "F", ""]), rng.choice(["custom", ""])
        fn.input.append("a")
        fn.output.append("b")
        fn.node.add().CopyFrom(helper.make_node(rng.choice(["Relu", "F", "Foo"]), ["a"], ["b"], domain=fn.domain))
        if m.graph.node and rng.random() < 0.5:
            m.graph.node[0].op_type, m.graph.node[0].domain = fn.name, fn.domain
        return f"local function {fn.domain}:{fn.name}"
    # an output of 2**40 float32 elements: onnxruntime must refuse, not the machine
    shape = numpy_helper.from_array(np.array([2**40], dtype=np.int64), "huge_shape")
    m.graph.initializer.append(shape)
    m.graph.node.append(helper.make_node("ConstantOfShape", ["huge_shape"], ["huge"]))
    m.graph.output.add().CopyFrom(helper.make_tensor_value_info("huge", TensorProto.FLOAT, [2**40]))
    return "ConstantOfShape 2**40"


PROTO_MUTATIONS = [_drop_node, _dup_node, _reorder, _bogus_op, _rewire, _io, _dims, _dims, _elem_type,
                   _initializer, _external, _attribute, _model_fields]


def _mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    buf = bytearray(data)
    roll = rng.random()
    if roll < 0.35:
        flips = rng.choice([1, 2, 4, 16])
        for _ in range(flips):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf), f"{flips} bit flips"
    if roll < 0.6:
        cut = rng.randrange(len(buf))
        return bytes(buf[:cut]), f"truncated at {cut}/{len(buf)}"
    if roll < 0.7:
        pos = rng.randrange(len(buf))
        buf[pos:pos] = rng.randbytes(rng.randrange(1, 32))
        return bytes(buf), f"bytes inserted at {pos}"
    if roll < 0.8:
        pos = rng.randrange(len(buf))
        size = rng.randrange(1, 64)
        buf[pos : pos + size] = bytes(len(buf[pos : pos + size]))
        return bytes(buf), f"zeroed {size} at {pos}"
    if roll < 0.9:
        pos = rng.randrange(len(buf))
        chunk = bytes(buf[pos : pos + rng.randrange(1, 128)])
        buf[pos:pos] = chunk
        return bytes(buf), f"chunk duplicated at {pos}"
    header = rng.choice([b"PK\x03\x04", b"\x80\x04\x95", b"\x89HDF\r\n", b"TFL3", b"\x00" * 8, b"{}"])
    return header + bytes(buf[len(header):]), f"header {header[:4]!r}"


def _names(model: onnx.ModelProto) -> list[str]:
    """Strings of the model that its readers use: names, op types, domains, locations, producer."""
    graph = model.graph
    found = [imp.domain for imp in model.opset_import] + [model.producer_name, graph.name]
    found += [vi.name for vi in list(graph.input) + list(graph.output) + list(graph.value_info)]
    for t in graph.initializer:
        found += [t.name] + [e.value for e in t.external_data] + [e.key for e in t.external_data]
    for node in graph.node:
        found += [node.op_type, node.domain, node.name, *node.input, *node.output, *(a.name for a in node.attribute)]
        found += [a.s for a in node.attribute if a.s]
    return [n for n in found if isinstance(n, str) and len(n) >= 2]


def _not_utf8(rng: random.Random, data: bytes, model: onnx.ModelProto) -> tuple[bytes, str | None]:
    """One byte of one name made invalid UTF-8, the length kept (the protobuf stays well formed)."""
    names = [n for n in _names(model) if n.encode() in data]
    if not names:
        return data, None
    name = rng.choice(names).encode()
    at = data.index(name)
    pos = at + rng.randrange(len(name))
    return data[:pos] + rng.choice([b"\xff", b"\xc3", b"\xed", b"\x80"]) + data[pos + 1:], \
        f"name {name[:20]!r} not UTF-8"


def mutate_model(rng: random.Random, seed: Seed, folder: Path) -> list[str]:
    """Write a mutated copy of `seed` into `folder` (model.onnx and any files beside it)."""
    shutil.copytree(seed.folder, folder, symlinks=True)
    path = folder / "model.onnx"
    done: list[str] = []
    if rng.random() < 0.8:
        model = onnx.load(str(path), load_external_data=False)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            for _attempt in range(5):
                try:
                    what = rng.choice(PROTO_MUTATIONS)(rng, model, folder)
                except (ValueError, TypeError, OverflowError, FileExistsError):
                    what = None  # not expressible in the protobuf: draw another
                if what:
                    done.append(what)
                    break
        data = model.SerializeToString()
        if rng.random() < 0.08:
            data, what = _not_utf8(rng, data, model)
            done += [what] if what else []
        path.write_bytes(data)
    if not done or rng.random() < 0.1:
        data, what = _mutate_bytes(rng, path.read_bytes())
        path.write_bytes(data)
        done.append(what)
    return done
