"""TensorFlow Serving REST API: model status, metadata and `:predict`.

`{"instances": [...]}` is the row format: one entry per example, a plain value when the model has
one input, else an object keyed by input name; the answer is `{"predictions": [...]}`, one entry
per example (an object keyed by output name when the model has several outputs). As in TF Serving,
every output must have one row per instance: an output whose first dimension is not the number of
instances is a 400 (use the columnar format for such models), never a shorter answer.
`{"inputs": ...}` is the columnar format: the tensor itself for a one-input model, else an object
of tensors; the answer is `{"outputs": ...}` in the same manner. Datatypes come from the model.
`{"b64": "..."}` in place of a value of a string input is binary data, as in TF Serving: decoded
from base64, then read as the UTF-8 text the model's string tensor takes.
`signature_name` may be absent, "" or "serving_default" (the one signature served); others: 400.

`:classify` takes TF Serving's Classify request, `{"examples": [{feature: value, ...}], "context": {...}}`
(features keyed by input name; `context` holds features shared by every example and may not repeat
in them) and answers its ClassificationResponse in REST form, `{"results": [[[label, score], ...], ...]}`:
one list per example, every class in the model's order, labelled from the manifest
(functions/classes.py, which picks the scores output). `:predict` answers stay as they were.

Status and metadata are TF Serving's protos in their JSON form (`GetModelStatusResponse`,
`GetModelMetadataResponse`; tests/unit/functions/test_tf_serving_protos.py parses them with
tensorflow-serving-api): int64 fields as JSON strings, TF dtype names (DT_FLOAT, ...), shapes as
`TensorShapeProto` (size -1 for a dynamic dimension, named by the ONNX symbol). TF Serving versions
are int64: the deployed model's number is its content hash read as a hexadecimal number
(`version_number`), so `/v1/models/{name}/versions/<n>` names one content exactly; the hash itself
stays in KServe's `model_version` and in the metadata's `content_hash` entry.

Cost on the numeric path: the signature check and the one-row-per-instance check (`len()` of each
output) add 0.3-0.5 us to an iris `:predict` of ~19-24 us (in-process, `predict` alone, 40 interleaved
rounds, medians and minima of three runs on 2 shared vCPUs); string inputs pay for the `b64` walk.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from functions.errors import BadRequest
from functions.http import Request, Response, json_response
from functions.inference import Timing, jsonable, read_json, run
from functions.model import Model, TensorInfo
from functions.tensors import SCAN_BOOLEANS, Limits, check, check_shared_dimensions, describe, from_json

__all__ = ["status", "metadata", "predict", "classify", "version_number", "TF_DTYPES", "SIGNATURE", "rows",
           "columns", "checked"]

SIGNATURE = "serving_default"
# KServe v2 datatype -> TF's DataType enum name (tensorflow/core/framework/types.proto).
TF_DTYPES = {
    "BOOL": "DT_BOOL", "INT8": "DT_INT8", "INT16": "DT_INT16", "INT32": "DT_INT32", "INT64": "DT_INT64",
    "UINT8": "DT_UINT8", "UINT16": "DT_UINT16", "UINT32": "DT_UINT32", "UINT64": "DT_UINT64",
    "FP16": "DT_HALF", "FP32": "DT_FLOAT", "FP64": "DT_DOUBLE", "BYTES": "DT_STRING",
}
_HEX = frozenset("0123456789abcdefABCDEF")


def version_number(model: Model) -> int:
    """The model's version for the TF Serving API, an int64 (positive) derived from the manifest.

    Decimal versions ("1", a model without manifest) are themselves; a content hash of up to 15
    hex digits (manifests have 12) is read as hexadecimal, so the number maps back to the hash;
    anything else is hashed into 56 bits.
    """
    text = model.version
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        return int(text)
    if 0 < len(text) <= 15 and set(text) <= _HEX:
        return int(text, 16)
    import hashlib  # rare (non-hex versions); at module level it loads OpenSSL into every cold start (~3 ms)

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def status(model: Model) -> dict[str, Any]:
    return {
        "model_version_status": [
            {"version": str(version_number(model)), "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def metadata(model: Model) -> dict[str, Any]:
    def tensors(specs: tuple[TensorInfo, ...]) -> dict[str, Any]:
        return {
            t.name: {
                "name": t.name,
                "dtype": TF_DTYPES.get(t.datatype, "DT_INVALID"),
                "tensor_shape": {
                    "dim": [{"size": str(d), "name": s or ""} for d, s in zip(t.wire_shape, t.symbols)],
                    "unknown_rank": False,
                },
            }
            for t in specs
        }

    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(version_number(model))},
        "metadata": {
            "signature_def": {
                "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                "signature_def": {
                    SIGNATURE: {
                        "inputs": tensors(model.inputs),
                        "outputs": tensors(model.outputs),
                        "method_name": "tensorflow/serving/predict",
                    }
                },
            },
            "content_hash": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": model.version},
        },
    }


def predict(model: Model, req: Request, limits: Limits, timing: Timing) -> Response:
    obj = read_json(req, "a predict request ({\"instances\": [...]} or {\"inputs\": ...})", limits.allow_nan)
    _check_signature(obj)
    has_rows, has_cols = "instances" in obj, "inputs" in obj
    if has_rows == has_cols:
        raise BadRequest(
            "a predict request needs exactly one of 'instances' (row format) or 'inputs' (columnar format)"
        )
    scan = SCAN_BOOLEANS.set(True if req.direct else req.body)
    try:
        feeds = _rows(model, obj["instances"]) if has_rows else _columns(model, obj["inputs"])
    finally:
        SCAN_BOOLEANS.reset(scan)
    feeds = checked(model, feeds, limits)
    results = run(model, feeds, None, timing)
    names = [t.name for t in model.outputs]
    if has_cols:
        outputs: Any = jsonable(results[0]) if len(names) == 1 else dict(zip(names, map(jsonable, results)))
        return json_response(200, {"outputs": outputs}, req.direct)
    rows = len(obj["instances"])
    short = False
    try:  # len() is an output's first dimension, 0.05 us each; a scalar output raises TypeError
        for result in results:
            if len(result) != rows:
                short = True
                break
    except TypeError:
        short = True
    if short:
        for name, result in zip(names, results):
            _check_rows(name, result, rows)
    if len(names) == 1:
        return json_response(200, {"predictions": jsonable(results[0])}, req.direct)
    columns = [r.tolist() if isinstance(r, np.ndarray) else r for r in results]
    predictions = [dict(zip(names, row)) for row in zip(*columns)]
    return json_response(200, {"predictions": predictions}, req.direct)


def checked(model: Model, feeds: dict[str, np.ndarray], limits: Limits) -> dict[str, np.ndarray]:
    """Feeds checked against the signature and the limits (no declared shape: the rows give it)."""
    out = {}
    for name, arr in feeds.items():
        spec = model.input(name)
        assert spec is not None  # rows() and columns() refuse unknown names
        out[name] = check(spec, arr, None, limits, f"input '{name}'")
    check_shared_dimensions(model.inputs, out)
    return out


def _check_signature(obj: dict[str, Any]) -> None:
    signature = obj.get("signature_name")
    if signature is not None and signature != "" and signature != SIGNATURE:
        raise BadRequest(
            f"Serving signature name: {describe(signature)} not found in signature def; this model serves "
            f"'{SIGNATURE}' (omit signature_name or send '{SIGNATURE}')"
        )


def classify(model: Model, req: Request, limits: Limits, timing: Timing) -> Response:
    """TF Serving's `:classify`: examples in, [label, score] per class per example out (module docstring)."""
    from functions import classes  # only classify requests load it

    obj = read_json(req, "a classify request ({\"examples\": [{...}, ...]})", limits.allow_nan)
    _check_signature(obj)
    unknown = set(obj) - {"signature_name", "context", "examples"}
    if unknown:
        raise BadRequest(f"unknown key {describe(sorted(unknown)[0])} in a classify request; it takes "
                         "'examples', 'context' and 'signature_name'")
    examples, context = obj.get("examples"), obj.get("context", {})
    if not isinstance(examples, list) or not examples:
        raise BadRequest("'examples' must be a non-empty list of objects keyed by feature (input) name: "
                         f"{_names(model)}")
    if not isinstance(context, dict):
        raise BadRequest(f"'context' must be an object of features shared by every example, got {describe(context)}")
    scores = classes.scores_output(model)  # before the model runs: a model without scores is refused at once
    instances: list[Any] = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise BadRequest(f"examples[{index}] must be an object keyed by feature (input) name: {_names(model)}")
        shared = set(example) & set(context)
        if shared:
            raise BadRequest(f"examples[{index}]: feature {describe(sorted(shared)[0])} is also in 'context'; "
                             "a feature appears in one of them only")
        instances.append({**context, **example} if context else example)
    scan = SCAN_BOOLEANS.set(True if req.direct else req.body)
    try:
        feeds = _rows(model, instances, named=True, key="examples")
    finally:
        SCAN_BOOLEANS.reset(scan)
    feeds = checked(model, feeds, limits)
    result = run(model, feeds, [scores.name], timing)[0]
    _check_rows(scores.name, result, len(instances))
    labels = classes.labels_for(model, scores) or [""] * int(result.shape[1])
    results = [[[label, float(score)] for label, score in zip(labels, row)] for row in result.tolist()]
    return json_response(200, {"results": results}, req.direct)


def _check_rows(name: str, result: Any, rows: int) -> None:
    """400 unless the output has one row per instance, as TF Serving's row format requires."""
    if isinstance(result, np.ndarray):
        size = int(result.shape[0]) if result.ndim else None
    else:
        size = len(result) if isinstance(result, list) else None
    if size != rows:
        words = "no batch dimension (a scalar)" if size is None else f"batch size {size}"
        raise BadRequest(
            f"output '{name}' has {words} but the request has {rows} instances: the row format "
            "('instances') answers one prediction per instance, so every output needs one row per "
            "instance; send the columnar format ('inputs') for this model"
        )


def _is_b64(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and "b64" in value


def rows(model: Model, instances: Any) -> dict[str, np.ndarray]:
    """TF's row format as feeds: one entry per example, a value for a one-input model or an object by name."""
    return _rows(model, instances)


def columns(model: Model, inputs: Any) -> dict[str, np.ndarray]:
    """TF's columnar format as feeds: the tensor of a one-input model, or an object of tensors by name."""
    return _columns(model, inputs)


def _rows(model: Model, instances: Any, named: bool = False, key: str = "instances") -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise BadRequest(f"'{key}' must be a list with one entry per example")
    if not instances:
        raise BadRequest(f"'{key}' is empty; send at least one example")
    specs = model.inputs
    if not named and len(specs) == 1 and (not isinstance(instances[0], dict) or _is_b64(instances[0])):
        return {specs[0].name: _from_json(specs[0], instances, "")}
    columns: dict[str, list[Any]] = {t.name: [] for t in specs}
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(f"{key}[{index}] must be an object keyed by input name: {_names(model)}")
        unknown = set(instance) - set(columns)
        if unknown:
            raise BadRequest(f"{key}[{index}]: unknown input {describe(sorted(unknown)[0])}; the model takes {_names(model)}")
        for name, column in columns.items():
            if name not in instance:
                raise BadRequest(f"{key}[{index}]: missing input '{name}'")
            column.append(instance[name])
    return {t.name: _from_json(t, columns[t.name], "") for t in specs}


def _columns(model: Model, inputs: Any) -> dict[str, np.ndarray]:
    specs = model.inputs
    if not isinstance(inputs, dict) or (len(specs) == 1 and _is_b64(inputs) and model.input("b64") is None):
        if len(specs) != 1:
            raise BadRequest(f"'inputs' must be an object keyed by input name: {_names(model)}")
        return {specs[0].name: _from_json(specs[0], inputs, "")}
    unknown = set(inputs) - {t.name for t in specs}
    if unknown:
        raise BadRequest(f"unknown input {describe(sorted(unknown)[0])}; the model takes {_names(model)}")
    for t in specs:
        if t.name not in inputs:
            raise BadRequest(f"missing input '{t.name}'")
    return {t.name: _from_json(t, inputs[t.name], "") for t in specs}


def _from_json(spec: TensorInfo, data: Any, path: str) -> np.ndarray:
    """from_json, after TF Serving's {"b64": ...} values of a string input are decoded to text."""
    if spec.dtype is None:
        data = _decode_b64(data, max(len(spec.shape), 1), path, f"input '{spec.name}'")
    return from_json(spec, data, f"input '{spec.name}'")


def _decode_b64(value: Any, depth: int, path: str, where: str) -> Any:
    """`value` with each {"b64": ...} replaced by its text, at most `depth` list levels down (deeper
    nesting is left for from_json to refuse); the lists are copied only where something changed."""
    if _is_b64(value):
        return _b64_text(value["b64"], path, where)
    if type(value) is not list or depth <= 0:
        return value
    changed: list[Any] | None = None
    for index, item in enumerate(value):
        if type(item) is dict or (type(item) is list and depth > 1):
            new = _decode_b64(item, depth - 1, f"{path}[{index}]", where)
            if new is not item:
                if changed is None:
                    changed = list(value)
                changed[index] = new
    return value if changed is None else changed


def _b64_text(text: Any, path: str, where: str) -> str:
    if type(text) is not str:
        raise BadRequest(f"{where}: element {path or '[0]'} is {{\"b64\": {describe(text)}}}; 'b64' takes a base64 string")
    try:  # standard or URL-safe alphabet, padding optional (as clients send both)
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None,
                               validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{where}: element {path or '[0]'}: 'b64' is not valid base64 ({exc})") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{where}: element {path or '[0]'}: 'b64' decodes to {len(raw)} bytes that are not UTF-8 (byte {exc.start}); "
                         "string inputs take UTF-8 text") from exc


def _names(model: Model) -> str:
    return ", ".join(t.describe() for t in model.inputs)
