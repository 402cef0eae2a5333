"""The OpenAPI 3.1 document of the routes this handler answers, built on first request.

The request schemas are generated from the model's signature and are never looser than the server:
a body that validates against them is accepted (issue 13 #8). JSON Schema cannot say "the length of
`data` is the product of `shape`", nor "inputs that share the dimension N have the same N", so each
request schema is a choice (`oneOf` / `anyOf`) over a few sizes of the dynamic dimensions: in the variant of size `b`
every dynamic dimension is `b`, `shape` is that exact list and `data` holds exactly that many
values, nested one list per dimension or flat. `b` runs from 1 to `SCHEMA_ROWS` (capped by
MAX_BATCH_SIZE and so that a body stays far under the payload limit): the server serves up to
MAX_BATCH_SIZE rows; the schema promises only what it can check. Values are typed by datatype and
bounded by its range (FP16 to ±65504), so every schema-valid value arrives finite. One rule JSON
Schema cannot state: integer tensors take JSON integers, and `3.0` (which its "integer" admits) is
refused like any number with a fraction.

Beside KServe v2 and TF Serving `:predict`: TF Serving's `:classify` (when the model has a scores output,
functions/classes.py), Triton's `classification` parameter on the outputs it applies to, and
TorchServe's /ping, /predictions and /models routes (functions/torchserve.py), their bodies too.

Not expressible in JSON Schema, so described in words only: the base64 form of `data` and the
binary tensor extension (application/octet-stream, JSON header of `Inference-Header-Content-Length`
bytes, then raw tensor bytes in input order).

Built once per environment on the first GET /openapi.json (functions/app.py keeps it): it costs
nothing at cold start, and this module imports nothing beyond what the handler already has.
Measured (2 shared vCPUs, median of 30 builds): iris 0.12 ms for 33 KB of compact JSON, the
two-input test model 0.20 ms for 40 KB; with TorchServe's routes and `:classify` added, iris 0.32 ms
for 53 KB, the two-input model 0.46 ms for 58 KB.
"""

from __future__ import annotations

from typing import Any

from functions import classes, kserve, tfserving
from functions.errors import BadRequest
from functions.model import Model, TensorInfo
from functions.tensors import Limits

__all__ = ["document", "SCHEMA_ROWS"]

SCHEMA_ROWS = 8  # the largest size of a dynamic dimension the request schemas enumerate
_BYTES_PER_VALUE = 32  # generous size of one JSON value with its separator, to keep bodies under the limit
_FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": 1.7976931348623157e308}
_INT_BITS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
_UINT_BITS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}
_JSON = "application/json"
_BINARY = "application/octet-stream"
_BINARY_HEADER = "Inference-Header-Content-Length"
_BINARY_WORDS = (
    f"Binary tensor extension: send `Content-Type: {_BINARY}` and the header `{_BINARY_HEADER}: N`; the "
    "first N bytes of the body are the JSON request (as for application/json), where each binary input "
    "has `parameters.binary_data_size` instead of `data`; the raw little-endian bytes of those inputs "
    "follow in input order (BYTES elements: a 4-byte little-endian length, then UTF-8). Outputs come "
    "back binary when an output asks `parameters.binary_data: true` or the request asks "
    "`parameters.binary_data_output: true`: the answer is then application/octet-stream with the same header."
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _value(datatype: str) -> dict[str, Any]:
    """One element of a tensor of `datatype` as JSON, within the datatype's range."""
    if datatype in _FLOAT_MAX:
        top = _FLOAT_MAX[datatype]
        return {"type": "number", "minimum": -top, "maximum": top}
    if datatype in _INT_BITS:
        half = 2 ** (_INT_BITS[datatype] - 1)
        return {"type": "integer", "minimum": -half, "maximum": half - 1}
    if datatype in _UINT_BITS:
        return {"type": "integer", "minimum": 0, "maximum": 2 ** _UINT_BITS[datatype] - 1}
    if datatype == "BOOL":
        return {"type": "boolean"}
    return {"type": "string"}  # BYTES: UTF-8 text


def _nested(shape: list[int], datatype: str) -> dict[str, Any]:
    """The tensor as nested lists, one level per dimension."""
    schema = _ref(f"value.{datatype}")
    for dim in reversed(shape):
        schema = {"type": "array", "minItems": dim, "maxItems": dim, "items": schema}
    return schema


def _count(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _shape(spec: TensorInfo, size: int) -> list[int]:
    return [size if dim is None else dim for dim in spec.shape]


def _sizes(model: Model, limits: Limits) -> list[int]:
    """The sizes of the dynamic dimensions the schemas enumerate (one variant each)."""
    if not any(dim is None for spec in model.inputs for dim in spec.shape):
        return [1]
    top = max(1, min(SCHEMA_ROWS, limits.max_batch))
    budget = limits.max_body_bytes // 2
    while top > 1 and sum(_count(_shape(s, top)) for s in model.inputs) * _BYTES_PER_VALUE > budget:
        top -= 1
    return list(range(1, top + 1))


def _v2_input(spec: TensorInfo, size: int) -> dict[str, Any]:
    shape = _shape(spec, size)
    data: dict[str, Any] = _nested(shape, spec.datatype)
    if len(shape) != 1:  # a flat, row-major list is accepted too
        data = {"oneOf": [data, _nested([_count(shape)], spec.datatype)]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"type": "string", "const": spec.name},
            "datatype": {"type": "string", "enum": [spec.datatype]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0},
                      "minItems": len(shape), "maxItems": len(shape), "const": shape},
            "data": data,
            # binary_data_size belongs to the binary extension (application/octet-stream) only
            "parameters": {"type": "object", "properties": {"binary_data_size": False}},
        },
    }


def _v2_request(model: Model, sizes: list[int]) -> dict[str, Any]:
    outputs = [t.name for t in model.outputs]
    variants = []
    for size in sizes:
        n = len(model.inputs)
        items = [_v2_input(spec, size) for spec in model.inputs]
        variants.append({
            "title": f"dynamic dimensions of size {size}",
            "type": "object",
            "required": ["inputs"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                # each input exactly once: n items, each one of the inputs, every input among them
                "inputs": {"type": "array", "minItems": n, "maxItems": n,
                           "items": items[0] if n == 1 else {"oneOf": items},
                           **({} if n == 1 else {"allOf": [
                               {"contains": {"type": "object", "required": ["name"],
                                             "properties": {"name": {"const": spec.name}}}} for spec in model.inputs
                           ]})},
                "outputs": {"type": "array", "minItems": 1, "maxItems": len(outputs), "uniqueItems": True,
                            "items": _v2_output(model)},
                "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
            },
        })  # fmt: skip
    return variants[0] if len(variants) == 1 else {"oneOf": variants}


def _v2_output(model: Model) -> dict[str, Any]:
    """One entry of `outputs`: a name, binary_data, and Triton's classification count where it applies."""
    def item(names: list[str], classes: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"binary_data": {"type": "boolean"}}
        if classes:
            params["classification"] = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                                        "description": "answer the N highest classes as 'value:index[:label]' "
                                                       "BYTES (Triton's classification extension)"}
        return {"type": "object", "required": ["name"], "additionalProperties": False,
                "properties": {"name": {"type": "string", "enum": names},
                               "parameters": {"type": "object", "additionalProperties": False, "properties": params}}}

    scored = [t.name for t in model.outputs if kserve.classifiable(t)]
    plain = [t.name for t in model.outputs if t.name not in scored]
    variants = [item(names, classes) for names, classes in ((scored, True), (plain, False)) if names]
    return variants[0] if len(variants) == 1 else {"oneOf": variants}


def _row(spec: TensorInfo, size: int) -> dict[str, Any]:
    return _nested(_shape(spec, size)[1:], spec.datatype)


def _tf_request(model: Model, sizes: list[int]) -> dict[str, Any]:
    """`instances` (rows: the first dimension is the list) or `inputs` (columns: whole tensors)."""
    specs = model.inputs
    inner_dynamic = any(dim is None for spec in specs for dim in spec.shape[1:])
    signature = {"type": "string", "enum": ["serving_default"]}
    forms: list[dict[str, Any]] = []
    for size in sizes:
        columns = {spec.name: _nested(_shape(spec, size), spec.datatype) for spec in specs}
        named = {"type": "object", "required": list(columns), "additionalProperties": False, "properties": columns}
        tensor = {"oneOf": [columns[specs[0].name], named]} if len(specs) == 1 else named
        forms.append({"type": "object", "required": ["inputs"], "additionalProperties": False,
                      "properties": {"signature_name": signature, "inputs": tensor}})
    if all(spec.shape and spec.shape[0] is None for spec in specs):
        # rows: one entry per example; with dynamic dimensions past the first, as many rows as their size
        for size in sizes if inner_dynamic else [max(sizes)]:
            rows = {spec.name: _row(spec, size) for spec in specs}
            row = rows[specs[0].name] if len(specs) == 1 else {
                "type": "object", "required": list(rows), "additionalProperties": False, "properties": rows}
            forms.append({"type": "object", "required": ["instances"], "additionalProperties": False,
                          "properties": {"signature_name": signature,
                                         "instances": {"type": "array", "minItems": size if inner_dynamic else 1,
                                                       "maxItems": size, "items": row}}})
    return {"anyOf": forms} if len(forms) > 1 else forms[0]


def _classify_request(model: Model, sizes: list[int]) -> dict[str, Any] | None:
    """TF Serving's Classify request: examples keyed by input name (rows); None when the model has no
    scores output or an input without a dynamic first dimension. `context` is accepted, not generated."""
    specs = model.inputs
    try:
        classes.scores_output(model)
    except BadRequest:
        return None
    if not all(spec.shape and spec.shape[0] is None for spec in specs):
        return None
    inner_dynamic = any(dim is None for spec in specs for dim in spec.shape[1:])
    forms = []
    for size in sizes if inner_dynamic else [max(sizes)]:
        rows = {spec.name: _row(spec, size) for spec in specs}
        example = {"type": "object", "required": list(rows), "additionalProperties": False, "properties": rows}
        forms.append({"type": "object", "required": ["examples"], "additionalProperties": False,
                      "properties": {"signature_name": {"type": "string", "enum": ["serving_default"]},
                                     "examples": {"type": "array", "minItems": size if inner_dynamic else 1,
                                                  "maxItems": size, "items": example}}})
    return forms[0] if len(forms) == 1 else {"anyOf": forms}


def _ts_request(model: Model, sizes: list[int]) -> dict[str, Any]:
    """TorchServe's /predictions body (functions/torchserve.py): the input as it is (a batch, or one
    example without its batch dimension), keyed by input name, wrapped in `data`, or `instances` rows."""
    specs = model.inputs
    batches = [{spec.name: _nested(_shape(spec, size), spec.datatype) for spec in specs} for size in sizes]
    single = None
    if all(spec.shape and spec.shape[0] in (None, 1) for spec in specs):
        single = {spec.name: _row(spec, 1) for spec in specs}

    def named(tensors: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": list(tensors), "additionalProperties": False, "properties": tensors}

    inputs = [named(b) for b in batches] + ([named(single)] if single else [])
    if len(specs) == 1:
        name = specs[0].name
        inputs = [b[name] for b in batches] + ([single[name]] if single else []) + inputs
    forms = list(inputs)
    if not any(spec.name in ("data", "instances") for spec in specs):
        forms += [{"type": "object", "required": ["data"], "additionalProperties": False, "properties": {"data": form}}
                  for form in inputs]
        tf = _tf_request(model, sizes)
        rows = [f for f in tf.get("anyOf", [tf]) if "instances" in f["properties"]]
        forms += [{**f, "properties": {"instances": f["properties"]["instances"]}} for f in rows]
    return {"anyOf": forms}


def _errors(*codes: int) -> dict[str, Any]:
    error = {"description": "error: {\"error\": \"what was wrong and what to do\"}",
             "content": {_JSON: {"schema": _ref("Error")}}}
    words = {400: "invalid request", 404: "unknown route, model or version", 405: "wrong method (see Allow)",
             413: "request or answer over the limits", 415: "unsupported content type",
             500: "internal or model failure", 503: "model not loaded", 504: "out of time"}
    answers = {str(code): {**error, "description": words[code]} for code in codes}
    answers["default"] = error  # any other error the gateway or runtime gives, in the same form
    return answers


def _op(op_id: str, summary: str, ok: dict[str, Any], errors: tuple[int, ...], params: list[str],
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary,
                          "responses": {"200": ok, **_errors(*errors)}}
    if params:
        op["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in params]
    if body is not None:
        op["requestBody"] = body
    return op


def _ok(schema: str, binary: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {_JSON: {"schema": _ref(schema)}}
    if binary:
        content[_BINARY] = {"schema": {"type": "string", "format": "binary"}}
    ok: dict[str, Any] = {"description": "OK", "content": content}
    if binary:
        ok["headers"] = {_BINARY_HEADER: {"description": "bytes of the leading JSON answer (binary answers only)",
                                          "schema": {"type": "integer", "minimum": 1}}}
    return ok


def document(model: Model, limits: Limits | None = None) -> dict[str, Any]:
    """The document for `model`; `limits` default to the environment's (MAX_BATCH_SIZE, MAX_BODY_BYTES)."""
    sizes = _sizes(model, limits or Limits())
    infer_errors = (400, 404, 413, 415, 500, 503, 504)
    get_errors = (404, 503)
    infer_body = {
        "required": True,
        "description": "KServe v2 inference request. " + _BINARY_WORDS,
        "content": {
            _JSON: {"schema": _ref("InferRequest")},
            _BINARY: {"schema": {"type": "string", "format": "binary", "description": _BINARY_WORDS}},
        },
    }
    predict_body = {"required": True, "content": {_JSON: {"schema": _ref("PredictRequest")}}}
    paths: dict[str, Any] = {
        "/v2": {"get": _op("serverMetadata", "server metadata (KServe v2)", _ok("ServerMetadata"), (), [])},
        "/v2/health/live": {"get": _op("serverLive", "liveness", _ok("Live"), (), [])},
        "/v2/health/ready": {"get": _op("serverReady", "readiness", _ok("Ready"), (503,), [])},
        "/openapi.json": {"get": _op("openapi", "this document", _ok("Object"), (503,), [])},
    }
    # The model's name is written into the paths: a generated request always names the served model.
    versioned = ("/versions/{version}", ["version"], ["tfVersion"], "Version")
    for suffix, params, tf_params, tag in (("", [], [], ""), versioned):
        base = f"/v2/models/{model.name}{suffix}"
        paths[base] = {"get": _op(f"modelMetadata{tag}", "model metadata (KServe v2)", _ok("ModelMetadata"),
                                  get_errors, params)}
        paths[base + "/ready"] = {"get": _op(f"modelReady{tag}", "model readiness (KServe v2)", _ok("Ready"),
                                             get_errors, params)}
        paths[base + "/infer"] = {"post": _op(f"modelInfer{tag}", "inference (KServe v2 / Open Inference Protocol)",
                                              _ok("InferResponse", binary=True), infer_errors, params, infer_body)}
        v1 = f"/v1/models/{model.name}{suffix}"
        paths[v1] = {"get": _op(f"tfModelStatus{tag}", "model status (TF Serving)", _ok("TFStatus"),
                                get_errors, tf_params)}
        paths[v1 + "/metadata"] = {"get": _op(f"tfModelMetadata{tag}", "model metadata (TF Serving)",
                                              _ok("TFMetadata"), get_errors, tf_params)}
        paths[v1 + ":predict"] = {"post": _op(f"tfPredict{tag}", "predict (TF Serving REST)", _ok("PredictResponse"),
                                              infer_errors, tf_params, predict_body)}
    classify_body = _classify_request(model, sizes)
    if classify_body is not None:
        for suffix, tf_params, tag in (("", [], ""), ("/versions/{version}", ["tfVersion"], "Version")):
            paths[f"/v1/models/{model.name}{suffix}:classify"] = {"post": _op(
                f"tfClassify{tag}", "classify (TF Serving REST): [label, score] per class per example",
                _ok("ClassifyResponse"), infer_errors, tf_params,
                {"required": True, "content": {_JSON: {"schema": _ref("ClassifyRequest")}}})}
    paths["/ping"] = {"get": _op("tsPing", "health (TorchServe)", _ok("Ping"), (500,), [])}
    ts_body = {"required": True, "description": "the input as JSON (a batch, or one example without its batch "
                                                "dimension), keyed by input name, {\"data\": ...} or "
                                                "{\"instances\": [...]}",
               "content": {_JSON: {"schema": _ref("TSRequest")}}}
    for suffix, params, tag in (("", [], ""), ("/{version}", ["version"], "Version")):
        paths[f"/predictions/{model.name}{suffix}"] = {"post": _op(
            f"tsPredict{tag}", "predictions (TorchServe): one example in, one prediction out; a batch, a list",
            _ok("TSResponse"), infer_errors, params, ts_body)}
        paths[f"/models/{model.name}{suffix}"] = {"get": _op(
            f"tsDescribe{tag}", "describe model (TorchServe management API)", _ok("TSDescribe"), get_errors, params)}
    values = {f"value.{dt}": _value(dt) for dt in sorted({t.datatype for t in model.inputs})}
    tensor_out = {"type": "object", "required": ["name", "datatype", "shape"],
                  "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                 "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                                 "data": {"type": "array"}, "parameters": {"type": "object"}}}
    tensor_meta = {"type": "object", "required": ["name", "datatype", "shape"],
                   "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                  "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{model.name} inference API", "version": model.version,
                 "description": f"Request schemas enumerate dynamic dimensions of sizes 1 to {max(sizes)}; "
                                "the server takes batches up to MAX_BATCH_SIZE. " + _BINARY_WORDS},
        "paths": paths,
        "components": {
            "parameters": {
                "version": {"name": "version", "in": "path", "required": True,
                            "description": "the deployed version (KServe v2: the content hash)",
                            "schema": {"type": "string", "enum": [model.version]}},
                "tfVersion": {"name": "version", "in": "path", "required": True,
                              "description": f"the deployed version as TF Serving numbers it, an int64 "
                                             f"(content hash {model.version})",
                              "schema": {"type": "string", "enum": [str(tfserving.version_number(model))]}},
            },
            "schemas": {
                **values,
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Object": {"type": "object"},
                "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
                "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
                "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                                   "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                                  "extensions": {"type": "array", "items": {"type": "string"}}}},
                "ModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"],
                                  "properties": {"name": {"type": "string"},
                                                 "versions": {"type": "array", "items": {"type": "string"}},
                                                 "platform": {"type": "string"},
                                                 "inputs": {"type": "array", "items": tensor_meta},
                                                 "outputs": {"type": "array", "items": tensor_meta}}},
                "InferRequest": _v2_request(model, sizes),
                "InferResponse": {"type": "object", "required": ["model_name", "outputs"],
                                  "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                                                 "id": {"type": "string"},
                                                 "outputs": {"type": "array", "items": tensor_out}}},
                "TFStatus": {"type": "object", "required": ["model_version_status"],
                             "properties": {"model_version_status": {"type": "array", "items": {"type": "object"}}}},
                "TFMetadata": {"type": "object", "required": ["model_spec", "metadata"],
                               "properties": {"model_spec": {"type": "object"}, "metadata": {"type": "object"}}},
                "PredictRequest": _tf_request(model, sizes),
                **({} if classify_body is None else {
                    "ClassifyRequest": classify_body,
                    "ClassifyResponse": {"type": "object", "required": ["results"], "additionalProperties": False,
                                         "properties": {"results": {"type": "array", "items": {
                                             "type": "array", "items": {
                                                 # [label, score] (no prefixItems: schemathesis reads it as
                                                 # draft 4's tuple "items" and rejects the document)
                                                 "type": "array", "minItems": 2, "maxItems": 2,
                                                 "items": {"type": ["string", "number", "null"]}}}}}},
                }),
                "TSRequest": _ts_request(model, sizes),
                "TSResponse": {"description": "the prediction: any JSON value (functions/torchserve.py)"},
                "Ping": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
                "TSDescribe": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["modelName", "modelVersion", "workers"],
                    "properties": {"modelName": {"type": "string"}, "modelVersion": {"type": "string"},
                                   "workers": {"type": "array", "items": {"type": "object"}}}}},
                "PredictResponse": {"type": "object", "minProperties": 1, "maxProperties": 1,
                                    "properties": {"predictions": {}, "outputs": {}}, "additionalProperties": False},
            },
        },
    }
