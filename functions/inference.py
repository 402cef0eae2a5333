"""What both protocols share: reading a JSON body, running the session, describing outputs.

The deadline. Lambda kills an invocation at its timeout, the environment with it: the client gets
an opaque error (API Gateway: 502/504) and the next request a cold start. So the handler keeps its
own deadline, `Timing.deadline` (monotonic seconds: the invocation's remaining time less a margin,
set by functions/app.py; None when there is no Lambda context), and `run` keeps to it:
- already past it before `session.run`: 504 at once, the model is not started;
- otherwise the session runs with its own `onnxruntime.RunOptions`, and one watchdog thread per
  process sets `terminate` on it when the deadline passes. onnxruntime checks the flag between
  nodes, so the run stops within one node's time (the margin covers that node and the answer)
  and `run` answers 504 (`GatewayTimeout`).
The watchdog is a single daemon thread started on the first armed run (not at import: cold start
is unchanged). Arming and disarming take one uncontended lock each; the thread is woken only when it
sleeps past the new deadline or not at all: requests close together (each deadline later than the
one the thread sleeps until) wake it at most once per timeout period. One RunOptions serves every
run until the watchdog sets its `terminate`; `disarm`, under the lock the watchdog fires under,
replaces a terminated one, so a firing can never reach the next run.
Measured: see functions/app.py (per-request cost of the deadline, side by side).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

from functions.errors import BadRequest, GatewayTimeout, ModelFailure, UnsupportedMediaType
from functions.http import Request
from functions.model import Model
from functions.tensors import NOT_NONFINITE, loads_nonfinite

__all__ = ["read_json", "run", "datatype_of", "jsonable", "is_json", "Timing", "Watchdog", "WATCHDOG"]

_DTYPE_TO_DATATYPE = {
    np.dtype("bool"): "BOOL", np.dtype("int8"): "INT8", np.dtype("int16"): "INT16",
    np.dtype("int32"): "INT32", np.dtype("int64"): "INT64", np.dtype("uint8"): "UINT8",
    np.dtype("uint16"): "UINT16", np.dtype("uint32"): "UINT32", np.dtype("uint64"): "UINT64",
    np.dtype("float16"): "FP16", np.dtype("float32"): "FP32", np.dtype("float64"): "FP64",
}


class Timing:
    """Per-request timings the handler reports as metrics, the request's deadline, and what the
    model saw and answered (for the drift monitor, functions/drift.py: references, no copies)."""

    # Class-level defaults, no __init__: a request's Timing costs no Python frame, and only what a
    # request sets lands in its instance dict (issue 12: per-request steps are what the handler sells).
    inference_ms: float | None = None
    batch: int | None = None
    deadline: float | None = None  # time.monotonic() by which the work must stop; None: no deadline
    margin_ms: float = 0.0  # what the deadline keeps back from Lambda's, for the messages
    feeds: dict[str, np.ndarray] | None = None  # set by a successful `run`
    names: list[str] | None = None  # the outputs asked for; None: all, in the model's order
    results: list[Any] | None = None


class Watchdog:
    """One daemon thread that sets `terminate` on the armed RunOptions when its deadline passes."""

    # A deadline less than this before the one the thread sleeps until does not wake it: the stop
    # comes that much later, well inside the margin. Without it, deadlines that jitter by the
    # context's millisecond rounding woke the thread on every other request (~20 us each).
    SLACK_S = 0.005

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._armed: tuple[float, ort.RunOptions] | None = None
        self._options = ort.RunOptions()
        self._wake_at: float | None = None  # when the thread wakes next; None: asleep until notified
        self._thread: threading.Thread | None = None
        self.fired = 0  # runs stopped so far (for tests and logs)

    def arm(self, deadline: float) -> ort.RunOptions:
        """The RunOptions to run with, watched until `disarm`. One object serves run after run (a fresh
        one costs ~0.4 us) until the watchdog sets its `terminate`: `disarm` then replaces it."""
        with self._lock:  # the bare lock: Condition's own __enter__ is a Python-level call
            options = self._options
            self._armed = (deadline, options)
            if self._wake_at is None or self._wake_at > deadline + self.SLACK_S:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="onnx-deadline", daemon=True)
                    self._thread.start()
                self._cond.notify()
        return options

    def disarm(self) -> None:
        with self._lock:  # under the lock: a firing cannot slip in between the test and the reuse
            self._armed = None
            if self._options.terminate:  # fired (in time or after the run ended): never reused
                self._options = ort.RunOptions()

    def _loop(self) -> None:
        with self._cond:
            while True:
                armed = self._armed
                if armed is None:
                    self._wake_at = None
                    self._cond.wait()
                    continue
                deadline, options = armed
                left = deadline - time.monotonic()
                if left <= 0:
                    options.terminate = True
                    self.fired += 1
                    if self._armed is armed:
                        self._armed = None
                    continue
                self._wake_at = deadline
                self._cond.wait(left)


WATCHDOG = Watchdog()


def is_json(content_type: str | None) -> bool:
    if not content_type:  # no header: JSON is the only thing we could be sent
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def read_json(req: Request, what: str, allow_nan: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or a 4xx that says what was expected. NaN/Infinity tokens are read
    when `allow_nan` (ALLOW_NAN), else refused by name (functions/tensors.py `loads_nonfinite`)."""
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
            obj = loads_nonfinite(req.body, allow_nan, what)
            if obj is NOT_NONFINITE:
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
    deadline = timing.deadline
    options: ort.RunOptions | None = None
    left_ms = 0.0
    if deadline is not None:
        left_ms = (deadline - time.monotonic()) * 1000.0
        if left_ms <= 0:
            raise GatewayTimeout(
                f"no time left to run the model: decoding the request used the invocation's remaining time "
                f"(less the {timing.margin_ms:.0f} ms kept to answer); send a smaller request or raise the "
                "function's timeout"
            )
        options = WATCHDOG.arm(deadline)
    started = time.perf_counter()
    try:
        result = model.runner(names or model.output_names, feeds, options)
    except Exception as exc:  # onnxruntime's exception types are not importable in a stable place
        if options is not None and options.terminate:
            spent = (time.perf_counter() - started) * 1000.0
            raise GatewayTimeout(
                f"inference stopped after {spent:.0f} ms: it could not finish within the invocation's remaining "
                f"time ({left_ms:.0f} ms were left for it, {timing.margin_ms:.0f} ms kept to answer); send a "
                "smaller batch or raise the function's timeout"
            ) from exc
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "InvalidArgument":
            raise BadRequest(f"the model rejected the input: {message}") from exc
        raise ModelFailure(f"the model failed on this input: {message}") from exc
    finally:
        if options is not None:
            WATCHDOG.disarm()
        timing.inference_ms = (time.perf_counter() - started) * 1000.0
    timing.feeds, timing.names, timing.results = feeds, names, result
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
