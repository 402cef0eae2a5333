"""The parent side of the checking subprocess (see `deployer.model._worker`).

`Worker.call(step, model, **params)` starts one child, sends the request, and turns every way
it can end into either a reply dict or a `ModelError` that names the model and the stage:
a reply with an error, a crash by a signal (segfault, abort), a non-zero exit, a time-out.
The command line of the child is injectable, so tests can stand in a child that crashes.

The child's output is bytes from C++ as much as from Python: onnxruntime logs a model's own
strings (attribute values, node names) as they are, so a model holding b"\xff\xfe" makes the
child print bytes that are not UTF-8. Child output is decoded with errors="replace" (and the
terminal's colour escapes stripped) and only ever quoted in messages: never a UnicodeDecodeError.

A reply file that exists but is not the protocol's (not JSON, not an object with a boolean
"ok", or the child's own report that it could not serialize its answer) is a bug of the
deployer, not a problem of the model: `WorkerProtocolError`, which is deliberately not a
`DeployerError`, so the CLI keeps its traceback. A missing reply stays what it is, a checker
that died or exited without answering (`ModelCrashError`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deployer.model.errors import ModelCrashError, ModelError

__all__ = ["Worker", "WorkerProtocolError", "save_arrays", "load_arrays"]

STEP_WORDS = {
    "check": "checking the model",
    "run": "running the model",
    "optimize": "optimizing the model",
    "quantize": "quantizing the model",
    "measure": "measuring session creation and latency of",
}
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # onnxruntime colours its log lines on a terminal
_ORT_PREFIX = re.compile(r"^[0-9-]+ [0-9:.]+ \[[A-Z]:onnxruntime:[^\]]*\] ")  # "2026-... [E:onnxruntime:, x.cc:1 f] "
PROTOCOL_ERROR_TYPE = "WorkerProtocolError"  # the child's `type` for a reply it could not serialize


class WorkerProtocolError(RuntimeError):
    """The checking process answered outside the protocol: a bug of the deployer, not of the model."""


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    clean = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        clean[name] = arr.astype(np.str_) if arr.dtype == object else arr
    np.savez(path, **clean)
    return path


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class Worker:
    """Runs one step of `deployer.model._worker` per child process."""

    def __init__(self, argv: Sequence[str] | None = None, timeout: float = 1800.0,
                 env: dict[str, str] | None = None) -> None:
        self.argv = list(argv) if argv is not None else [sys.executable, "-m", "deployer.model._worker"]
        self.timeout = timeout
        base = dict(os.environ if env is None else env)
        base["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, base.get("PYTHONPATH")) if p)
        base.setdefault("PYTHONFAULTHANDLER", "1")
        self.env = base

    def call(self, step: str, model: Path | str, **params: Any) -> dict[str, Any]:
        what = STEP_WORDS.get(step, step)
        with tempfile.TemporaryDirectory(prefix="deployer-worker-") as tmp:
            reply_path = Path(tmp) / "reply.json"
            request = {"step": step, "model": str(model), "reply": str(reply_path), **params}
            try:
                proc = subprocess.run(self.argv, input=json.dumps(request, default=str).encode(),
                                      capture_output=True, env=self.env, timeout=self.timeout)
            except subprocess.TimeoutExpired as exc:
                raise ModelError(f"{what} {model} took longer than {self.timeout:.0f} s and was stopped") from exc
            stderr = _text(proc.stderr)
            stage, noise = _stages(stderr)
            if proc.returncode < 0:
                raise ModelCrashError(
                    f"onnxruntime crashed ({_signal_name(-proc.returncode)}) while {what} {model}, at the stage "
                    f"'{stage or step}'; the model is malformed or uses something onnxruntime cannot handle"
                    + (f". Last output: {noise}" if noise else "")
                )
            try:
                raw = reply_path.read_bytes()
            except OSError as exc:
                raise ModelCrashError(
                    f"the checking process exited with code {proc.returncode} while {what} {model}, at the stage "
                    f"'{stage or step}', without an answer" + (f". Last output: {noise}" if noise else "")
                ) from exc
            reply = _parse_reply(raw, step, model, proc.returncode, noise)
        if not reply["ok"]:
            if reply.get("type") == PROTOCOL_ERROR_TYPE:
                raise WorkerProtocolError(_protocol_message(step, model, _text_of(reply.get("error")), noise))
            kind = _text_of(reply.get("type", "Error"))
            detail = f"{kind}: {_first_lines(_text_of(reply.get('error')))}"
            if kind == "UnicodeDecodeError" and noise:  # noise: there is a line to quote
                # onnxruntime's message held the model's non-UTF-8 bytes, so Python could not even
                # build it; its own log line on stderr (decoded with replacement) says what it was
                detail = f"onnxruntime's message holds bytes that are not UTF-8 (the model's own strings): {_ort_line(stderr)}"
            raise ModelError(f"{what} {model} failed at the stage '{stage or step}': {detail}")
        return reply


def _text(data: bytes) -> str:
    """Child output as text, whatever bytes the model made it print."""
    return _ANSI.sub("", data.decode("utf-8", errors="replace"))


def _text_of(value: Any) -> str:
    """A reply field as printable text: lone surrogates (from undecodable model strings) replaced."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", errors="replace").decode("utf-8")


def _parse_reply(raw: bytes, step: str, model: Path | str, code: int, noise: str) -> dict[str, Any]:
    """The reply file's object, or WorkerProtocolError saying how it breaks the protocol."""
    try:
        reply = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError as exc:
        problem = f"its reply is not JSON ({exc}; {len(raw)} bytes, exit code {code})"
        raise WorkerProtocolError(_protocol_message(step, model, problem, noise)) from exc
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        shape = type(reply).__name__ if not isinstance(reply, dict) else f"an object without a boolean 'ok' (keys: {sorted(reply)[:8]})"
        raise WorkerProtocolError(_protocol_message(step, model, f"its reply is {shape}, exit code {code}", noise))
    return reply


def _protocol_message(step: str, model: Path | str, problem: str, noise: str) -> str:
    return (
        f"bug in the deployer's worker protocol (not a problem of the model, nor a crash of the checker): "
        f"the checking process for step '{step}' on {model}: {_first_lines(problem)}; please report it"
        + (f". Last output: {noise}" if noise else "")
    )


def _ort_line(stderr: str, limit: int = 500) -> str:
    """The last line of stderr without onnxruntime's timestamp and source location; its end kept
    when long (onnxruntime's reason comes last, after the C++ function's signature)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("@@step ")]
    last = _ORT_PREFIX.sub("", lines[-1]) if lines else ""
    return last if len(last) <= limit else "…" + last[-limit:]


def _stages(stderr: str) -> tuple[str | None, str]:
    stage = None
    other = []
    for line in stderr.splitlines():
        if line.startswith("@@step "):
            stage = line[len("@@step "):].strip()
        elif line.strip():
            other.append(line.strip())
    return stage, " | ".join(other[-3:])[:600]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _first_lines(text: str, limit: int = 600) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    joined = " ".join(lines[:3])
    return joined[:limit] + ("…" if len(joined) > limit else "")
