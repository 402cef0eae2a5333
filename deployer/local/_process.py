"""A child process tree that is always cleaned up, with its output drained and remembered.

The Runtime Interface Emulator starts the runtime client (awslambdaric) in a process group of
its own, so signalling the emulator's group does not reach the runtime. Stopping therefore goes:
snapshot every descendant (from /proc, where there is one), SIGKILL the emulator's group, reap
it, and SIGKILL any snapshotted descendant that is still alive and is still the same process
(same start time: a pid can be reused). Nothing the emulator started outlives `stop()`.
No SIGTERM first: given one, the emulator SIGKILLs its runtime itself (measured: neither a SIGTERM
handler nor an atexit function of the runtime ever ran), so a graceful stop delivered nothing the
function could see, printed "Reset initiated: SandboxTerminated", and cost 15-30 ms of waiting
(a tenth of a one-shot `invoke`). What the processes printed before the kill is in the pipe and
still read to its end.

That covers an orderly stop. A parent that is SIGKILLed runs no code at all, so the child is
also told to die with it: PR_SET_PDEATHSIG (Linux) makes the kernel send SIGKILL to the child
when its parent goes. The kernel ties that signal to the parent *thread* that forked, not to the
process, and environments are started on demand from short-lived request threads; so every
child is forked by one keeper thread that lives as long as the process (`_keeper`). The child
sets the signal between fork and exec, then checks that its parent is still the one that
forked it (a parent that died before prctl would otherwise never signal). The runtime the
emulator starts does the same for itself (see `_emulator.RUNTIME_BOOTSTRAP`): the signal is not
inherited by grandchildren. Cost, measured: a preexec_fn makes Popen fork where it would vfork,
+1.8 ms per environment start from a 24 MB parent and +4.6 ms from a 200 MB one, against the
emulator's own 50-110 ms; nothing per request.

Output: stdout and stderr are one pipe, read line by line by a daemon thread. Each line goes
(through an optional `rewrite`) to an optional sink and into a bounded tail kept for error
messages. The thread never stops reading, even when the sink fails: a full pipe would block the
child's next write and freeze the function mid-invocation.
"""

from __future__ import annotations

import functools
import os
import queue
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = ["OutputTail", "ManagedProcess", "Spawn", "die_with_parent", "on_keeper_thread"]

Spawn = Callable[..., "subprocess.Popen[bytes]"]
_PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1
_T = TypeVar("_T")


class OutputTail:
    """The last lines a process tree printed, shared across restarts, plus the caller's sink."""

    def __init__(self, sink: Callable[[str], None] | None = None, keep: int = 200) -> None:
        self._sink = sink
        self._lines: deque[str] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._sink_lock = threading.Lock()  # lines come from several threads; a sink sees one at a time
        self.count = 0  # lines seen so far, a mark for `since`

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            self.count += 1
        with self._sink_lock:
            if self._sink is not None:
                try:
                    self._sink(line)
                except Exception:  # a broken sink must not stop the draining (see module docstring)
                    self._sink = None

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def since(self, mark: int) -> list[str]:
        """The lines added after `count` was `mark` (as many as are still kept)."""
        with self._lock:
            recent = self.count - mark
            return list(self._lines)[-recent:] if recent > 0 else []

    def salient(self, mark: int = 0, count: int = 12) -> str:
        """The lines since `mark` worth showing in an error: the emulator's errors, else the last ones."""
        lines = self.since(mark)
        marked = [ln for ln in lines if any(m in ln for m in ("[PANIC]", "[FATAL]", "[ERROR]"))]
        chosen = (marked or [ln for ln in lines if ln.strip()])[-count:]
        return "\n".join(chosen) if chosen else "(no output)"


class ManagedProcess:
    """One spawned process (a session leader) whose whole tree is stopped on `stop()`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        tail: OutputTail,
        spawn: Spawn = subprocess.Popen,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        self.tail = tail
        self._rewrite = rewrite
        self._stop_lock = threading.Lock()
        self._stopped = False  # a second stop() (close() calls it twice) skips the /proc scan (~3 ms)
        self.proc = on_keeper_thread(
            lambda: spawn(
                list(argv),
                env=dict(env),
                cwd=str(cwd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: we can signal the tree, and Ctrl-C is ours to handle
                preexec_fn=die_with_parent(),
            )
        )
        self._reader = threading.Thread(
            target=self._drain, args=(self.proc.stdout,), name=f"rie-output-{self.proc.pid}", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def listening_ports(self, tables: Sequence[str] = ("tcp", "tcp6")) -> set[int]:
        """TCP ports this very process listens on (empty where there is no /proc).

        `tables`: the /proc/net tables to read; ("tcp",) for a process told to bind IPv4 addresses.
        Each read walks the kernel's whole socket table: an empty tcp6 took 9.6 ms here, tcp 1.5 ms.
        """
        return _listening_ports(self.proc.pid, tables)

    def descendants(self) -> list[int]:
        """Pids of every live descendant, from /proc (empty where there is no /proc)."""
        return [pid for pid, _ in _descendants(self.proc.pid)]

    def children(self) -> list[int]:
        """Pids of the live direct children (the emulator's runtime), from /proc."""
        return [pid for pid, _ in _descendants(self.proc.pid) if (f := _stat(pid)) and f[1] == str(self.proc.pid)]

    def stop(self, grace_s: float = 3.0) -> None:
        """Stop the process and everything it started; idempotent and safe from any thread."""
        with self._stop_lock:
            self._stop(grace_s)

    def _stop(self, grace_s: float) -> None:
        if self._stopped:
            return
        family = _descendants(self.proc.pid)
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGKILL)  # not SIGTERM: see the module docstring
        for pid, started in family:  # at once, not after the emulator is reaped: the two exits overlap
            if _start_time(pid) == started:
                _signal_group(pid, signal.SIGKILL)
                _kill(pid)
        self.proc.wait(grace_s)
        self._reader.join(grace_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stopped = True

    def _drain(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
                self.tail.add(self._rewrite(line) if self._rewrite is not None else line)
        except (OSError, ValueError):  # the pipe was closed under us by stop()
            return


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGKILL when this process dies (None off Linux).

    It runs in the child between fork and exec, so it only calls what was resolved before the
    fork: the prctl entry point and the parent's pid.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: no signal will ever come
            os._exit(137)

    return preexec


@functools.cache
def _prctl() -> Any:
    import ctypes  # here, not at the top: only a spawn needs it

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux (no prctl in the C library)
        return None


class _Keeper:
    """The one thread that forks every child, alive as long as the process (see module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, job: Callable[[], _T]) -> _T:
        if threading.current_thread() is self._thread:
            return job()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="child-keeper", daemon=True)
                self._thread.start()
        done: Future[_T] = Future()
        self._jobs.put((job, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, raised there
                done.set_exception(exc)


_keeper = _Keeper()


def on_keeper_thread(job: Callable[[], _T]) -> _T:
    """Run `job` (a spawn) on the keeper thread and return its result or raise its exception."""
    return _keeper.run(job)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stat(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return fields[19]


def _listening_ports(pid: int, tables: Sequence[str]) -> set[int]:
    try:
        links = [os.readlink(fd) for fd in (_PROC / str(pid) / "fd").iterdir()]
    except OSError:  # gone, or not ours to inspect
        return set()
    inodes = {link[8:-1] for link in links if link.startswith("socket:[")}
    ports: set[int] = set()
    if not inodes:  # no socket yet: no table to read
        return ports
    for table in tables:
        try:
            rows = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _descendants(root: int) -> list[tuple[int, str]]:
    if not _PROC.is_dir():
        return []
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[tuple[int, str]] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if (started := _start_time(pid)) is not None:
            found.append((pid, started))
        todo.extend(children.get(pid, []))
    return found
