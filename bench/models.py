"""Benchmark models: built from code with `onnx.helper` + numpy, random weights, fixed seed.

Three models, each in two model folders (``model.onnx`` + ``manifest.json``, the shape of
`functions.manifest`):

- ``mlp``: 784-512-256-10 with ReLU, input ``x`` FP32 ``[N, 784]``.
- ``cnn4``: a small CNN of 4 convolutions (3x3, stride 2, 3→16→32→64→64 channels, ReLU) on
  ``x`` FP32 ``[N, 3, 224, 224]``, global average pool, FC 10: the model of issue 12 whose
  converted file ran 2.1x slower than a default session on the original.
- ``resnet18``: the ResNet-18 topology (conv7x7/2 + BN + ReLU + maxpool, four stages of two
  basic blocks with 64/128/256/512 channels, global average pool, FC 1000), input ``x`` FP32
  ``[N, 3, 224, 224]``, ~11.7M parameters. BatchNormalization nodes are kept in the raw model so
  that the offline optimization has something real to fold.

Folders under ``bench/.models/`` (git-ignored)::

    <name>/       the raw graph, "runtime": {"optimized": null}
    <name>-opt/   onnxruntime ORT_ENABLE_EXTENDED written with `optimized_model_filepath`,
                  "runtime": {"optimized": "extended", "graph_optimization_level": LEVELS[name]}:
                  the session's runtime level, chosen per model by measurement (below)

Runtime levels (`LEVELS`). The layout transforms (NCHWc) that make convolutions fast on this CPU
are hardware-specific and never saved offline, so an EXTENDED file opened at disable_all never gets
them. Measured with `.venv/bin/python -m bench.models --levels` (alternating rounds, medians,
batch 1, 2 shared vCPUs; ratios of `session.run` against a default session on the original file):
on 2026-12-02 (load average ~6: read the ratios), 12 rounds of session creation + 20 runs each:

    | model | file, level | session creation median ms | session.run median ms | run / original |
    |---|---|---:|---:|---:|
    | cnn4 | original, default (all) | 25.4 | 0.789 | 1.00x |
    | cnn4 | extended file, disable_all | 12.5 | 7.726 | 9.79x |
    | cnn4 | extended file, basic | 18.5 | 8.113 | 10.28x |
    | cnn4 | extended file, extended | 21.8 | 7.569 | 9.59x |
    | cnn4 | extended file, all | 25.0 | 0.747 | 0.95x |
    | resnet18 | original, default (all) | 307.9 | 71.142 | 1.00x |
    | resnet18 | extended file, disable_all | 157.0 | 121.356 | 1.71x |
    | resnet18 | extended file, basic | 97.9 | 112.627 | 1.58x |
    | resnet18 | extended file, extended | 163.4 | 117.693 | 1.65x |
    | resnet18 | extended file, all | 294.8 | 78.330 | 1.10x |
    | mlp | original, default (all) | 3.0 | 0.045 | 1.00x |
    | mlp | extended file, disable_all | 3.2 | 0.045 | 0.99x |
    | mlp | extended file, basic | 2.5 | 0.045 | 1.01x |
    | mlp | extended file, extended | 2.7 | 0.043 | 0.96x |
    | mlp | extended file, all | 2.6 | 0.042 | 0.94x |

The CNNs take "all": the EXTENDED file at "all" runs like the original at its default, at
disable_all 1.7x (ResNet-18) to 10x (the small CNN, whose convolutions are all NCHWc wins) slower;
session creation at "all" costs what the original's does (ResNet-18 ~295 vs ~157 ms at disable_all:
paid once per cold start, against ~40 ms more on every request). The MLP (Gemm + ReLU, no layout
to change) runs the same at every level and takes "all" too, at no measurable creation cost.

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
MODEL_NAMES = ("mlp", "resnet18", "cnn4")
# The runtime graph optimization level each -opt folder's manifest asks for (see the docstring).
LEVELS = {"mlp": "all", "resnet18": "all", "cnn4": "all"}
BUILD_SPEC = (f"bench-models/v3 seed={SEED} opset={OPSET} levels="
              + ",".join(f"{k}:{v}" for k, v in sorted(LEVELS.items())))


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


def _cnn4(rng: np.random.Generator):
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    prev, cin = "x", 3
    for i, cout in enumerate((16, 32, 64, 64)):
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"conv{i}.w"), numpy_helper.from_array(b, f"conv{i}.b")]
        nodes.append(helper.make_node("Conv", [prev, f"conv{i}.w", f"conv{i}.b"], [f"c{i}"],
                                      kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev, cin = f"r{i}", cout
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
    w = (rng.standard_normal((64, 10)) * np.sqrt(1.0 / 64)).astype(np.float32)
    inits += [numpy_helper.from_array(w, "fc.w"), numpy_helper.from_array(np.zeros(10, np.float32), "fc.b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"]))
    graph = helper.make_graph(
        nodes, "cnn4",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    return graph, (1, 3, 224, 224), [-1, 3, 224, 224], [-1, 10]


_BUILDERS = {"mlp": _mlp, "resnet18": _resnet18, "cnn4": _cnn4}


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
        "runtime": {"onnxruntime": onnxruntime.__version__, "optimized": optimized,
                    **({"graph_optimization_level": LEVELS[name]} if optimized else {})},
        "inputs": [{"name": "x", "datatype": "FP32", "shape": in_shape}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": out_shape}],
        "labels": None,
        "parity": None,
        "baseline": None,
        **(_drift_baseline(folder) if name == "mlp" else {}),
        "sample": None,
        "bench": {"build_spec": BUILD_SPEC, "params": params},
    }
    validate_manifest(manifest, str(folder / MANIFEST_FILE))
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def _drift_baseline(folder: Path) -> dict:
    """The MLP's drift baseline, as `deployer convert` writes it from a user's sample (deployer/model/
    samples.py): its 784 features are a whole-tensor statistic (over the monitored-feature cap) and
    its 10 scores, named by labels, an argmax prediction baseline, so the handler's drift monitor
    (functions/drift.py) runs on every bench request to this model, as it would in production."""
    from types import SimpleNamespace

    import onnxruntime as ort

    from deployer.model.samples import baseline, prediction_baseline

    sample = np.random.default_rng(SEED).standard_normal((256, 784)).astype(np.float32)
    (scores,) = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": sample})
    labels = [f"digit{i}" for i in range(10)]
    return {"labels": labels, "baseline": baseline({"x": sample}, "sample"),
            "predictions": prediction_baseline([SimpleNamespace(name="y")], {"y": scores}, labels)}


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


def measure_levels(names: tuple[str, ...] = MODEL_NAMES, rounds: int = 12, runs: int = 20) -> str:
    """Markdown: per model, session creation and `session.run` (batch 1) of the -opt file at each
    runtime level against a default session on the original file, in alternating rounds."""
    import time

    import onnxruntime as ort

    levels = {"disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    sets = ensure_models(names)
    out = ["| model | file, level | session creation median ms | session.run median ms | run / original |",
           "|---|---|---:|---:|---:|"]
    for name, ms in sets.items():
        x = np.random.default_rng(1).standard_normal(ms.input_shape).astype(np.float32)
        variants = {"original, default (all)": (ms.raw / MODEL_FILE, None)}
        variants.update({f"extended file, {lv}": (ms.optimized / MODEL_FILE, lv) for lv in levels})
        create: dict[str, list[float]] = {k: [] for k in variants}
        run: dict[str, list[float]] = {k: [] for k in variants}
        keys = list(variants)
        for r in range(rounds):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for key in order:
                path, level = variants[key]
                so = ort.SessionOptions()
                if level:
                    so.graph_optimization_level = levels[level]
                t0 = time.perf_counter()
                sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
                create[key].append((time.perf_counter() - t0) * 1e3)
                sess.run(None, {"x": x})
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    sess.run(None, {"x": x})
                    times.append((time.perf_counter() - t0) * 1e3)
                run[key].append(sorted(times)[len(times) // 2])
        med = {k: (sorted(v)[len(v) // 2], sorted(run[k])[len(run[k]) // 2]) for k, v in create.items()}
        base = med[keys[0]][1]
        for key in keys:
            c, r_ = med[key]
            out.append(f"| {name} | {key} | {c:.1f} | {r_:.3f} | {r_ / base:.2f}x |")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    if "--levels" in sys.argv:
        print(measure_levels(tuple(a for a in sys.argv[1:] if not a.startswith("--")) or MODEL_NAMES))
    else:
        for ms in ensure_models().values():
            print(ms)
