"""Local state of pushes: one lock and one journal per stack, under `<project>/.deployer/`.

    .deployer/locks/<key>.lock      flock'ed for the whole push; holds the holder's pid and start
    .deployer/journal/<key>.json    the push's phase, rewritten (atomically) as it advances

`key` names the stack where it lives: region, stack name, and a hash of the endpoint when it is
not AWS's, so pushes of one stack name to two regions or to an emulator do not block each other.

The lock is an `fcntl.flock`, which the kernel releases when its process dies: a push killed
with SIGKILL leaves no stale lock, and a second push while one runs is refused at once with the
holder's pid (`ConcurrentPushError`). The journal is what lets the next push tell its own
interrupted deployment (phase "executing", holder gone) from somebody else's running one: the
planner waits for the former and refuses the latter. Everything else an interruption can leave
(partial layer uploads, a change set never executed, an empty REVIEW_IN_PROGRESS stack) the
planner finds from AWS itself, so the journal is a hint, never the truth.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from deployer.deploy.errors import ConcurrentPushError

__all__ = ["StackKey", "StackLock", "Journal", "state_dir"]

STATE_DIR = ".deployer"


def state_dir(project: Path) -> Path:
    return Path(project) / STATE_DIR


@dataclass(frozen=True)
class StackKey:
    stack: str
    region: str
    endpoint: str | None = None

    @property
    def slug(self) -> str:
        parts = [self.region, self.stack]
        if self.endpoint:
            parts.append(hashlib.sha256(self.endpoint.encode()).hexdigest()[:10])
        return re.sub(r"[^A-Za-z0-9._-]+", "-", ".".join(parts))


class StackLock:
    """An exclusive, non-blocking lock on one stack for this machine (see module doc)."""

    def __init__(self, root: Path, key: StackKey, *, clock: Any = time.time) -> None:
        self.path = Path(root) / "locks" / f"{key.slug}.lock"
        self._key = key
        self._clock = clock
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _parse(fh.read())
            fh.close()
            who = f" (pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started')})" if holder else ""
            raise ConcurrentPushError(
                f"another push to stack {self._key.stack} in {self._key.region} is running{who}; wait for it to finish, "
                f"or stop it, then push again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now(self._clock)}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.seek(0)
                self._fh.truncate()
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> StackLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Journal:
    """The phase of the last push of one stack, kept across processes (see module doc)."""

    def __init__(self, root: Path, key: StackKey, *, clock: Any = time.time) -> None:
        self.path = Path(root) / "journal" / f"{key.slug}.json"
        self._clock = clock

    def read(self) -> dict[str, Any]:
        try:
            return _parse(self.path.read_text(encoding="utf-8"))
        except OSError:
            return {}

    def write(self, phase: str, **fields: Any) -> None:
        record = {**self.read(), **fields, "phase": phase, "pid": os.getpid(), "updated": _now(self._clock)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)

    def interrupted(self) -> dict[str, Any] | None:
        """The record of a push that did not finish (called with the lock held: its process is gone)."""
        record = self.read()
        if record and record.get("phase") not in (None, "done", "failed"):
            return record
        return None


def _parse(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _now(clock: Any) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))
