"""TorchServe's inference API and describe-model, for users coming from TorchServe.

Routes (TorchServe serves inference on :8080 and management on :8081; one endpoint serves both here):
- `GET /ping` → `{"status": "Healthy"}`; a model that did not load → 500 `{"status": "Unhealthy",
  "error": why}` (TorchServe answers 500 when unhealthy).
- `GET /models/{model}[/{version}]` → TorchServe's describe-model answer: a list of one object
  with `modelName`, `modelVersion` (the content hash, as in KServe v2), `modelUrl` (the ONNX file),
  `runtime`, `minWorkers`/`maxWorkers` (1: one Lambda environment is one worker; Lambda scales the
  environments), `batchSize` 1 and `maxBatchDelay` 0 (no server-side batching: a request is one
  batch), `loadedAtStartup`, and one READY worker (this environment: pid, start time, memory).
- `POST /predictions/{model}[/{version}]` → the model's answer.

The request body. TorchServe passes the body to the model's handler, which decides its form; its
documented JSON forms are the handler's input as it is, `{"data": ...}` (what TorchServe's own
handlers read: `data.get("data") or data.get("body")`) and KServe v1's `{"instances": [...]}` (its
KServe wrapper). All three are accepted, JSON only (no images: an ONNX model takes tensors):
- the input itself: for a one-input model a (nested) list; for several inputs an object keyed by
  input name. A value with the input's full rank is a batch; one dimension less (the batch
  dimension left out, e.g. `[5.1, 3.5, 1.4, 0.2]` for iris' [batch, 4]) is one example;
- `{"data": <the input as above>}`;
- `{"instances": [row, ...]}`: TF Serving's / KServe v1's row format (functions/tfserving.py).
An object whose keys are input names is always read as inputs, so a model with an input named
`data` or `instances` is still served.

The answer. One example in, one prediction out (TorchServe answers each request with its
handler's one result, not a list of one): the output's row for a one-output model, else an object
keyed by output name. A batch in, a list with one prediction per row. When an output has no row
per example (a model whose outputs are not batched), the outputs are answered whole: the value for
one output, else an object keyed by output name. NaN answers as null, as elsewhere.

Class labels: TorchServe's image classifier handler answers the top 5 as {label: probability}, but
that is a handler's post-processing, not part of its API; here classes come through KServe v2's
`classification` parameter or TF Serving's `:classify` (functions/classes.py), and /predictions
answers the model's outputs as they are.

Loaded only when a TorchServe route is asked (functions/app.py imports it there): the cold start
and the KServe / TF Serving paths do not change.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

import orjson

from functions.errors import BadRequest, UnsupportedMediaType
from functions.http import Request, Response, json_response
from functions.inference import Timing, is_json, jsonable, run
from functions.model import Model
from functions.tensors import NOT_NONFINITE, SCAN_BOOLEANS, Limits, json_error, loads_nonfinite
from functions.tfserving import checked, columns, rows

__all__ = ["ping", "describe", "predict", "STARTED"]

STARTED = time.time()  # when this module was first imported: describe's fallback for the process start
_WRAPPERS = ("data", "instances")
_WHAT = "a prediction request: the input as JSON, {\"data\": ...} or {\"instances\": [...]}"


def ping(error: str | None, direct: bool) -> Response:
    if error is None:
        return json_response(200, {"status": "Healthy"}, direct)
    return json_response(500, {"status": "Unhealthy", "error": f"the model is not loaded: {error}"}, direct)


def describe(model: Model) -> list[dict[str, Any]]:
    """TorchServe's describe-model answer for the deployed model (module docstring)."""
    since = _process_start()
    start_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)) + f".{int(since * 1000) % 1000:03d}Z"
    return [{
        "modelName": model.name,
        "modelVersion": model.version,
        "modelUrl": "model.onnx",
        "runtime": "python",
        "minWorkers": 1,
        "maxWorkers": 1,
        "batchSize": 1,
        "maxBatchDelay": 0,
        "loadedAtStartup": True,
        "workers": [{"id": str(os.getpid()), "startTime": start_time, "status": "READY",
                     "memoryUsage": _memory_bytes(), "pid": os.getpid(), "gpu": False, "gpuUsage": "N/A"}],
    }]  # fmt: skip


def predict(model: Model, req: Request, limits: Limits, timing: Timing) -> Response:
    obj: Any = req.parsed if req.direct else _body(req, limits.allow_nan)
    scan = SCAN_BOOLEANS.set(True if req.direct else req.body)
    try:
        feeds, single = _feeds(model, obj)
    finally:
        SCAN_BOOLEANS.reset(scan)
    feeds = checked(model, feeds, limits)
    results = run(model, feeds, None, timing)
    names = [t.name for t in model.outputs]
    count = 1 if single else next((int(a.shape[0]) for a in feeds.values() if a.ndim), 1)
    if all(_rows_of(r) == count for r in results):
        per_row = [r.tolist() if isinstance(r, np.ndarray) else r for r in results]
        if single:
            first = [column[0] for column in per_row]
            answer: Any = first[0] if len(names) == 1 else dict(zip(names, first))
        elif len(names) == 1:
            answer = jsonable(results[0])
        else:
            answer = [dict(zip(names, row)) for row in zip(*per_row)]
    else:  # outputs without a row per example: whole
        answer = jsonable(results[0]) if len(names) == 1 else dict(zip(names, map(jsonable, results)))
    return json_response(200, answer, req.direct)


def _body(req: Request, allow_nan: bool) -> Any:
    """The JSON body, any JSON value (a list is the input itself; read_json takes objects only)."""
    ctype = req.header("content-type")
    if not is_json(ctype):
        raise UnsupportedMediaType(f"content type {ctype!r} is not accepted here; send {_WHAT} as "
                                   "'Content-Type: application/json'")
    if not req.body:
        raise BadRequest(f"the body is empty; send {_WHAT}")
    try:
        return orjson.loads(req.body)
    except orjson.JSONDecodeError as exc:
        obj = loads_nonfinite(req.body, allow_nan, "a prediction request")
        if obj is NOT_NONFINITE:
            raise BadRequest(f"the body is not valid JSON ({json_error(req.body, exc)}); send {_WHAT}") from exc
        return obj


def _feeds(model: Model, obj: Any) -> tuple[dict[str, np.ndarray], bool]:
    """(feeds, whether the body was one example) for the forms of the module docstring."""
    specs = model.inputs
    if isinstance(obj, dict) and len(obj) == 1:
        (key, value), = obj.items()
        if key in _WRAPPERS and model.input(key) is None:
            if key == "instances":
                return rows(model, value), False
            obj = value
    if isinstance(obj, dict):
        unknown = sorted(set(obj) - {t.name for t in specs})
        if unknown:
            raise BadRequest(f"unknown input {unknown[0]!r}; send the input as JSON, {{\"data\": ...}} or "
                             f"{{\"instances\": [...]}}; the model takes {_names(model)}")
        missing = [t.name for t in specs if t.name not in obj]
        if missing:
            raise BadRequest(f"missing input {missing[0]!r}; the model takes {_names(model)}")
        ranks = {_is_example(t, obj[t.name]) for t in specs}
        if len(ranks) > 1:
            raise BadRequest("some inputs are given as one example and others as a batch; send every input "
                             "with its batch dimension, or every input without it")
        single = ranks.pop()
        if single:
            return columns(model, {name: [value] for name, value in obj.items()}), True
        return columns(model, obj), False
    if len(specs) != 1:
        raise BadRequest(f"this model takes several inputs: send an object keyed by input name ({_names(model)}), "
                         "as it is or as {\"data\": ...}, or {\"instances\": [...]}")
    single = _is_example(specs[0], obj)
    return columns(model, [obj] if single else obj), single


def _is_example(spec: Any, value: Any) -> bool:
    """Whether `value` is one example: one list level less than the input's rank (its batch dimension left out)."""
    depth = 0
    while isinstance(value, list) and depth <= len(spec.shape):
        depth += 1
        value = value[0] if value else None
    return len(spec.shape) >= 1 and depth == len(spec.shape) - 1


def _rows_of(result: Any) -> int | None:
    if isinstance(result, np.ndarray):
        return int(result.shape[0]) if result.ndim else None
    return len(result) if isinstance(result, list) else None


def _process_start() -> float:
    """When this process (the worker: the execution environment's runtime) started, from /proc."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, after the command
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return STARTED


def _memory_bytes() -> int:
    """This process' resident memory, from /proc (0 where there is none)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _names(model: Model) -> str:
    return ", ".join(t.describe() for t in model.inputs)
