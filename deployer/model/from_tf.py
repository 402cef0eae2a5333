"""Keras (`.keras`, `.h5`, in-memory) and TensorFlow Lite (`.tflite`) through tf2onnx.

Keras: tf2onnx's own `from_keras` does not follow Keras 3 (it looks up output tensors by names
Keras 3 no longer gives them), so the model is wrapped in a `tf.function` whose input signature
is the model's inputs with a free batch dimension, and that function is converted with
`tf2onnx.convert.from_function`. Files are loaded with `safe_mode=True` (no Lambda-layer code
is deserialized). The original runs as `model(x, training=False)`.

TFLite: `tf2onnx.convert.from_tflite`; the original runs in the TFLite interpreter, resized
to the batch when the model's batch dimension is dynamic, row by row when it is fixed.

TensorFlow and tf2onnx share the deployer's environment (tensorflow-cpu 2.21 wants
protobuf < 8 and numpy >= 1.26, which onnx 1.23 and onnxruntime 1.32 also accept; tf2onnx 1.17
no longer pins protobuf 3.20). Importing TensorFlow takes ~5 s, so it is imported only here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deployer.errors import ConfigError
from deployer.model import _onnxutil
from deployer.model._deps import require
from deployer.model.errors import ModelError
from deployer.model.source import Converted, SourceOptions

__all__ = ["convert_keras", "load_keras_file", "convert_tflite", "is_keras"]

DEFAULT_OPSET = 17  # tf2onnx 1.17 tests up to opset 18


def is_keras(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] in ("keras", "tf_keras") or cls.__module__.startswith("tensorflow")
               for cls in type(obj).__mro__) and hasattr(obj, "predict")


def _tf(framework: str) -> tuple[Any, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = require("tensorflow", framework, f"converting a {framework} model")
    tf2onnx = require("tf2onnx", framework, f"converting a {framework} model")
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    return tf, tf2onnx


@contextlib.contextmanager
def _quiet() -> Any:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def load_keras_file(path: Path, opts: SourceOptions) -> Any:
    _tf("keras")
    keras = require("keras", "keras", "loading a Keras model")
    try:
        with _quiet():
            return keras.models.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # ValueError for unsafe/unknown layers, OSError for bad files, ...
        raise ModelError(f"could not load {path} with keras.models.load_model: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:400]}") from exc


def _batch_major_outputs(proto: Any) -> None:
    """tf2onnx leaves each output's first dimension an anonymous `unk__N`; Keras and TFLite models
    are batch-major, so it is the batch dimension of the inputs."""
    first = [vi.type.tensor_type.shape.dim[:1] for vi in proto.graph.input]
    if not all(d and d[0].dim_param == "batch" for d in first):
        return
    for vi in proto.graph.output:
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].dim_param.startswith("unk__"):
            dims[0].dim_param = "batch"


def _flatten(result: Any) -> list[np.ndarray]:
    if isinstance(result, dict):
        return [np.asarray(v) for v in result.values()]
    if isinstance(result, (list, tuple)):
        return [np.asarray(v) for v in result]
    return [np.asarray(result)]


def convert_keras(model: Any, opts: SourceOptions, source: str) -> Converted:
    tf, tf2onnx = _tf("keras")
    try:
        specs = [(tuple(t.shape), t.dtype) for t in model.inputs]
    except (AttributeError, ValueError):
        specs = []
    if not specs:
        if not opts.sample:
            raise ConfigError("this Keras model has no defined inputs (it was never built); pass a sample "
                              "(--sample FILE) or build it with keras.Input")
        specs = [((None, *arr.shape[1:]), str(arr.dtype)) for arr in opts.sample.values()]
    in_names = _onnxutil.default_io_names(len(specs), "x")
    signature = [tf.TensorSpec([None, *shape[1:]], tf.as_dtype(dtype), name=name)
                 for (shape, dtype), name in zip(specs, in_names)]
    multi = len(signature) > 1

    @tf.function(input_signature=signature)
    def serve(*args: Any) -> Any:
        return model(list(args) if multi else args[0], training=False)

    opts.progress(f"converting the Keras model with tf2onnx {tf2onnx.__version__} (through tf.function)")
    path = opts.workdir / "candidate.onnx"
    try:
        with _quiet():
            proto, _ = tf2onnx.convert.from_function(serve, input_signature=signature,
                                                     opset=opts.opset or DEFAULT_OPSET)
    except Exception as exc:  # tf2onnx raises many kinds
        raise ModelError(f"tf2onnx could not convert the Keras model from {source}: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:400]}") from exc
    out_names = _onnxutil.default_io_names(len(proto.graph.output), "y")
    _onnxutil.rename_io(proto, in_names, out_names)
    _onnxutil.name_batch_dim(proto)
    _batch_major_outputs(proto)
    _onnxutil.renumber_generated(proto)  # tf2onnx numbers names in Python set order
    _onnxutil.save(proto, path)

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [inputs[n] for n in in_names]
        with _quiet():
            result = model(args if multi else args[0], training=False)
        return dict(zip(out_names, _flatten(result)))

    keras = require("keras", "keras", "converting a Keras model")
    return Converted("keras", path, f"tf2onnx {tf2onnx.__version__}", reference,
                     f"Keras {keras.__version__} model(x, training=False)", source)


def _interpreter(tf: Any, path: Path) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter  # the successor of tf.lite.Interpreter

        return Interpreter(model_path=str(path))
    except ImportError:
        with _quiet():
            return tf.lite.Interpreter(model_path=str(path))


def convert_tflite(path: Path, opts: SourceOptions) -> Converted:
    tf, tf2onnx = _tf("tflite")
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        interpreter = _interpreter(tf, path)
    except Exception as exc:  # ValueError "Model provided has model identifier ..." for non-TFLite bytes
        raise ModelError(f"{path} is not a readable TensorFlow Lite model: {' '.join(str(exc).split())[:300]}") from exc
    in_details = interpreter.get_input_details()
    out_details = interpreter.get_output_details()
    opts.progress(f"converting the TFLite model with tf2onnx {tf2onnx.__version__}")
    target = opts.workdir / "candidate.onnx"
    try:
        with _quiet():
            proto, _ = tf2onnx.convert.from_tflite(str(path), opset=opts.opset or DEFAULT_OPSET)
    except Exception as exc:
        raise ModelError(f"tf2onnx could not convert {path}: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:400]}") from exc
    unsupported = sorted({n.op_type for n in proto.graph.node if n.op_type.startswith("TFL_")})
    if unsupported:
        raise ModelError(f"tf2onnx could not convert the TFLite operators {unsupported} in {path}; if they are "
                         "variables (TFL_VAR_HANDLE/READ_VARIABLE), convert the model with "
                         "tf.lite.TFLiteConverter.from_keras_model or from_saved_model so its weights are constants")
    tfl_in = [d["name"] for d in in_details]
    onnx_in = [vi.name for vi in proto.graph.input]
    order = [tfl_in.index(n) for n in onnx_in] if set(onnx_in) == set(tfl_in) else list(range(len(onnx_in)))
    in_names = _onnxutil.default_io_names(len(onnx_in), "x")
    onnx_out = [vi.name for vi in proto.graph.output]
    out_names = _onnxutil.default_io_names(len(onnx_out), "y")
    tfl_out = {d["name"]: d["index"] for d in out_details}
    out_index = [tfl_out.get(n, out_details[i]["index"]) for i, n in enumerate(onnx_out)]
    _onnxutil.rename_io(proto, in_names, out_names)
    _onnxutil.name_batch_dim(proto)
    _batch_major_outputs(proto)
    _onnxutil.renumber_generated(proto)
    _onnxutil.save(proto, target)

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = len(inputs[in_names[0]])
        dynamic = all(int(d.get("shape_signature", d["shape"])[0]) == -1 for d in in_details)
        step = rows if dynamic else int(in_details[0]["shape"][0]) or 1
        parts: list[list[np.ndarray]] = [[] for _ in out_names]
        for start in range(0, rows, step):
            for onnx_i, tfl_i in enumerate(order):
                detail = in_details[tfl_i]
                arr = inputs[in_names[onnx_i]][start:start + step]
                if dynamic:
                    interpreter.resize_tensor_input(detail["index"], list(arr.shape))
            interpreter.allocate_tensors()
            for onnx_i, tfl_i in enumerate(order):
                detail = in_details[tfl_i]
                interpreter.set_tensor(detail["index"], inputs[in_names[onnx_i]][start:start + step])
            interpreter.invoke()
            for i, index in enumerate(out_index):
                parts[i].append(np.array(interpreter.get_tensor(index)))
        return {name: np.concatenate(p) for name, p in zip(out_names, parts)}

    return Converted("tflite", target, f"tf2onnx {tf2onnx.__version__}", reference,
                     f"TensorFlow Lite interpreter (TensorFlow {tf.__version__})", str(path))
