"""Execution environments as Lambda scales them: started on demand, up to the concurrency limit.

Lambda runs one event at a time in an execution environment. A request that finds every
environment busy gets a new one (a cold start) until the function's concurrency limit (its
reserved concurrency) is reached; beyond it, Lambda refuses at once with TooManyRequestsException,
"Rate Exceeded." (HTTP 429): nothing queues. The pool does the same with emulators:

    invoke(event)
      ├── an idle environment?             take the one used last (warm, as Lambda reuses)
      ├── fewer than `concurrency` exist?  start one (emulator now, runtime init on its first event)
      └── otherwise                        raise Throttled → the gateway answers 429

One environment is started eagerly, so a broken setup fails at start rather than on the first
request. An environment whose start fails is not counted, and the error reaches the client (502).
Environments live until `close()`: Lambda keeps idle ones warm for minutes, and start cost (~60 ms
for the emulator, then the runtime's init) is what a pool exists to pay once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from deployer.errors import LocalRuntimeError
from deployer.local._emulator import Emulator

__all__ = ["EnvironmentPool", "Throttled"]


class Throttled(LocalRuntimeError):
    """Every environment is busy and the concurrency limit is reached (Lambda's 429)."""


class EnvironmentPool:
    """Up to `concurrency` emulators; `invoke` has the Emulator's signature."""

    def __init__(self, factory: Callable[[], Emulator], *, concurrency: int = 1) -> None:
        self._factory = factory
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._all: list[Emulator] = []
        self._idle: list[Emulator] = []  # a stack: the most recently used is the warmest
        self._starting = 0
        self._closed = False

    def start(self) -> None:
        """Start the first environment (errors are raised here, where the caller can report them)."""
        environment = self._factory()
        environment.start()
        with self._lock:
            self._all.append(environment)
            self._idle.append(environment)

    def invoke(self, payload: bytes) -> tuple[int, bytes]:
        environment = self._acquire()
        try:
            return environment.invoke(payload)
        finally:
            with self._lock:
                if not self._closed:
                    self._idle.append(environment)

    def environments(self) -> list[Emulator]:
        with self._lock:
            return list(self._all)

    def pids(self) -> list[int]:
        return [pid for environment in self.environments() for pid in environment.pids()]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            environments, self._all, self._idle = self._all, [], []
        for environment in environments:
            environment.close()

    def _acquire(self) -> Emulator:
        with self._lock:
            if self._closed:
                raise LocalRuntimeError("the local Lambda runtime is stopped")
            if self._idle:
                return self._idle.pop()
            if len(self._all) + self._starting >= self.concurrency:
                raise Throttled(
                    f"Rate Exceeded: all {len(self._all) + self._starting} execution environment(s) of the function "
                    f"are busy and its concurrency limit is {self.concurrency} (Lambda's TooManyRequestsException); "
                    "retry later, or raise the function's reserved concurrency"
                )
            self._starting += 1
        try:
            environment = self._factory()
            environment.start()
        except BaseException:
            with self._lock:
                self._starting -= 1
            raise
        with self._lock:
            self._starting -= 1
            if not self._closed:
                self._all.append(environment)
                return environment
        environment.close()  # closed while it started
        raise LocalRuntimeError("the local Lambda runtime is stopped")
