"""What both protocols share: reading a JSON body, running the session, describing outputs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import orjson

from functions.errors import BadRequest, ModelFailure, UnsupportedMediaType
from functions.http import Request
from functions.model import Model

__all__ = ["read_json", "run", "datatype_of", "jsonable", "is_json", "Timing"]

_DTYPE_TO_DATATYPE = {
    np.dtype("bool"): "BOOL", np.dtype("int8"): "INT8", np.dtype("int16"): "INT16",
    np.dtype("int32"): "INT32", np.dtype("int64"): "INT64", np.dtype("uint8"): "UINT8",
    np.dtype("uint16"): "UINT16", np.dtype("uint32"): "UINT32", np.dtype("uint64"): "UINT64",
    np.dtype("float16"): "FP16", np.dtype("float32"): "FP32", np.dtype("float64"): "FP64",
}


class Timing:
    """Per-request timings the handler reports as metrics."""

    __slots__ = ("inference_ms", "batch")

    def __init__(self) -> None:
        self.inference_ms: float | None = None
        self.batch: int | None = None


def is_json(content_type: str | None) -> bool:
    if not content_type:  # no header: JSON is the only thing we could be sent
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def read_json(req: Request, what: str) -> dict[str, Any]:
    """The body as a JSON object, or a 4xx that says what was expected."""
    if req.direct:
        obj = req.parsed
    else:
        ctype = req.header("content-type")
        if not is_json(ctype):
            raise UnsupportedMediaType(
                f"content type {ctype!r} is not accepted here; send {what} as "
                "'Content-Type: application/json'"
            )
        if not req.body:
            raise BadRequest(f"the body is empty; send {what} as a JSON object")
        try:
            obj = orjson.loads(req.body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON ({exc}); send {what} as a JSON object") from exc
    if not isinstance(obj, dict):
        raise BadRequest(f"expected {what} as a JSON object, got a JSON {type(obj).__name__}")
    return obj


def run(model: Model, feeds: dict[str, np.ndarray], names: list[str] | None, timing: Timing) -> list[Any]:
    """session.run, with onnxruntime's complaints about the input turned into a 400."""
    for arr in feeds.values():
        if arr.ndim:
            timing.batch = int(arr.shape[0])
            break
    started = time.perf_counter()
    try:
        result = model.session.run(names, feeds)
    except Exception as exc:  # onnxruntime's exception types are not importable in a stable place
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "InvalidArgument":
            raise BadRequest(f"the model rejected the input: {message}") from exc
        raise ModelFailure(f"the model failed on this input: {message}") from exc
    finally:
        timing.inference_ms = (time.perf_counter() - started) * 1000.0
    return result


def datatype_of(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return _DTYPE_TO_DATATYPE.get(value.dtype, "BYTES")
    return "BYTES"


def jsonable(value: Any) -> Any:
    """An output as orjson can write it: numeric arrays as they are, the rest as lists."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.dtype.kind == "O" else value
    return value
