"""Benchmark models: built from code with `onnx.helper` + numpy, random weights, fixed seed.

Two models, each in two model folders (``model.onnx`` + ``manifest.json``, the shape of
`functions.manifest`):

- ``mlp``: 784-512-256-10 with ReLU, input ``x`` FP32 ``[N, 784]``.
- ``resnet18``: the ResNet-18 topology (conv7x7/2 + BN + ReLU + maxpool, four stages of two
  basic blocks with 64/128/256/512 channels, global average pool, FC 1000), input ``x`` FP32
  ``[N, 3, 224, 224]``, ~11.7M parameters. BatchNormalization nodes are kept in the raw model so
  that the offline optimization has something real to fold.

Folders under ``bench/.models/`` (git-ignored)::

    <name>/       the raw graph, "runtime": {"optimized": null}
    <name>-opt/   onnxruntime ORT_ENABLE_EXTENDED written with `optimized_model_filepath`,
                  "runtime": {"optimized": "extended"} so the handler turns runtime
                  optimizations off

The cache is rebuilt when ``BUILD_SPEC`` (below) or the onnxruntime version changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.manifest import MANIFEST_FILE, MODEL_FILE, SCHEMA_VERSION, sha256_file, validate_manifest

__all__ = ["MODELS_DIR", "ModelSet", "ensure_models", "MODEL_NAMES"]

MODELS_DIR = Path(__file__).resolve().parent / ".models"
SEED = 20240601
OPSET = 17
IR_VERSION = 8
BUILD_SPEC = f"bench-models/v1 seed={SEED} opset={OPSET}"
MODEL_NAMES = ("mlp", "resnet18")


@dataclass(frozen=True)
class ModelSet:
    """The two folders of one benchmark model and the facts the benchmarks need."""

    name: str
    raw: Path           # folder with the unoptimized graph
    optimized: Path     # folder with the ORT_ENABLE_EXTENDED graph
    input_shape: tuple[int, ...]   # batch-1 shape of input "x"
    params: int


# --------------------------------------------------------------------------- graph building

def _mlp(rng: np.random.Generator):
    from onnx import TensorProto, helper, numpy_helper

    sizes = [784, 512, 256, 10]
    nodes, inits = [], []
    prev = "x"
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.w"), numpy_helper.from_array(b, f"fc{i}.b")]
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        gemm_out = out if out == "y" else f"g{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.w", f"fc{i}.b"], [gemm_out]))
        if out != "y":
            nodes.append(helper.make_node("Relu", [gemm_out], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    return graph, (1, 784), [-1, 784], [-1, 10]


class _ResNetBuilder:
    def __init__(self, rng: np.random.Generator) -> None:
        from onnx import helper, numpy_helper

        self.h, self.nph, self.rng = helper, numpy_helper, rng
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def _name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"

    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int, relu: bool) -> str:
        name = self._name("conv")
        w = (self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        self.inits.append(self.nph.from_array(w, f"{name}.w"))
        pad = k // 2
        self.nodes.append(self.h.make_node(
            "Conv", [x, f"{name}.w"], [f"{name}.out"],
            kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        # BN with mild random statistics so activations stay in range through 18 layers.
        scale = (1.0 + 0.1 * self.rng.standard_normal(cout)).astype(np.float32)
        bias = (0.05 * self.rng.standard_normal(cout)).astype(np.float32)
        mean = (0.05 * self.rng.standard_normal(cout)).astype(np.float32)
        var = (1.0 + 0.1 * np.abs(self.rng.standard_normal(cout))).astype(np.float32)
        for suffix, arr in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var)):
            self.inits.append(self.nph.from_array(arr, f"{name}.bn.{suffix}"))
        out = f"{name}.bn"
        self.nodes.append(self.h.make_node(
            "BatchNormalization",
            [f"{name}.out", f"{name}.bn.scale", f"{name}.bn.bias", f"{name}.bn.mean", f"{name}.bn.var"],
            [out], epsilon=1e-5))
        if relu:
            self.nodes.append(self.h.make_node("Relu", [out], [f"{name}.relu"]))
            out = f"{name}.relu"
        return out

    def basic_block(self, x: str, cin: int, cout: int, stride: int) -> str:
        y = self.conv_bn(x, cin, cout, 3, stride, relu=True)
        y = self.conv_bn(y, cout, cout, 3, 1, relu=False)
        shortcut = x
        if stride != 1 or cin != cout:
            shortcut = self.conv_bn(x, cin, cout, 1, stride, relu=False)
        name = self._name("add")
        self.nodes.append(self.h.make_node("Add", [y, shortcut], [name]))
        self.nodes.append(self.h.make_node("Relu", [name], [f"{name}.relu"]))
        return f"{name}.relu"


def _resnet18(rng: np.random.Generator):
    from onnx import TensorProto, helper, numpy_helper

    b = _ResNetBuilder(rng)
    y = b.conv_bn("x", 3, 64, 7, 2, relu=True)
    b.nodes.append(helper.make_node(
        "MaxPool", [y], ["pool0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    y, cin = "pool0", 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        y = b.basic_block(y, cin, cout, stride)
        y = b.basic_block(y, cout, cout, 1)
        cin = cout
    b.nodes.append(helper.make_node("GlobalAveragePool", [y], ["gap"]))
    b.nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
    w = (rng.standard_normal((512, 1000)) * np.sqrt(1.0 / 512)).astype(np.float32)
    bias = np.zeros(1000, np.float32)
    b.inits += [numpy_helper.from_array(w, "fc.w"), numpy_helper.from_array(bias, "fc.b")]
    b.nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"]))
    graph = helper.make_graph(
        b.nodes, "resnet18",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1000])],
        b.inits,
    )
    return graph, (1, 3, 224, 224), [-1, 3, 224, 224], [-1, 1000]


_BUILDERS = {"mlp": _mlp, "resnet18": _resnet18}


def _count_params(graph) -> int:
    """Trainable parameters: BN running mean/var are statistics, not parameters."""
    from onnx import numpy_helper

    total = 0
    for init in graph.initializer:
        if init.name.endswith((".bn.mean", ".bn.var")):
            continue
        total += int(np.prod(numpy_helper.to_array(init).shape))
    return total


# --------------------------------------------------------------------------- folders

def _write_manifest(folder: Path, name: str, in_shape: list, out_shape: list,
                    optimized: str | None, params: int, model_proto) -> None:
    import onnxruntime

    model_path = folder / MODEL_FILE
    digest = sha256_file(str(model_path))
    opset = next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "version": digest[:12],
        "model": {
            "file": MODEL_FILE,
            "sha256": digest,
            "size_bytes": model_path.stat().st_size,
            "opset": int(opset),
            "ir_version": int(model_proto.ir_version),
            "producer": f"{model_proto.producer_name} {model_proto.producer_version}".strip(),
        },
        "runtime": {"onnxruntime": onnxruntime.__version__, "optimized": optimized},
        "inputs": [{"name": "x", "datatype": "FP32", "shape": in_shape}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": out_shape}],
        "labels": None,
        "parity": None,
        "baseline": None,
        "sample": None,
        "bench": {"build_spec": BUILD_SPEC, "params": params},
    }
    validate_manifest(manifest, str(folder / MANIFEST_FILE))
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def _stamp() -> str:
    import onnxruntime

    return f"{BUILD_SPEC} onnxruntime={onnxruntime.__version__}"


def _is_current(folder: Path) -> bool:
    try:
        data = json.loads((folder / MANIFEST_FILE).read_text())
        validate_manifest(data)
    except (OSError, ValueError):
        return False
    if not (folder / MODEL_FILE).exists():
        return False
    stamp = (folder.parent / ".stamp").read_text() if (folder.parent / ".stamp").exists() else ""
    return stamp == _stamp()


def _build(name: str, root: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnx import helper

    rng = np.random.default_rng(SEED + MODEL_NAMES.index(name))
    graph, _, in_shape, out_shape = _BUILDERS[name](rng)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bench/models.py",
        producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    params = _count_params(graph)

    raw, opt = root / name, root / f"{name}-opt"
    for folder in (raw, opt):
        folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(raw / MODEL_FILE))
    _write_manifest(raw, name, in_shape, out_shape, None, params, model)

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    # Write to a temporary name and rename, so an interrupted build never leaves half a file.
    tmp = opt / (MODEL_FILE + ".tmp")
    so.optimized_model_filepath = str(tmp)
    ort.InferenceSession(str(raw / MODEL_FILE), so, providers=["CPUExecutionProvider"])
    os.replace(tmp, opt / MODEL_FILE)
    _write_manifest(opt, name, in_shape, out_shape, "extended", params,
                    onnx.load(str(opt / MODEL_FILE), load_external_data=False))


def ensure_models(names: tuple[str, ...] = MODEL_NAMES, root: Path = MODELS_DIR,
                  log=print) -> dict[str, ModelSet]:
    """Build (or reuse from the cache) the model folders; return them by name."""
    root.mkdir(parents=True, exist_ok=True)
    stale = [n for n in names if not (_is_current(root / n) and _is_current(root / f"{n}-opt"))]
    if stale and (root / ".stamp").exists() and (root / ".stamp").read_text() != _stamp():
        stale = list(names)  # version change: rebuild everything
    for name in stale:
        log(f"building model {name} under {root} ...")
        _build(name, root)
    if stale:
        (root / ".stamp").write_text(_stamp())
    out = {}
    for name in names:
        manifest = json.loads((root / name / MANIFEST_FILE).read_text())
        shape = tuple(1 if d == -1 else d for d in manifest["inputs"][0]["shape"])
        out[name] = ModelSet(name, root / name, root / f"{name}-opt", shape,
                             manifest["bench"]["params"])
    return out


if __name__ == "__main__":
    for ms in ensure_models().values():
        print(ms)
