"""KServe v2 / Open Inference Protocol: metadata and infer, JSON and binary tensors.

Tensor data arrives three ways:
- JSON `data`, flat (row-major) or nested, reshaped to the declared `shape`;
- a base64 string in `data`: the raw little-endian bytes of the tensor (cheap for big inputs);
- the binary tensor extension: header `Inference-Header-Content-Length: N`, the first N bytes of
  the body are the JSON request, each binary input has `parameters.binary_data_size` and its raw
  bytes follow in input order.
Outputs are JSON unless an output asks `parameters.binary_data` (or the request asks
`parameters.binary_data_output`): then the answer is a JSON header followed by raw bytes.

Classification (Triton's extension, as tritonclient's `InferRequestedOutput(name, class_count=N)`
sends it): an output asked for with `parameters.classification: N` comes back as BYTES [..., N] of
"value:index[:label]" strings, labelled from the manifest (functions/classes.py). Requests without it
pay one `is None` test per output; functions/classes.py is imported only when one asks.
Measured A/B (the trees before and after, both imported in one process, 60 interleaved rounds of 200 calls
of `handler` on the iris v2 JSON event of bench.events, batch 1, FakeContext; three processes, 2
shared vCPUs): medians before / after this and the ALLOW_NAN change 251 / 245, 212 / 210, 201 / 192
us: no difference the shared machine can resolve (its noise is tens of us; the added work is two
`is None` tests and one argument, ~0.05 us).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from functions.errors import BadRequest, UnsupportedMediaType
from functions.http import Request, Response, binary_response, json_response
from functions.inference import _DTYPE_TO_DATATYPE as _DATATYPES, Timing, is_json, read_json, run
from functions.model import Model, TensorInfo
from functions.tensors import (
    NOT_NONFINITE, SCAN_BOOLEANS, loads_nonfinite,
    Limits, all_finite, check, check_shared_dimensions, describe, from_base64, from_bytes, from_json, json_error,
)

__all__ = ["metadata", "infer", "classifiable", "Plans"]

PLATFORM = "onnxruntime_onnx"
_BINARY_HEADER = "inference-header-content-length"


def metadata(model: Model) -> dict[str, Any]:
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": PLATFORM,
        "inputs": [{"name": t.name, "datatype": t.datatype, "shape": t.wire_shape} for t in model.inputs],
        "outputs": [{"name": t.name, "datatype": t.datatype, "shape": t.wire_shape} for t in model.outputs],
    }


class Plans:
    """Binary requests by their JSON header (issue 12): what the general path derived from a header it
    accepted (each input's place in the binary part, dtype and shape; the outputs asked for), kept
    so that a request with the same header bytes, content type and binary length skips it: a client
    sending one tensor layout (tritonclient, a loop over images) pays the parse and the checks once.
    The values are still read per request: NaN/infinity (unless ALLOW_NAN) sends the request back
    to the general path, which answers the 400. One `Plans` per service (functions/app.py), at most
    `LIMIT` headers of at most `MAX_HEAD` bytes; numeric inputs from the binary part only.
    Per request it replaces ~110 traced Python lines (the header's parse, `_inputs`, `check`,
    `_outputs`) by ~15; the handler / minimal handler ratio it buys is in bench/RESULTS.md section 1.
    tests/unit/functions/test_fast_paths.py checks that it answers what the general path answers."""

    __slots__ = ("_by_head",)
    LIMIT = 64
    MAX_HEAD = 4096

    def __init__(self) -> None:
        self._by_head: dict[tuple[str | None, bytes], _Plan] = {}


class _Plan:
    __slots__ = ("obj", "layout", "total", "names", "binary_out", "classify")

    def __init__(self, obj: dict[str, Any], layout: tuple[tuple[str, np.dtype[Any], tuple[int, ...], int, int, bool], ...],
                 total: int, outputs: tuple[list[str] | None, set[str], dict[str, int] | None]) -> None:
        self.obj, self.layout, self.total = obj, layout, total
        self.names, self.binary_out, self.classify = outputs


def infer(model: Model, req: Request, limits: Limits, timing: Timing, plans: Plans | None = None) -> Response:
    planned = _planned(plans, req) if plans is not None and not req.direct else None
    if planned is not None:
        plan, feeds = planned
        obj, names, binary_out, classify = plan.obj, plan.names, plan.binary_out, plan.classify
    else:
        obj, binary = _read(req, limits.allow_nan)
        if "id" in obj and not isinstance(obj["id"], str):
            raise BadRequest(f"'id' must be a string (it is echoed in the answer), got {describe(obj['id'])}")
        scan = SCAN_BOOLEANS.set(True if req.direct else req.body)  # read only if a JSON list needs it
        try:
            feeds = _inputs(model, obj, binary, limits)
        finally:
            SCAN_BOOLEANS.reset(scan)
        names, binary_out, classify = outputs = _outputs(model, obj)
        if plans is not None and binary is not None:
            _remember(plans, req, obj, feeds, outputs, limits)
    results = run(model, feeds, names, timing)
    out_names = names or model.output_names
    answer: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if "id" in obj:
        answer["id"] = obj["id"]  # a string: checked before inference
    outputs_doc: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, arr in zip(out_names, results):
        if type(arr) is not np.ndarray:  # sequences and maps (ZipMap) come as lists
            arr = np.asarray(arr, dtype=object)
        if classify is not None and name in classify:
            arr = _classes(model, name, arr, classify[name])
        entry: dict[str, Any] = {"name": name, "datatype": _DATATYPES.get(arr.dtype, "BYTES"), "shape": list(arr.shape)}
        if name in binary_out:
            raw = _object_bytes(arr) if arr.dtype.kind == "O" else np.ascontiguousarray(arr).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = arr.ravel().tolist() if arr.dtype.kind == "O" else arr.ravel()  # `jsonable`
        outputs_doc.append(entry)
    answer["outputs"] = outputs_doc
    if chunks:
        return binary_response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), chunks, req.direct)
    return json_response(200, answer, req.direct)


def _planned(plans: Plans, req: Request) -> tuple[_Plan, dict[str, np.ndarray]] | None:
    """The feeds of a binary request whose header a plan knows, or None (the general path decides)."""
    length = req.header(_BINARY_HEADER)
    if length is None or not length.isdigit():
        return None
    size = int(length)
    body = req.body
    plan = plans._by_head.get((req.header("content-type"), body[:size]))
    if plan is None or len(body) - size != plan.total:
        return None
    feeds: dict[str, np.ndarray] = {}
    for name, dtype, shape, start, count, finite in plan.layout:
        arr = np.frombuffer(body, dtype, count, size + start).reshape(shape)
        if finite and not all_finite(arr):
            return None  # the general path refuses it, with the reason
        feeds[name] = arr
    return plan, feeds


def _remember(plans: Plans, req: Request, obj: dict[str, Any], feeds: dict[str, np.ndarray],
              outputs: tuple[list[str] | None, set[str], dict[str, int] | None], limits: Limits) -> None:
    """Keep what the general path derived from this binary request's header (see `Plans`)."""
    size = int(req.header(_BINARY_HEADER) or 0)
    if len(plans._by_head) >= Plans.LIMIT or size > Plans.MAX_HEAD:
        return
    layout = []
    offset = 0
    for tensor in obj["inputs"]:  # validated by _inputs: dicts with known names, in body order
        params = tensor.get("parameters")
        nbytes = params.get("binary_data_size") if isinstance(params, dict) else None
        arr = feeds[tensor["name"]]
        if nbytes is None or arr.dtype.kind == "O":
            return  # data in the header, or strings: the general path each time
        layout.append((tensor["name"], arr.dtype, arr.shape, offset, arr.size,
                       arr.dtype.kind == "f" and not limits.allow_nan))
        offset += nbytes
    plans._by_head[(req.header("content-type"), req.body[:size])] = _Plan(obj, tuple(layout), offset, outputs)


def _read(req: Request, allow_nan: bool) -> tuple[dict[str, Any], memoryview | None]:
    length = req.header(_BINARY_HEADER)
    ctype = req.header("content-type")
    media = (ctype or "").split(";", 1)[0].strip().lower()
    if length is None or req.direct:
        if media == "application/octet-stream":
            raise BadRequest(
                "a binary body needs the 'Inference-Header-Content-Length' header giving the size "
                "of its leading JSON request (KServe v2 binary tensor extension)"
            )
        return read_json(req, "an inference request", allow_nan), None
    if ctype and media != "application/octet-stream" and not is_json(ctype):
        raise UnsupportedMediaType(
            f"content type {ctype!r} is not accepted for a binary tensor request; "
            "send 'Content-Type: application/octet-stream'"
        )
    try:
        size = int(length)
    except ValueError as exc:
        raise BadRequest(f"Inference-Header-Content-Length must be an integer, got {length!r}") from exc
    if not 0 < size <= len(req.body):
        raise BadRequest(
            f"Inference-Header-Content-Length is {size} but the body has {len(req.body)} bytes"
        )
    view = memoryview(req.body)
    try:
        obj = orjson.loads(view[:size])
    except orjson.JSONDecodeError as exc:
        obj = loads_nonfinite(view[:size], allow_nan, "the JSON header of the binary request")
        if obj is NOT_NONFINITE:
            raise BadRequest(f"the JSON header of the binary request is not valid JSON "
                             f"({json_error(view[:size], exc)})") from exc
    if not isinstance(obj, dict):
        raise BadRequest("the JSON header of the binary request must be a JSON object")
    return obj, view[size:]


def _inputs(model: Model, obj: dict[str, Any], binary: memoryview | None, limits: Limits) -> dict[str, np.ndarray]:
    tensors = obj.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise BadRequest(
            "'inputs' must be a non-empty list of tensors like "
            '{"name": ..., "datatype": ..., "shape": [...], "data": [...]}; '
            f"the model takes {_signature(model)}"
        )
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict):
            raise BadRequest(f"inputs[{index}] must be a JSON object")
        name = tensor.get("name")
        spec = model.input(name) if isinstance(name, str) else None
        if spec is None:
            raise BadRequest(f"inputs[{index}]: unknown input {describe(name)}; the model takes {_signature(model)}")
        where = f"input '{name}'"
        if name in feeds:
            raise BadRequest(f"{where} is given twice")
        if tensor.get("datatype") != spec.datatype:
            raise BadRequest(f"{where}: expected datatype {spec.datatype}, got {describe(tensor.get('datatype'))}")
        shape = tensor.get("shape")
        if type(shape) is not list or len(shape) > 32 or not _dims_ok(shape):
            raise BadRequest(f"{where}: 'shape' must be a list of non-negative integers (one per dimension), "
                             f"got {_shape_words(shape)}")
        params = tensor.get("parameters")
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if binary is None:
                raise BadRequest(f"{where}: binary_data_size given but the request has no binary part")
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise BadRequest(f"{where}: binary_data_size {describe(size)} runs past the {len(binary)} binary bytes")
            arr = from_bytes(spec, binary[offset : offset + size], where)
            offset += size
        elif "data" not in tensor:
            raise BadRequest(f"{where}: no 'data' (and no parameters.binary_data_size)")
        elif isinstance(tensor["data"], str) and spec.dtype is not None:
            arr = from_base64(spec, tensor["data"], where)
        else:
            arr = from_json(spec, tensor["data"], where)
        feeds[name] = check(spec, arr, shape, limits, where)
    check_shared_dimensions(model.inputs, feeds)
    if binary is not None and offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data are not claimed by any input")
    for spec in model.inputs:
        if spec.name not in feeds:
            raise BadRequest(f"missing input {spec.describe()}")
    return feeds


def _outputs(model: Model, obj: dict[str, Any]) -> tuple[list[str] | None, set[str], dict[str, int] | None]:
    """The outputs asked for (None: all), those to answer in binary, and those asked as classes (count)."""
    params = obj.get("parameters")
    all_binary = isinstance(params, dict) and params.get("binary_data_output") is True
    wanted = obj.get("outputs")
    known = [t.name for t in model.outputs]
    if wanted is None:
        return None, set(known) if all_binary else set(), None
    if not isinstance(wanted, list) or not wanted:
        raise BadRequest("'outputs' must be a non-empty list of {\"name\": ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    classify: dict[str, int] | None = None
    for index, item in enumerate(wanted):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in known:
            raise BadRequest(f"outputs[{index}]: unknown output {describe(name)}; the model has {known}")
        names.append(name)
        item_params = item.get("parameters")
        if isinstance(item_params, dict):
            if "classification" in item_params:
                count = item_params["classification"]
                if type(count) is float and count.is_integer() and count < 2**31:
                    count = int(count)  # 2.0: JSON Schema's "integer" admits it, so the server does too
                if type(count) is not int or count < 1:
                    raise BadRequest(f"outputs[{index}]: 'classification' must be a positive integer (how many "
                                     f"classes to answer, highest first), got {describe(count)}")
                spec = next(t for t in model.outputs if t.name == name)
                if not classifiable(spec):
                    raise BadRequest(f"outputs[{index}]: output {spec.describe()} has no class dimension (numeric, "
                                     "classes along a last dimension that is not the batch); classification is "
                                     "for outputs of scores such as [batch, classes]")
                classify = classify or {}
                classify[name] = count
            if all_binary or item_params.get("binary_data") is True:
                binary.add(name)
        elif all_binary:
            binary.add(name)
    return names, binary, classify


def classifiable(spec: TensorInfo) -> bool:
    """Whether Triton's classification applies to the output: numeric, with a last dimension of classes
    (a rank-1 output with a dynamic dimension is a batch of values, not a vector of classes)."""
    return spec.dtype is not None and bool(spec.shape) and not (len(spec.shape) == 1 and spec.shape[0] is None)


def _classes(model: Model, name: str, arr: np.ndarray, count: int) -> np.ndarray:
    from functions import classes  # only requests that ask for classes load it

    spec = next(t for t in model.outputs if t.name == name)
    return classes.top_k(arr, count, classes.labels_for(model, spec), f"output '{name}'")


def _object_bytes(arr: np.ndarray) -> bytes:
    parts = []
    for item in arr.reshape(-1).tolist():
        raw = item if isinstance(item, bytes) else str(item).encode()
        parts.append(len(raw).to_bytes(4, "little") + raw)
    return b"".join(parts)


def _dims_ok(shape: list[Any]) -> bool:
    """Every dimension an int (not a bool) from 0 to 2**40: in C calls, no generator per request."""
    return not shape or ({*map(type, shape)} == _INT and min(shape) >= 0 and max(shape) < 2**40)


_INT = {int}


def _shape_words(shape: object) -> str:
    if isinstance(shape, list):
        bad = next((d for d in shape if not (type(d) is int and 0 <= d < 2**40)), None)
        if len(shape) > 32:
            return f"{len(shape)} dimensions (at most 32)"
        return f"a list holding {describe(bad)}"
    return describe(shape)


def _signature(model: Model) -> str:
    return ", ".join(t.describe() for t in model.inputs)
