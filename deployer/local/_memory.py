"""Lambda's memory size on the host: the limit enforced, the real peak reported.

On Lambda each execution environment runs in a cgroup limited to the function's memory size. A
runtime that grows past it is killed: the invocation fails with `Runtime.OutOfMemory` ("Runtime
exited with error: signal: killed") and API Gateway answers 502. The REPORT line's "Max Memory
Used" is the environment's real peak. The emulator (RIE) does neither: it prints the memory size
as the peak and limits nothing.

How the limit is enforced here, and why this way:
- RLIMIT_AS and RLIMIT_DATA cannot be used: onnxruntime's thread pools and glibc's malloc arenas
  reserve far more than they touch (measured: the iris function's runtime maps 344 MB of address
  space, 127 MB of it private data, for 65 MB resident), so a limit at the memory size on either
  would kill healthy functions long before Lambda would.
- A cgroup v2 `memory.max` would be exact, but it needs a delegated cgroup with the memory
  controller. Machines like this one (cgroup v1 hybrid; the unified hierarchy carries only hugetlb)
  have none, and a desktop grants one only through systemd. So it is not used.
- So the runtime process is watched from /proc. The figure read is VmHWM, the kernel's
  high-water mark of the resident set: a peak between two looks is still seen. A watcher thread
  looks every `POLL_S` at each invocation that has lasted longer than that, and kills a runtime
  past the limit at once (a runaway allocation overshoots by what it can touch in one or two
  periods; shorter invocations are left alone, cheaper). After each invocation the
  environment looks once more (one read of /proc/PID/status, held open), so a short spike between
  two polls still fails the invocation that made it, as the cgroup would have.

What counts: the runtime process (awslambdaric and the handler in it), found as the emulator's
direct child. The emulator itself does not count (on Lambda it is not part of the function's
memory); processes the handler starts are not counted either. A new runtime process (after a
crash, a timeout or a kill) starts a new peak, as a new execution environment would.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["RuntimeMemory", "MemoryWatch", "POLL_S", "report_line"]

POLL_S = 0.02
_PROC = Path("/proc")
_MAX_USED = re.compile(r"Max Memory Used: \d+ MB")
_REPORT = "REPORT RequestId: "
_KEEP_ENDED = 64


def _open_status(pid: int) -> int | None:
    try:
        return os.open(_PROC / str(pid) / "status", os.O_RDONLY)
    except OSError:
        return None


def _read_status(fd: int) -> tuple[int, int] | None:
    """(parent pid, VmHWM in kB) from an open /proc/PID/status; None once the process is gone.

    A held descriptor is read again from offset 0 (one syscall, not three: each is a point where
    the request thread gives up the GIL), and stays bound to its process: after that process
    dies, reads fail even when the pid is reused.
    """
    try:
        data = os.pread(fd, 4096, 0)
    except OSError:
        return None
    ppid, hwm = data.find(b"\nPPid:"), data.find(b"\nVmHWM:")  # a zombie has no VmHWM
    if ppid < 0 or hwm < 0:
        return None
    try:
        return int(data[ppid + 6 : data.index(b"\n", ppid + 1)]), int(data[hwm + 7 : data.index(b"kB", hwm)])
    except ValueError:
        return None


class RuntimeMemory:
    """The runtime process of one environment: its peak, and the limit it must stay under."""

    def __init__(self, limit_mb: int, *, log: Callable[[str], None]) -> None:
        self.limit_mb = limit_mb
        self._limit_kb = limit_mb * 1024
        self._log = log
        self._lock = threading.Lock()  # the watcher, the request thread and the output reader all check
        self._parent = 0  # the emulator's pid
        self._children: Callable[[], list[int]] = list
        self._pid = 0  # the runtime's pid, once found
        self._fd = -1  # its /proc/PID/status, held open
        self._peak_kb = 0
        self._killed_kb = 0  # the peak that got the runtime killed, until `take_kill`
        self.busy = False
        self._current = ""  # the request id of the invocation under way
        self._reported = ""  # the last request id whose REPORT line was read (and the runtime looked at)
        self._watched = ""  # the request id under way at the watcher's last look
        self._ended: dict[str, int] = {}  # request id → peak when it ended, for its REPORT line (the last few)

    def attach(self, parent: int, children: Callable[[], list[int]]) -> None:
        """A (re)started emulator: its pid and how to list its children."""
        with self._lock:
            self._forget()
            self._parent, self._children = parent, children
            self._peak_kb = self._killed_kb = 0

    def close(self) -> None:
        with self._lock:
            self._forget()

    def check(self) -> int:
        """The runtime's peak in kB (the last one's when none runs); a runtime past the limit is killed."""
        with self._lock:
            status = self._runtime_status()
            if status is not None:
                self._peak_kb = max(self._peak_kb, status[1])
                if self._peak_kb > self._limit_kb and not self._killed_kb:
                    self._kill()
            return self._peak_kb

    def begin(self, request_id: str) -> None:
        self._current, self.busy = request_id, True

    def end(self) -> None:
        """The invocation is over: stop polling, and look once more (see module docstring).

        The emulator prints REPORT once the runtime has answered, usually before the answer
        reaches us, and reading that line looks at the runtime (`report_mb`): then that look, taken
        after the invocation's work, is the one this needs, and the request path reads nothing.
        """
        self.busy = False
        with self._lock:
            peak = self._peak_kb if self._reported == self._current else None
        if peak is None:
            peak = self.check()
        with self._lock:
            self._ended[self._current] = peak
            if len(self._ended) > _KEEP_ENDED:
                del self._ended[next(iter(self._ended))]

    def outlasted_a_poll(self) -> bool:
        """True when the invocation under way was already under way at the watcher's last look."""
        seen, self._watched = self._watched, self._current
        return self.busy and seen == self._current

    def _runtime_status(self) -> tuple[int, int] | None:
        if self._fd >= 0 and (status := _read_status(self._fd)) is not None and status[0] == self._parent:
            return status
        self._forget()  # gone, or never found: look for the runtime (a /proc scan, ~1 ms)
        for pid in self._children() if self._parent else []:
            fd = _open_status(pid)
            if fd is None:
                continue
            if (status := _read_status(fd)) is not None and status[0] == self._parent:
                self._pid, self._fd, self._peak_kb = pid, fd, 0  # a new runtime process: a new peak
                return status
            os.close(fd)
        return None

    def _forget(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._pid, self._fd = 0, -1

    def _kill(self) -> None:
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._killed_kb = self._peak_kb
        self._log(
            f"[memory] the runtime (pid {self._pid}) reached {-(-self._peak_kb // 1024)} MB, over the function's memory "
            f"size of {self.limit_mb} MB: killed, as Lambda does (Runtime.OutOfMemory)"
        )

    def take_kill(self) -> int:
        """The peak in kB that got the runtime killed since the last call, else 0."""
        with self._lock:
            killed, self._killed_kb = self._killed_kb, 0
            return killed

    def report_mb(self, request_id: str) -> int | None:
        """"Max Memory Used" for that invocation's REPORT line, in Lambda's whole MB (None: unknown).

        The output is read on its own thread, at times an invocation late (under load): a request
        id that has ended takes the peak `end` recorded; the one still under way (its runtime has
        answered: REPORT follows the answer) is looked at now, which `end` then reuses. Nothing
        waits here: waking this thread from the request path cost every request ~0.08 ms.
        """
        with self._lock:
            peak = self._ended.pop(request_id, None)
        if peak is None:
            peak = self.check()
            with self._lock:
                if request_id == self._current:
                    self._reported = request_id
        return -(-peak // 1024) if peak else None


def report_line(line: str, memory: RuntimeMemory) -> str:
    """The emulator's REPORT line with the real peak instead of the memory size it always prints."""
    if not line.startswith(_REPORT):
        return line
    request_id = line[len(_REPORT) :].split("\t", 1)[0].strip()
    if (used := memory.report_mb(request_id)) is None:
        return line
    return _MAX_USED.sub(f"Max Memory Used: {used} MB", line, count=1)


class MemoryWatch:
    """One thread that polls the busy environments of an endpoint; idle, it sleeps on an event."""

    def __init__(self, poll_s: float = POLL_S, linger_s: float = 1.0) -> None:
        self._poll_s, self._linger_s = poll_s, linger_s
        self._members: tuple[RuntimeMemory, ...] = ()  # replaced, never mutated: iterated without a lock
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set by `begin`: something to poll
        self._closed = threading.Event()
        self._idle = True  # the thread waits for `_wake` (else it polls on its own clock)
        self._thread: threading.Thread | None = None

    def add(self, memory: RuntimeMemory) -> None:
        with self._lock:
            self._members = (*self._members, memory)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)
                self._thread.start()

    def remove(self, memory: RuntimeMemory) -> None:
        with self._lock:
            self._members = tuple(m for m in self._members if m is not memory)

    def begin(self, memory: RuntimeMemory, request_id: str) -> None:
        """An invocation starts in this environment: poll it until it ends."""
        memory.begin(request_id)
        if self._idle:  # waking a thread per request costs the request path ~0.05 ms: only when it sleeps
            self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    def _run(self) -> None:
        # Under traffic the thread polls on its own clock and goes idle only after `linger_s`
        # without a busy environment, so a stream of requests does not wake it once each.
        linger = max(1, round(self._linger_s / self._poll_s))
        while not self._closed.is_set():
            self._wake.wait()
            self._wake.clear()
            self._idle = False
            quiet = 0
            while quiet < linger:
                busy = [m for m in self._members if m.busy]
                for memory in busy:
                    if memory.outlasted_a_poll():  # a shorter one gets its look from `end`
                        memory.check()
                quiet = 0 if busy else quiet + 1
                if self._closed.wait(self._poll_s):
                    return
            self._idle = True
            if any(m.busy for m in self._members):  # began between the last look and `_idle`
                self._wake.set()
