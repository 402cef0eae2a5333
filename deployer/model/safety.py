"""Refusals made before an untrusted byte is used: external data paths, pickle, size budget.

External data. An ONNX file may keep tensors in other files named by a relative `location`.
onnxruntime and onnx resolve that name against the model's folder and read it, so a model can
point at `../../etc/passwd` or at a symlink leading anywhere. We read only the protobuf (never
its external data), collect every external location (initializers, sparse initializers, tensor
attributes, subgraphs, local functions) and refuse each one that is absolute, contains `..`, or
resolves (symlinks followed, with `os.path.realpath`, which reads links but no file contents)
outside the folder holding the model.

Pickle. joblib/pickle files run code from the file when loaded; they are loaded only when the
caller says it trusts the file (`--trust-pickle`). Whether a file is one is decided from its
bytes (`deployer.model.pickles`), never from its name.

Size. A Lambda container image holds at most 10 GB; the base image with Python and the runtime
takes part of that. The model must fit in the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployer.model.errors import SizeBudgetError, UnsafeModelError

__all__ = [
    "external_locations",
    "check_external_data",
    "refuse_untrusted_pickle",
    "PICKLE_SUFFIXES",
    "LAMBDA_IMAGE_LIMIT",
    "BASE_IMAGE_ALLOWANCE",
    "DEFAULT_SIZE_BUDGET",
    "check_size_budget",
    "human_size",
]

PICKLE_SUFFIXES = frozenset({".joblib", ".pkl", ".pickle", ".sav"})
LAMBDA_IMAGE_LIMIT = 10 * 1000**3  # AWS: "up to 10 GB" uncompressed, all layers included
BASE_IMAGE_ALLOWANCE = 1 * 1000**3  # Lambda Python base image + onnxruntime, numpy, powertools, functions/
DEFAULT_SIZE_BUDGET = LAMBDA_IMAGE_LIMIT - BASE_IMAGE_ALLOWANCE

_EXTERNAL = 1  # onnx.TensorProto.EXTERNAL
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def _tensors_of_graph(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _tensors_of_node(node)


def _tensors_of_node(node: Any) -> Iterator[Any]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("sparse_tensor"):
            yield attr.sparse_tensor.values
            yield attr.sparse_tensor.indices
        for sparse in attr.sparse_tensors:
            yield sparse.values
            yield sparse.indices
        if attr.HasField("g"):
            yield from _tensors_of_graph(attr.g)
        for sub in attr.graphs:
            yield from _tensors_of_graph(sub)


def external_locations(model: Any) -> list[tuple[str, str | bytes | None]]:
    """(tensor name, location or None when missing) of every externally stored tensor."""
    found: list[tuple[str, str | bytes | None]] = []
    tensors = list(_tensors_of_graph(model.graph))
    for function in model.functions:
        for node in function.node:
            tensors.extend(_tensors_of_node(node))
    for tensor in tensors:
        if tensor.data_location == _EXTERNAL:
            entries = {e.key: e.value for e in tensor.external_data}
            found.append((tensor.name, entries.get("location")))
    return found


def check_external_data(model: Any, model_path: Path) -> list[Path]:
    """Refuse unsafe external-data locations; return the external files (inside the folder)."""
    folder = Path(os.path.realpath(model_path.parent))
    files: dict[str, Path] = {}
    for tensor, location in external_locations(model):
        where = f"{model_path}: tensor {tensor!r}"
        if not location:
            raise UnsafeModelError(f"{where} is stored externally but names no location; re-save the model "
                                   "with onnx.save(..., save_as_external_data=True)")
        if isinstance(location, bytes):  # protobuf hands back a string field that is not UTF-8 as bytes
            raise UnsafeModelError(f"{where} refers to external data at {location[:80]!r}, which is not UTF-8 text "
                                   "(a corrupted file?); re-save the model with a plain file name beside it")
        parts = re.split(r"[\\/]+", location)
        if location.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(location) or os.path.isabs(location):
            raise UnsafeModelError(f"{where} refers to external data at the absolute path {location!r}; "
                                   f"only files inside {model_path.parent} are allowed. Re-save the model with "
                                   "a relative location next to it")
        if ".." in parts:
            raise UnsafeModelError(f"{where} refers to external data at {location!r}, which climbs out with '..'; "
                                   f"only files inside {model_path.parent} are allowed")
        resolved = Path(os.path.realpath(folder / location))
        if os.path.commonpath([folder, resolved]) != str(folder):
            raise UnsafeModelError(f"{where} refers to external data at {location!r}, which leads outside "
                                   f"{model_path.parent} (to {resolved}) through a symbolic link; copy the data "
                                   "file into the model folder instead")
        if not resolved.is_file():
            raise UnsafeModelError(f"{where} refers to external data at {location!r}, but there is no such "
                                   f"file in {model_path.parent}; copy it next to the model")
        files[location] = resolved
    return sorted(set(files.values()))


def refuse_untrusted_pickle(path: Path, evidence: str | None = None) -> None:
    what = f"its content is {evidence}" if evidence else f"its name ends in {path.suffix}"
    raise UnsafeModelError(
        f"{path} is a pickle-based file ({what}): loading it runs any code stored in it, so it is "
        "refused by default, whatever its name or --framework. If you made this file or trust where it came "
        "from, pass --trust-pickle (trust_pickle=True); otherwise convert it to ONNX (or save it with skops, "
        "or the weights alone with torch.save(model.state_dict())) where it was made"
    )


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def check_size_budget(size: int, what: str, budget: int = DEFAULT_SIZE_BUDGET) -> None:
    if size > budget:
        raise SizeBudgetError(
            f"{what} is {human_size(size)}, over the {human_size(budget)} left for the model in a Lambda "
            f"container image ({human_size(LAMBDA_IMAGE_LIMIT)} limit minus ~{human_size(BASE_IMAGE_ALLOWANCE)} "
            "for the base image and runtime); shrink it with --quantize int8 or choose a smaller model"
        )
