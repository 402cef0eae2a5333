"""Tensors on the wire: datatype tables, decoding to numpy, validation against the signature.

Validation is hand-written rather than pydantic: pydantic costs ~40 ms to import and ~100 ms once
a model class is defined (PERF-NOTES), and every check here is one numpy attribute read. Each
check runs before onnxruntime sees the data and fails with a message that says what was expected
and what came.
"""

from __future__ import annotations

import binascii
import math
import os
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

from functions.errors import BadRequest, PayloadTooLarge

if TYPE_CHECKING:
    from functions.model import TensorInfo

__all__ = ["ORT_TO_DATATYPE", "DATATYPE_TO_DTYPE", "Limits", "from_json", "from_bytes", "check", "describe",
           "check_shared_dimensions", "json_error", "loads_nonfinite", "NOT_NONFINITE"]

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


# Whether this request's JSON may hold `true`/`false` at all (set per request by the protocols,
# `may_hold_booleans`): numpy folds [false, 0, 0] into integers, so a boolean among numbers is only
# seen element by element, a walk paid only when the body has such a word. Bodies over 8 KB are
# searched with single-byte finds (memchr: JSON numbers hold no 't' or 'f'), not for the words
# (CPython's multi-byte search took 1.4 ms on a 1.5 MB body of 150k floats, 20 % of decoding it).
# Per request, set + get + reset included (timeit, min of 7, this 2-vCPU machine): iris body 94 B
# 0.83 us; 10 KB body 2.5 us; 1.5 MB body 49 us (the word search alone: 1,420 us).
# The protocols set it to the request's body (or True for a direct invoke, whose JSON was parsed by the
# runtime): the search runs only when a JSON list of numbers is decoded, never for base64 or binary data.
SCAN_BOOLEANS: ContextVar[bool | bytes] = ContextVar("SCAN_BOOLEANS", default=True)
_WORD_CHECKS = 32  # 't'/'f' seen in keys and names before the walk is simply done


def _scan_booleans() -> bool:
    scan = SCAN_BOOLEANS.get()
    return scan if scan is True or scan is False else may_hold_booleans(scan)


def may_hold_booleans(body: bytes | memoryview | None) -> bool:
    if body is None:
        return True
    raw = bytes(body) if isinstance(body, memoryview) else body
    if len(raw) < 8192:  # small: the word search itself is cheapest
        return b"true" in raw or b"false" in raw
    for first, word in ((b"t", b"true"), (b"f", b"false")):
        at = raw.find(first)
        for _ in range(_WORD_CHECKS):
            if at < 0:
                break
            if raw.startswith(word, at):
                return True
            at = raw.find(first, at + 1)
        else:
            return True  # text full of 't'/'f' (string tensors): walking the numeric inputs is cheap then
    return False


def from_json(spec: TensorInfo, data: Any, where: str) -> np.ndarray:
    """A nested or flat JSON list (already parsed) as an array of the input's dtype."""
    if spec.dtype is None:  # BYTES: strings
        return _strings(data, len(spec.shape), where)
    try:
        arr = np.array(data)
    except ValueError as exc:
        raise BadRequest(f"{where}: {_ragged(exc)}") from exc
    target = spec.dtype.kind
    if target != "b" and arr.dtype.kind != "b" and _scan_booleans():
        found = _first_boolean(data)
        if found is not None:
            raise BadRequest(f"{where}: element {found} is a boolean; datatype {spec.datatype} takes "
                             f"{_KIND_WORDS[target]} (send 0 and 1, or a BOOL input)")
    if arr.dtype.kind not in _ACCEPTED_KINDS[target]:
        if arr.size == 0 and arr.dtype.kind == "f":
            return arr.astype(spec.dtype)
        if target in "iu" and arr.dtype.kind in "fO":
            exact = _integers(data)
            if exact is not None:  # JSON integers past int64 (UINT64's upper half): numpy made them floats
                return _in_range(exact, spec, where)
            if _integral_beyond_int64(arr):
                # JSON integers past 64 bits arrive as floats (orjson) or as a mix: a range error, not a type error
                raise BadRequest(f"{where}: values out of range for {spec.datatype}")
        raise BadRequest(
            f"{where}: expected {_KIND_WORDS[target]} for datatype {spec.datatype}, "
            f"got {_describe_kind(arr)}"
        )
    if target in "iu" and arr.dtype.kind in "iu":
        return _in_range(arr, spec, where)
    return arr.astype(spec.dtype, copy=False)


def _first_boolean(data: Any) -> str | None:
    """`[i][j]` of the first JSON boolean in a nested list, walked without recursion; None without one."""
    if isinstance(data, bool):
        return "[0]"
    if not isinstance(data, list):
        return None
    stack: list[tuple[list[Any], int, str]] = [(data, 0, "")]
    while stack:
        items, index, prefix = stack.pop()
        while index < len(items):
            item = items[index]
            if item is True or item is False:
                return f"{prefix}[{index}]"
            if isinstance(item, list) and len(stack) < 64:
                stack.append((items, index + 1, prefix))
                items, index, prefix = item, 0, f"{prefix}[{index}]"
                continue
            index += 1
    return None


def _in_range(arr: np.ndarray, spec: TensorInfo, where: str) -> np.ndarray:
    info = np.iinfo(spec.dtype)  # type: ignore[arg-type]
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise BadRequest(f"{where}: values out of range for {spec.datatype}")
    return arr.astype(spec.dtype, copy=False)


def _integers(data: Any) -> np.ndarray | None:
    """`data` as an object array of Python ints when every element is a JSON integer, else None.

    numpy reads a list holding an integer past int64 as float64 (or objects), so a valid UINT64
    value from 2**63 to 2**64-1 was refused as out of range, and read as a float it would have
    lost its low bits. Only requests that reach this (error) path pay for the second reading.
    """
    try:
        exact = np.array(data, dtype=object)
    except ValueError:
        return None
    if not exact.size or exact.ndim > 32 or not all(type(x) is int for x in exact.flat):
        return None  # (numpy iterates at most 32 dimensions; no input has that many)
    return exact


def _integral_beyond_int64(arr: np.ndarray) -> bool:
    try:
        values = arr.astype(np.float64) if arr.dtype.kind == "O" else arr
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(np.isfinite(values).all() and (values == np.trunc(values)).all()
                and (np.abs(values) >= 2.0**63).any())


def _strings(data: Any, rank: int, where: str) -> np.ndarray:
    """A JSON string tensor, checked whole before onnxruntime sees it.

    onnxruntime reads an object array's elements as strings without checking them: a nested
    list or a number there crashed the process (a segfault, answered as a 502, then a cold
    start). So the nesting is walked level by level (no recursion: a client controls the
    depth), the depth may be at most the input's rank (or 1, a flat list to reshape), every
    level must be rectangular, and every element must be a JSON string.
    """
    if isinstance(data, str):
        return np.array(data, dtype=object)
    if not isinstance(data, list):
        raise BadRequest(f"{where}: expected a list of strings for datatype BYTES, got {describe(data)}")
    dims: list[int] = []
    level: list[Any] = [data]
    while level and isinstance(level[0], list):
        if len(dims) >= max(rank, 1):
            raise BadRequest(f"{where}: strings nested {len(dims) + 1} lists deep, deeper than the input's "
                             f"rank {rank}; send a flat list with 'shape', or one list level per dimension")
        size = len(level[0])
        following: list[Any] = []
        for index, item in enumerate(level):
            if not isinstance(item, list) or len(item) != size:
                got = f"a list of {len(item)}" if isinstance(item, list) else describe(item)
                raise BadRequest(f"{where}: not a regular (rectangular) array: element "
                                 f"{_path(index, dims)} is {got} where a list of {size} was expected")
            following.extend(item)
        dims.append(size)
        level = following
    for index, item in enumerate(level):
        if type(item) is not str:
            raise BadRequest(f"{where}: element {_path(index, dims)} is {describe(item)}; a BYTES tensor "
                             "takes JSON strings (or, in the binary extension, length-prefixed UTF-8 bytes)")
    arr = np.empty(len(level), dtype=object)
    arr[:] = level
    return arr.reshape(dims)


def _path(flat: int, dims: list[int]) -> str:
    """`[i][j]...` of the `flat`-th element of an array of shape `dims`."""
    if not dims:
        return "[0]" if flat == 0 else f"#{flat}"
    return "".join(f"[{int(i)}]" for i in np.unravel_index(flat, dims))


def describe(value: Any) -> str:
    """What a client sent, in words, without recursing into it (it may be nested 1,000 deep)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        text = repr(value)
        return f"the number {text if len(text) <= 24 else text[:21] + '...'}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"


def json_error(raw: bytes | memoryview, exc: ValueError) -> str:
    """orjson's complaint about `raw` in words a client can act on (error path only).

    For bytes that are not UTF-8 orjson says "str is not valid UTF-8: surrogates not allowed" at
    char 0, whatever the position: name the first bad byte instead.
    """
    text = str(exc)
    if "not valid UTF-8" in text:
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"not UTF-8: byte {bad.start} is {bytes(raw)[bad.start:bad.start + 1]!r}"
    return text


def loads_nonfinite(raw: bytes | memoryview, allow_nan: bool, what: str) -> Any:
    """A body orjson refused, read again when it holds NaN / Infinity / -Infinity tokens (error path only).

    JSON has no such tokens and orjson refuses them, but Python's json writes them (`json.dumps` of a
    float('nan')) and many clients send them. With ALLOW_NAN they are read with the stdlib parser, which
    knows them; without, the answer names the token and the setting instead of "not valid JSON". The
    stdlib parser runs only here, after orjson failed and only when the body has such a word, so
    requests that parse (every valid JSON body) pay nothing but the extra argument of `read_json`:
    iris v2 body, `read_json` before / after, medians of 15 rounds of timeit (2 shared vCPUs):
    0.903 / 0.916 us (minima 0.850 / 0.868), within noise (tests/unit/functions/test_nan_tokens.py
    checks that a parsed body never reaches this function).
    Returns `NOT_NONFINITE` when the body is invalid for another reason (the caller reports orjson's).
    """
    data = bytes(raw)
    if b"NaN" not in data and b"Infinity" not in data:
        return NOT_NONFINITE
    import json  # already loaded by functions/http.py; imported here to keep this module's imports lean

    seen: list[str] = []

    def constant(token: str) -> float:
        seen.append(token)
        return float(token)  # float() reads "NaN", "Infinity" and "-Infinity"

    try:
        obj = json.loads(data, parse_constant=constant)
    except (ValueError, RecursionError):  # invalid for other reasons too (JSONDecodeError is a ValueError)
        return NOT_NONFINITE
    if not seen:  # the word was inside a string: the body is invalid for another reason
        return NOT_NONFINITE
    if not allow_nan:
        raise BadRequest(f"NaN is not accepted (set ALLOW_NAN=true in the function's environment to accept the "
                         f"JSON tokens NaN, Infinity and -Infinity): {what} holds {seen[0]}; send finite numbers")
    return obj


NOT_NONFINITE: Any = object()  # loads_nonfinite's "no NaN token here": report the parser's own error


def check_shared_dimensions(specs: tuple[TensorInfo, ...], feeds: dict[str, np.ndarray]) -> None:
    """Inputs that name the same dynamic dimension ("batch") must agree on its size.

    onnxruntime checks this late (a 500 with its internals) or not at all (1 and 2 rows
    broadcast silently), so it is checked here, with both inputs named.
    """
    if len(specs) < 2:
        return
    seen: dict[str, tuple[int, str, int]] = {}
    for spec in specs:
        arr = feeds.get(spec.name)
        if arr is None:
            continue
        for axis, symbol in enumerate(spec.symbols):
            if symbol is None or axis >= arr.ndim:
                continue
            size = int(arr.shape[axis])
            first = seen.setdefault(symbol, (size, spec.name, axis))
            if first[0] != size:
                raise BadRequest(
                    f"inputs '{first[1]}' and '{spec.name}' share the dimension '{symbol}' (axis {first[2]} and "
                    f"axis {axis}) but have sizes {first[0]} and {size}; send the same number of rows to both"
                )


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
        raw = binascii.a2b_base64(text, strict_mode=True)  # b64decode(validate=True) minus its wrapper
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
        try:  # the model's string tensor takes text: bytes would reach it as "b'...'"
            items.append(str(view[pos : pos + size], "utf-8"))
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{where}: BYTES element {len(items)} is not valid UTF-8 (byte {exc.start}); "
                             "string inputs take UTF-8 text") from exc
        pos += size
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


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
    got = arr.shape
    if (expected, got) not in _FITS:  # a (signature, shape) pair checked once per process
        if len(got) != len(expected):
            raise BadRequest(
                f"{where}: wrong shape: expected {spec.wire_shape} (rank {len(expected)}), "
                f"got {list(got)} (rank {arr.ndim})"
            )
        for axis, (want, dim) in enumerate(zip(expected, got)):
            if want is not None and want != dim:
                raise BadRequest(
                    f"{where}: wrong shape: expected {spec.wire_shape}, got {list(got)} "
                    f"(dimension {axis} must be {want})"
                )
        if arr.size == 0:
            raise BadRequest(f"{where}: empty tensor (shape {list(got)}); send at least one row")
        if len(_FITS) < 256:
            _FITS.add((expected, got))
    if expected and expected[0] is None and got[0] > limits.max_batch:
        raise PayloadTooLarge(
            f"{where}: batch of {got[0]} is over the cap of {limits.max_batch} rows; "
            "split the request"
        )
    if arr.dtype.kind == "f" and not limits.allow_nan and not all_finite(arr):
        # NaN/Infinity tokens are refused while the body is read (loads_nonfinite): from JSON this is a
        # number past the datatype's range that the cast made infinite, so the message says both.
        raise BadRequest(f"{where}: NaN, infinity or numbers beyond {spec.datatype}'s range "
                         f"(±{float(np.finfo(arr.dtype).max):.5g}) are not accepted (ALLOW_NAN is off)")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """No NaN or infinity in a float array: `np.isfinite(arr).all()` in two C calls (the method `all`
    goes through numpy's Python-level `_methods._all`). A sum would be one pass, but inf + -inf warns."""
    return bool(_AND(np.isfinite(arr), None))


_AND = np.logical_and.reduce


# (declared shape, shape) pairs that passed `check`'s rank, dimension and emptiness tests: those depend
# on nothing else, so a client's usual shape is checked once, not per request (bounded; 0.1 us a lookup).
_FITS: set[tuple[tuple[int | None, ...], tuple[int, ...]]] = set()


def _product(shape: list[int]) -> int:
    return math.prod(shape)


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
