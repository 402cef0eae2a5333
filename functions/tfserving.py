"""TensorFlow Serving REST API: model status, metadata and `:predict`.

`{"instances": [...]}` is the row format: one entry per example, a plain value when the model has
one input, else an object keyed by input name; the answer is `{"predictions": [...]}`, one entry
per example (an object keyed by output name when the model has several outputs).
`{"inputs": ...}` is the columnar format: the tensor itself for a one-input model, else an object
of tensors; the answer is `{"outputs": ...}` in the same manner. Datatypes come from the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from functions.errors import BadRequest
from functions.http import Request, Response, json_response
from functions.inference import Timing, jsonable, read_json, run
from functions.model import Model, TensorInfo
from functions.tensors import Limits, check, check_shared_dimensions, describe, from_json

__all__ = ["status", "metadata", "predict"]


def status(model: Model) -> dict[str, Any]:
    return {
        "model_version_status": [
            {"version": model.version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def metadata(model: Model) -> dict[str, Any]:
    def tensors(specs: tuple[TensorInfo, ...]) -> dict[str, Any]:
        return {
            t.name: {"name": t.name, "dtype": t.datatype, "tensor_shape": {"dim": [{"size": d} for d in t.wire_shape]}}
            for t in specs
        }

    return {
        "model_spec": {"name": model.name, "version": model.version},
        "metadata": {
            "signature_def": {
                "signature_def": {
                    "serving_default": {
                        "inputs": tensors(model.inputs),
                        "outputs": tensors(model.outputs),
                        "method_name": "tensorflow/serving/predict",
                    }
                }
            }
        },
    }


def predict(model: Model, req: Request, limits: Limits, timing: Timing) -> Response:
    obj = read_json(req, "a predict request ({\"instances\": [...]} or {\"inputs\": ...})")
    has_rows, has_cols = "instances" in obj, "inputs" in obj
    if has_rows == has_cols:
        raise BadRequest(
            "a predict request needs exactly one of 'instances' (row format) or 'inputs' (columnar format)"
        )
    feeds = _rows(model, obj["instances"]) if has_rows else _columns(model, obj["inputs"])
    feeds = {name: check(model.input(name), arr, None, limits, f"input '{name}'") for name, arr in feeds.items()}  # type: ignore[arg-type]
    check_shared_dimensions(model.inputs, feeds)
    results = run(model, feeds, None, timing)
    names = [t.name for t in model.outputs]
    if has_cols:
        outputs: Any = jsonable(results[0]) if len(names) == 1 else dict(zip(names, map(jsonable, results)))
        return json_response(200, {"outputs": outputs}, req.direct)
    if len(names) == 1:
        return json_response(200, {"predictions": jsonable(results[0])}, req.direct)
    columns = [r.tolist() if isinstance(r, np.ndarray) else r for r in results]
    predictions = [dict(zip(names, row)) for row in zip(*columns)]
    return json_response(200, {"predictions": predictions}, req.direct)


def _rows(model: Model, instances: Any) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise BadRequest("'instances' must be a list with one entry per example")
    if not instances:
        raise BadRequest("'instances' is empty; send at least one example")
    specs = model.inputs
    if len(specs) == 1 and not isinstance(instances[0], dict):
        return {specs[0].name: from_json(specs[0], instances, f"input '{specs[0].name}'")}
    columns: dict[str, list[Any]] = {t.name: [] for t in specs}
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(f"instances[{index}] must be an object keyed by input name: {_names(model)}")
        unknown = set(instance) - set(columns)
        if unknown:
            raise BadRequest(f"instances[{index}]: unknown input {describe(sorted(unknown)[0])}; the model takes {_names(model)}")
        for name, column in columns.items():
            if name not in instance:
                raise BadRequest(f"instances[{index}]: missing input '{name}'")
            column.append(instance[name])
    return {t.name: from_json(t, columns[t.name], f"input '{t.name}'") for t in specs}


def _columns(model: Model, inputs: Any) -> dict[str, np.ndarray]:
    specs = model.inputs
    if not isinstance(inputs, dict):
        if len(specs) != 1:
            raise BadRequest(f"'inputs' must be an object keyed by input name: {_names(model)}")
        return {specs[0].name: from_json(specs[0], inputs, f"input '{specs[0].name}'")}
    unknown = set(inputs) - {t.name for t in specs}
    if unknown:
        raise BadRequest(f"unknown input {describe(sorted(unknown)[0])}; the model takes {_names(model)}")
    for t in specs:
        if t.name not in inputs:
            raise BadRequest(f"missing input '{t.name}'")
    return {t.name: from_json(t, inputs[t.name], f"input '{t.name}'") for t in specs}


def _names(model: Model) -> str:
    return ", ".join(t.describe() for t in model.inputs)
