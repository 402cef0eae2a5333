"""Tensors on the wire: datatype tables, decoding to numpy, validation against the signature.

Validation is hand-written rather than pydantic: pydantic costs ~40 ms to import and ~100 ms once
a model class is defined (PERF-NOTES), and every check here is one numpy attribute read. Each
check runs before onnxruntime sees the data and fails with a message that says what was expected
and what came.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from functions.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from functions.model import TensorInfo

__all__ = ["ORT_TO_DATATYPE", "DATATYPE_TO_DTYPE", "Limits", "from_json", "from_bytes", "check"]

# KServe v2 datatype -> numpy dtype (little-endian, as the binary extension defines).
DATATYPE_TO_DTYPE: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

_ORT_NAMES = {
    "BOOL": "bool", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "FP16": "float16", "FP32": "float", "FP64": "double",
}
ORT_TO_DATATYPE: dict[str, tuple[str, np.dtype[Any] | None]] = {
    f"tensor({ort_name})": (dt, DATATYPE_TO_DTYPE[dt]) for dt, ort_name in _ORT_NAMES.items()
}
ORT_TO_DATATYPE["tensor(string)"] = ("BYTES", None)

# Which numpy kinds a JSON list may arrive as for each target kind. JSON integers are fine in a
# float tensor; floats in an integer tensor, strings or booleans in a number tensor are not.
_ACCEPTED_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}
_KIND_WORDS = {"f": "numbers", "i": "integers", "u": "non-negative integers", "b": "booleans"}


class Limits:
    """Request limits, read once from the environment at cold start."""

    __slots__ = ("max_batch", "max_body_bytes", "allow_nan")

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.max_batch = int(env.get("MAX_BATCH_SIZE", "1024"))
        # Lambda's synchronous invoke payload limit.
        self.max_body_bytes = int(env.get("MAX_BODY_BYTES", str(6 * 1024 * 1024)))
        self.allow_nan = env.get("ALLOW_NAN", "false").lower() in ("1", "true", "yes")


def from_json(spec: TensorInfo, data: Any, where: str) -> np.ndarray:
    """A nested or flat JSON list (already parsed) as an array of the input's dtype."""
    if spec.dtype is None:  # BYTES: strings
        try:
            arr = np.array(data, dtype=object)
        except ValueError as exc:
            raise BadRequest(f"{where}: {_ragged(exc)}") from exc
        return arr
    try:
        arr = np.array(data)
    except ValueError as exc:
        raise BadRequest(f"{where}: {_ragged(exc)}") from exc
    target = spec.dtype.kind
    if arr.dtype.kind not in _ACCEPTED_KINDS[target]:
        if arr.size == 0 and arr.dtype.kind == "f":
            return arr.astype(spec.dtype)
        raise BadRequest(
            f"{where}: expected {_KIND_WORDS[target]} for datatype {spec.datatype}, "
            f"got {_describe_kind(arr)}"
        )
    if target in "iu" and arr.dtype.kind in "iu":
        info = np.iinfo(spec.dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise BadRequest(f"{where}: values out of range for {spec.datatype}")
    return arr.astype(spec.dtype, copy=False)


def from_bytes(spec: TensorInfo, raw: bytes | memoryview, where: str) -> np.ndarray:
    """Raw little-endian tensor bytes (binary extension or base64) as a flat array."""
    if spec.dtype is None:
        return _bytes_elements(raw, where)
    itemsize = spec.dtype.itemsize
    if len(raw) % itemsize:
        raise BadRequest(
            f"{where}: {len(raw)} bytes is not a whole number of {spec.datatype} elements "
            f"({itemsize} bytes each)"
        )
    return np.frombuffer(raw, dtype=spec.dtype)


def from_base64(spec: TensorInfo, text: str, where: str) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{where}: data is a string but not valid base64 of raw tensor bytes") from exc
    return from_bytes(spec, raw, where)


def _bytes_elements(raw: bytes | memoryview, where: str) -> np.ndarray:
    # The binary extension's BYTES layout: each element is a 4-byte little-endian length + bytes.
    view = memoryview(raw)
    items: list[bytes] = []
    pos = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise BadRequest(f"{where}: truncated BYTES element length at offset {pos}")
        size = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + size > len(view):
            raise BadRequest(f"{where}: BYTES element of {size} bytes runs past the data")
        items.append(bytes(view[pos : pos + size]))
        pos += size
    return np.array(items, dtype=object)


def check(spec: TensorInfo, arr: np.ndarray, shape: list[int] | None, limits: Limits, where: str) -> np.ndarray:
    """Reshape to the declared shape, then check it against the signature and the limits."""
    if shape is not None:
        if arr.size != _product(shape):
            raise BadRequest(
                f"{where}: shape {shape} holds {_product(shape)} elements but data has {arr.size}"
            )
        if list(arr.shape) != shape:
            arr = arr.reshape(shape)
    expected = spec.shape
    if len(arr.shape) != len(expected):
        raise BadRequest(
            f"{where}: wrong shape: expected {spec.wire_shape} (rank {len(expected)}), "
            f"got {list(arr.shape)} (rank {arr.ndim})"
        )
    for axis, (want, got) in enumerate(zip(expected, arr.shape)):
        if want is not None and want != got:
            raise BadRequest(
                f"{where}: wrong shape: expected {spec.wire_shape}, got {list(arr.shape)} "
                f"(dimension {axis} must be {want})"
            )
    if arr.size == 0:
        raise BadRequest(f"{where}: empty tensor (shape {list(arr.shape)}); send at least one row")
    if expected and expected[0] is None and arr.shape[0] > limits.max_batch:
        raise PayloadTooLarge(
            f"{where}: batch of {arr.shape[0]} is over the cap of {limits.max_batch} rows; "
            "split the request"
        )
    if arr.dtype.kind == "f" and not limits.allow_nan and not np.isfinite(arr).all():
        raise BadRequest(f"{where}: NaN or infinite values are not accepted (ALLOW_NAN is off)")
    return arr


def _product(shape: list[int]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _ragged(exc: ValueError) -> str:
    return f"data is not a regular (rectangular) array of values: {str(exc).splitlines()[0][:200]}"


def _describe_kind(arr: np.ndarray) -> str:
    kind = arr.dtype.kind
    if kind in "US":
        return "strings"
    if kind == "O":
        return "mixed or non-numeric values"
    return {"f": "floating-point numbers", "b": "booleans", "i": "integers", "u": "integers"}.get(
        kind, str(arr.dtype)
    )
