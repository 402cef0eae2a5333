"""PyTorch through torch.onnx: an `nn.Module`, a TorchScript `.pt`, or a `torch.export` `.pt2`.

- `nn.Module` (in memory, or a trusted `torch.save` pickle): the torch.export-based exporter
  (`dynamo=True`, needs onnxscript) with `Dim.DYNAMIC` on the first axis of every input; if
  torch.export cannot capture the module, the TorchScript-based exporter with a dynamic axis.
- TorchScript (`torch.jit.load`, which uses TorchScript's own restricted loader): the
  TorchScript-based exporter, the only one that takes a ScriptModule.
- `.pt2` (`torch.export.load`): the exported program as is; its dynamic dimensions are the ones
  it was exported with (a fixed batch is reported, since torch.export specialized it).

Example inputs come from the sample, from the `.pt2`'s recorded example inputs, or, for a
module whose first layer is `nn.Linear`, from that layer's `in_features`; otherwise the caller
must pass a sample. The export uses at least two rows, because torch.export specializes a
dimension seen with size 1.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deployer.errors import ConfigError
from deployer.model import _onnxutil
from deployer.model._deps import require
from deployer.model.errors import ModelError
from deployer.model.safety import refuse_untrusted_pickle
from deployer.model.source import Converted, SourceOptions

__all__ = ["convert_torch", "load_torch_file", "is_torch"]

_TORCH = "converting a PyTorch model"


def is_torch(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "torch" for cls in type(obj).__mro__)


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporters print progress on stdout, which `--json` keeps for one JSON object."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def load_torch_file(path: Path, opts: SourceOptions) -> Any:
    torch = require("torch", "torch", _TORCH)
    if path.suffix.lower() == ".pt2":
        try:
            return torch.export.load(str(path))
        except Exception as exc:  # a corrupt archive raises RuntimeError, KeyError, zipfile errors, ...
            raise ModelError(f"could not load {path} with torch.export.load: {type(exc).__name__}: {exc}") from exc
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as jit_exc:  # not a TorchScript archive: maybe a torch.save pickle
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:
            obj = None
        if isinstance(obj, dict):
            raise ModelError(f"{path} holds only weights (a state dict), not a model; load them into your "
                             "nn.Module and pass the module to deployer.convert, or save it with "
                             "torch.jit.script/torch.export") from jit_exc
        if not opts.trust_pickle:
            refuse_untrusted_pickle(path)
        try:
            return torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelError(f"could not load {path} as TorchScript ({jit_exc}) nor with torch.load: "
                             f"{type(exc).__name__}: {exc}") from exc


def _examples(model: Any, opts: SourceOptions, torch: Any) -> list[Any]:
    if opts.sample:
        arrays = list(opts.sample.values())
    elif isinstance(model, torch.export.ExportedProgram) and model.example_inputs:
        args = model.example_inputs[0]
        return [a for a in args]
    else:
        leaves = [m for m in model.modules() if not list(m.children())] if hasattr(model, "modules") else []
        leaves = [m for m in leaves if not isinstance(m, torch.nn.Flatten)]
        features = _linear_in_features(leaves[0]) if leaves else None
        if features is None:
            raise ConfigError("cannot tell the input shape of this PyTorch model (its first layer is not "
                              "nn.Linear); pass a sample (--sample FILE or sample=...)")
        arrays = [np.random.default_rng(0).standard_normal((4, features)).astype(np.float32)]
    tensors = []
    for arr in arrays:
        if arr.ndim and arr.shape[0] == 1:  # torch.export specializes a size-1 dimension
            arr = np.concatenate([arr, arr])
        tensors.append(torch.from_numpy(np.ascontiguousarray(arr[:8])))
    return tensors


def _linear_in_features(layer: Any) -> int | None:
    """in_features of an nn.Linear, also when TorchScript kept only its weight [out, in]."""
    kind = getattr(layer, "original_name", None) or type(layer).__name__
    weight = getattr(layer, "weight", None)
    if kind == "Linear" and weight is not None and weight.ndim == 2:
        return int(weight.shape[1])
    return None


def _flatten(result: Any) -> list[np.ndarray]:
    if hasattr(result, "detach"):
        return [result.detach().cpu().numpy()]
    if isinstance(result, dict):
        return [arr for value in result.values() for arr in _flatten(value)]
    if isinstance(result, (list, tuple)):
        return [arr for value in result for arr in _flatten(value)]
    raise ModelError(f"the PyTorch model returned {type(result).__name__}; tensors (or tuples of them) are expected")


def convert_torch(model: Any, opts: SourceOptions, source: str) -> Converted:
    torch = require("torch", "torch", _TORCH)
    notes: list[str] = []
    kind = ("ExportedProgram" if isinstance(model, torch.export.ExportedProgram)
            else "TorchScript" if isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction))
            else "nn.Module")
    if kind == "nn.Module" and not isinstance(model, torch.nn.Module):
        raise ModelError(f"{source} holds a {type(model).__name__}, not a PyTorch model")
    if kind != "ExportedProgram" and getattr(model, "training", False):
        model.eval()
        notes.append("the module was in training mode; it was switched to eval mode for export and parity")
    examples = _examples(model, opts, torch)
    in_names = _onnxutil.default_io_names(len(examples), "x")
    path = opts.workdir / "candidate.onnx"
    exporter = "torch.export" if kind != "TorchScript" else "TorchScript"
    opts.progress(f"exporting the PyTorch {kind} to ONNX ({exporter}-based exporter)")
    if kind == "TorchScript":
        _export_torchscript(torch, model, examples, in_names, path)
    else:
        if kind == "nn.Module":
            require("onnxscript", "torch", _TORCH + " with the torch.export-based exporter")
        try:
            _export_dynamo(torch, model, examples, in_names, path, kind)
        except ModelError as exc:
            if kind != "nn.Module":
                raise
            notes.append(f"torch.export could not capture the module ({exc}); used the TorchScript-based exporter")
            exporter = "TorchScript"
            _export_torchscript(torch, model, examples, in_names, path)
    onnx = require("onnx", "torch", _TORCH)
    proto = onnx.load(str(path), load_external_data=False)
    out_names = _onnxutil.default_io_names(len(proto.graph.output), "y")
    _onnxutil.rename_io(proto, in_names, out_names)
    _onnxutil.name_batch_dim(proto)
    onnx.save(proto, str(path))  # external data (if any) keeps its relative location
    fixed = [d.dim_value for vi in proto.graph.input for d in vi.type.tensor_type.shape.dim[:1] if d.dim_value]
    if fixed:
        notes.append(f"the batch dimension is fixed at {fixed[0]} (as the {kind} was exported); export it with "
                     "dynamic_shapes={...: {0: torch.export.Dim('batch')}} to serve any batch size")
    runner = model.module() if kind == "ExportedProgram" else model
    final_out = [o.name for o in proto.graph.output]

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in in_names]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = _flatten(runner(*args))
        return dict(zip(final_out, results))

    return Converted("torch", path, f"torch.onnx {torch.__version__} ({exporter}-based)", reference,
                     f"PyTorch {torch.__version__} {kind} forward", source, notes=notes)


def _export_dynamo(torch: Any, model: Any, examples: list[Any], names: list[str], path: Path, kind: str) -> None:
    dynamic = None
    if kind == "nn.Module":
        dynamic = tuple({0: torch.export.Dim.DYNAMIC} if t.ndim else {} for t in examples)
    try:
        with _quiet():
            program = torch.onnx.export(model, tuple(examples), None, input_names=names, dynamo=True,
                                        dynamic_shapes=dynamic, verbose=False)
            program.save(str(path))
    except Exception as exc:  # TorchExportError, ConversionError, UnsupportedOperatorError, ...
        raise ModelError(_first(exc)) from exc


def _export_torchscript(torch: Any, model: Any, examples: list[Any], names: list[str], path: Path) -> None:
    with torch.no_grad():
        count = len(_flatten(model(*examples)))
    out_names = _onnxutil.default_io_names(count, "y")
    axes = {n: {0: "batch"} for n, t in zip(names, examples) if t.ndim}
    axes.update({n: {0: "batch"} for n in out_names})
    try:
        with _quiet():
            torch.onnx.export(model, tuple(examples), str(path), input_names=names, output_names=out_names,
                              dynamo=False, dynamic_axes=axes, do_constant_folding=True)
    except Exception as exc:
        raise ModelError(f"torch.onnx could not export the TorchScript model: {_first(exc)}") from exc


def _first(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}"


