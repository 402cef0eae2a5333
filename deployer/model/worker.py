"""The parent side of the checking subprocess (see `deployer.model._worker`).

`Worker.call(step, model, **params)` starts one child, sends the request, and turns every way
it can end into either a reply dict or a `ModelError` that names the model and the stage:
a reply with an error, a crash by a signal (segfault, abort), a non-zero exit, a time-out.
The command line of the child is injectable, so tests can stand in a child that crashes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deployer.model.errors import ModelCrashError, ModelError

__all__ = ["Worker", "save_arrays", "load_arrays"]

STEP_WORDS = {
    "check": "checking the model",
    "run": "running the model",
    "optimize": "optimizing the model",
    "quantize": "quantizing the model",
    "timing": "timing session creation",
    "latency": "measuring latency",
}
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


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
                proc = subprocess.run(self.argv, input=json.dumps(request, default=str), text=True,
                                      capture_output=True, env=self.env, timeout=self.timeout)
            except subprocess.TimeoutExpired as exc:
                raise ModelError(f"{what} {model} took longer than {self.timeout:.0f} s and was stopped") from exc
            stage, noise = _stages(proc.stderr)
            if proc.returncode < 0:
                raise ModelCrashError(
                    f"onnxruntime crashed ({_signal_name(-proc.returncode)}) while {what} {model}, at the stage "
                    f"'{stage or step}'; the model is malformed or uses something onnxruntime cannot handle"
                    + (f". Last output: {noise}" if noise else "")
                )
            try:
                reply = json.loads(reply_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelCrashError(
                    f"the checking process exited with code {proc.returncode} while {what} {model}, at the stage "
                    f"'{stage or step}', without an answer" + (f". Last output: {noise}" if noise else "")
                ) from exc
        if not reply.get("ok"):
            raise ModelError(f"{what} {model} failed at the stage '{stage or step}': "
                             f"{reply.get('type', 'Error')}: {_first_lines(reply.get('error', ''))}")
        return reply


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
