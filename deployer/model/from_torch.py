"""PyTorch through torch.onnx: an `nn.Module`, a TorchScript `.pt`, or a `torch.export` `.pt2`.

- `nn.Module` (in memory, or a trusted `torch.save` pickle): the torch.export-based exporter
  (`dynamo=True`, needs onnxscript) with `Dim.DYNAMIC` on the first axis of every input; if
  torch.export cannot capture the module, the TorchScript-based exporter with a dynamic axis.
- TorchScript (`torch.jit.load`, which uses TorchScript's own restricted loader): the
  TorchScript-based exporter, the only one that takes a ScriptModule.
- `.pt2` (`torch.export.load`): the exported program. One exported without dynamic shapes has
  its batch fixed to the example's (torch.export specialized it: `[8, 5]`, and a client sending
  3 rows got an error). Its `ep.module(check_guards=False)` is exported again with a strict
  `Dim("batch")` on the first axis of every input; torch.export refuses that when the graph
  really depends on the batch size (a `reshape(8, ...)`), and then the batch stays fixed and a
  note says why. Parity is checked against the original program, run in chunks of its own
  batch (the last chunk padded with copies of its last row, whose answers are dropped), so the
  re-export is held to what the user exported.

Example inputs come from the sample, from the `.pt2`'s recorded example inputs, or, for a
module whose first layer is `nn.Linear`, from that layer's `in_features`; otherwise the caller
must pass a sample. The export uses at least two rows, because torch.export specializes a
dimension seen with size 1.
"""

from __future__ import annotations

import contextlib
import io
import re
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
    original_batch = _fixed_batch(model) if kind == "ExportedProgram" else None
    to_export = model
    if original_batch is not None:
        opts.progress(f"the program's batch is fixed at {original_batch}; exporting ep.module() again with a "
                      "dynamic batch dimension")
        redone, why = _rebatch(torch, model, examples)
        if redone is not None:
            to_export = redone
            notes.append(f"the torch.export program was exported with a fixed batch of {original_batch}; it was "
                         "exported again from ep.module() with a dynamic batch dimension, so any batch size is served")
        else:
            notes.append(f"the batch stays fixed at {original_batch}: torch.export could not make it dynamic ({why}), "
                         "so the graph depends on the batch size; requests must send exactly "
                         f"{original_batch} rows")
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
            _export_dynamo(torch, to_export, examples, in_names, path, kind)
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
    _onnxutil.canonicalize(proto)
    onnx.save(proto, str(path))  # external data (if any) keeps its relative location
    fixed = [d.dim_value for vi in proto.graph.input for d in vi.type.tensor_type.shape.dim[:1] if d.dim_value]
    if fixed and original_batch is None:
        notes.append(f"the batch dimension is fixed at {fixed[0]} (as the {kind} was exported); export it with "
                     "dynamic_shapes={...: {0: torch.export.Dim('batch')}} to serve any batch size")
    runner = model.module() if kind == "ExportedProgram" else model
    final_out = [o.name for o in proto.graph.output]

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in in_names]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the original's outputs (parity figures, predictions) then repeat on any machine
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results = _flatten(runner(*args))
        finally:
            torch.set_num_threads(threads)
        return dict(zip(final_out, results))

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = len(next(iter(inputs.values()))) if inputs else 0
        if original_batch is None or rows == original_batch:
            return run(inputs)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, rows, original_batch):
            chunk = {n: a[start:start + original_batch] for n, a in inputs.items()}
            have = len(next(iter(chunk.values())))
            if have < original_batch:  # pad with copies of the last row; their answers are dropped
                chunk = {n: np.concatenate([a, np.repeat(a[-1:], original_batch - have, axis=0)]) for n, a in chunk.items()}
            for name, value in run(chunk).items():
                parts.setdefault(name, []).append(value[:have])
        return {name: np.concatenate(values) for name, values in parts.items()}

    return Converted("torch", path, f"torch.onnx {torch.__version__} ({exporter}-based)", reference,
                     f"PyTorch {torch.__version__} {kind} forward", source, notes=notes)


def _fixed_batch(program: Any) -> int | None:
    """The batch torch.export specialized: the first dimension of the program's first user input
    when it is a plain int (a dynamic one is a SymInt), else None."""
    users = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in users:
            value = node.meta.get("val")
            shape = getattr(value, "shape", None)
            if shape is not None and len(shape) and isinstance(shape[0], int):
                return int(shape[0])
            return None
    return None


def _rebatch(torch: Any, program: Any, examples: list[Any]) -> tuple[Any, str | None]:
    """`program` exported again with one strict dynamic batch dimension on every input, or
    (None, why) when torch.export refuses (the graph specializes on the batch size)."""
    batch = torch.export.Dim("batch")
    if any(t.ndim == 0 for t in examples):
        return None, "an input has no batch dimension"
    if any(t.shape[0] != examples[0].shape[0] for t in examples):
        return None, "the inputs' first dimensions differ"
    want = _fixed_batch(program) or 2
    if want == 1:  # torch.export specializes a size-1 dimension: trace with two rows
        want = 2
    examples = [t[torch.arange(want) % t.shape[0]] for t in examples]  # the program's own batch size
    try:
        with _quiet():
            redone = torch.export.export(program.module(check_guards=False), tuple(examples),
                                         dynamic_shapes=tuple({0: batch} for _ in examples))
    except Exception as exc:  # torch._dynamo.exc.UserError "Constraints violated (batch)!", ...
        found = re.search(r"specialized it to be a constant \((\d+)\)", str(exc))
        if found:
            return None, f"the graph specializes the batch dimension to the constant {found.group(1)}"
        return None, _first(exc)[:240]
    return redone, None


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


