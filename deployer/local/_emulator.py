"""The Lambda Runtime Interface Emulator (RIE) running the real runtime client, on loopback.

Launch (one execution environment):

    aws-lambda-rie-<arch> --log-level warn
        --runtime-interface-emulator-address 127.0.0.1:<invoke port>
        --runtime-api-address 127.0.0.1:<runtime API port>
        <sys.executable> -c <RUNTIME_BOOTSTRAP> <handler>

The runtime is `python -m awslambdaric <handler>` but for one step first: the emulator starts it
in a process group of its own, so nothing we set on the emulator reaches it, and when the
emulator is SIGKILLed (it dies with us: see `_process`) the runtime would be orphaned and keep
running. So the command sets PR_SET_PDEATHSIG for itself, then runs awslambdaric's main in the
same interpreter (no second exec). Measured: no cold-start cost beyond `import ctypes` (~1.5 ms),
which numpy, and so every ONNX handler, imports anyway.

with the environment of `_lambda_env` and the directory holding the handler's package as cwd.
The RIE binary ships inside the aws-sam-cli wheel; it is found with `find_spec` because
importing samcli costs seconds. Both addresses are given explicitly: the RIE's defaults are
0.0.0.0:8080 (reachable from the network) and a fixed 9001 (so two instances would collide).
Ports are picked free by binding port 0; another process can take one before the RIE binds it,
so a start that dies with "address already in use" is retried on fresh ports.

Lifecycle: the RIE initializes the runtime on the first invoke (as Lambda does on demand), so
readiness means the RIE process itself listens on both ports (read from /proc: the RIE is a
Linux program, and a bare connect() could reach whoever took a port first). The RIE enforces
the function timeout (and then restarts the runtime); our socket timeout is only a backstop
for an RIE that hangs, after which the whole emulator is restarted. Invocations are
serialized: one environment handles one event at a time, as the RIE requires (several
environments make a pool: `_pool`).

Memory: given the function's memory size, the environment enforces it and rewrites the RIE's
REPORT line with the runtime's real peak (`_memory`). A runtime killed past the limit turns the
invocation's answer into Lambda's `Runtime.OutOfMemory` error.
"""

from __future__ import annotations

import functools
import http.client
import importlib.util
import itertools
import json
import math
import platform
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from importlib.machinery import ModuleSpec
from pathlib import Path

from deployer.errors import DependencyError, LocalRuntimeError
from deployer.local._memory import MemoryWatch, RuntimeMemory, report_line
from deployer.local._process import ManagedProcess, OutputTail, Spawn

__all__ = [
    "Emulator", "InvokeTimeout", "find_emulator_binary", "find_code_root", "free_port", "INVOKE_PATH",
    "RUNTIME_BOOTSTRAP",
]  # fmt: skip

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
HOST = "127.0.0.1"
_FIX = "pip install 'onnx-lambda-deployer[local]'"
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_BACKSTOP_S = 5.0  # beyond the function timeout, before we call the emulator hung

# `python -c` this, then the handler: awslambdaric, after arranging to die with the emulator.
# The emulator starts the runtime in its own group but in the emulator's session: a session id
# that is not our parent's pid means the emulator died before prctl, and no signal would come.
RUNTIME_BOOTSTRAP = (
    "import ctypes,os,sys\n"
    "ctypes.CDLL(None).prctl(1,9)\n"  # PR_SET_PDEATHSIG, SIGKILL
    "if os.getsid(0)!=os.getpid() and os.getppid()!=os.getsid(0):os._exit(137)\n"
    "sys.path[0]=os.getcwd()\n"  # as `-m` sets it: the task root, absolute
    "B=int(os.environ.pop('_ONNX_LAMBDA_INIT_BUDGET_MS','0'))\n"
    "if B:\n"  # the init phase, timed, then each context's deadline as Lambda's (INIT_BUDGET_S below)
    " import importlib,time\n"
    " e='AWS_LAMBDA_FUNCTION_TIMEOUT';os.environ[e]=str(int(os.environ.get(e,B//1000))-B//1000)\n"  # as the function knows it
    " t=time.monotonic()\n"
    " try:importlib.import_module(sys.argv[1].rsplit('.',1)[0])\n"
    " except BaseException:pass\n"  # awslambdaric imports it again and reports the error as Lambda does
    " i=int((time.monotonic()-t)*1000)\n"
    " print('INIT_REPORT Init Duration: %d ms\\tPhase: init\\tStatus: %s'%(i,'success' if i<=B else 'timeout'),flush=True)\n"
    " from awslambdaric import lambda_context as c\n"
    " o=c.LambdaContext.__init__;f=[i if i<=B else 0]\n"
    " def n(s,*a,**k):\n"
    "  o(s,*a,**k);s._epoch_deadline_time_in_ms-=B-f[0];f[0]=0\n"
    " c.LambdaContext.__init__=n\n"
    "from awslambdaric.__main__ import main\n"
    "main(sys.argv)\n"
)
# Lambda gives the init phase (the handler module's import: the model load) 10 s of its own; a
# longer one is retried inside the first invocation, under the function timeout. The RIE has one
# timer, started with the first invocation, so an init counted against the function timeout:
# a 4 s model load with a 3 s timeout failed here and works on Lambda. So the RIE's timer is the
# timeout plus this budget, the bootstrap times the init and reports it (INIT_REPORT), gives each
# context Lambda's deadline, and `_send` enforces the function timeout itself: from the end of an
# init within the budget, else from the invocation's start.
INIT_BUDGET_S = 10
_INIT_MARK = "INIT_REPORT Init Duration: "


class InvokeTimeout(LocalRuntimeError):
    """The emulator gave no answer within the function timeout plus a margin."""


def find_emulator_binary(
    machine: str | None = None,
    system: str | None = None,
    find_spec: Callable[[str], ModuleSpec | None] = importlib.util.find_spec,
) -> Path:
    """The RIE binary for this machine from the installed aws-sam-cli, or DependencyError."""
    system = system or platform.system()
    if system != "Linux":
        raise DependencyError(
            f"the Lambda Runtime Interface Emulator is a Linux program and this is {system}; "
            "run the local target in a container instead (sam local start-api)"
        )
    machine = machine or platform.machine()
    arch = _ARCH.get(machine.lower())
    if arch is None:
        raise DependencyError(f"no Runtime Interface Emulator build for {machine}; Lambda runs x86_64 and arm64")
    spec = find_spec("samcli")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "local" / "rapid" / f"aws-lambda-rie-{arch}"
        if binary.is_file():
            return binary
    raise DependencyError(f"the Lambda Runtime Interface Emulator (from aws-sam-cli) is not installed; {_FIX}")


def find_code_root() -> Path:
    """The directory that holds the `functions` package, found without importing it."""
    spec = importlib.util.find_spec("functions")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError("the handler package `functions` is not importable; install the project: pip install -e .")
    return Path(list(spec.submodule_search_locations)[0]).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Emulator:
    """One RIE + runtime client process tree; `invoke` sends one event and returns the raw answer."""

    def __init__(
        self,
        *,
        handler: str,
        env: Mapping[str, str],
        code_root: Path,
        timeout_s: int,
        tail: OutputTail,
        binary: Path | None = None,
        spawn: Spawn = subprocess.Popen,
        ports: Callable[[], int] = free_port,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        start_timeout_s: float = 10.0,
        memory_mb: int | None = None,
        watch: MemoryWatch | None = None,
    ) -> None:
        if importlib.util.find_spec("awslambdaric") is None:
            raise DependencyError(f"the Lambda runtime interface client (awslambdaric) is not installed; {_FIX}")
        self._binary = binary or find_emulator_binary()
        self._handler, self._env, self._code_root = handler, dict(env), code_root
        self._env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(timeout_s + INIT_BUDGET_S)  # the RIE's one timer: see INIT_BUDGET_S
        self._env["_ONNX_LAMBDA_INIT_BUDGET_MS"] = str(INIT_BUDGET_S * 1000)
        self._cold = True  # the next invocation starts the runtime: its init runs first
        self._timeout_s, self.tail = timeout_s, tail
        self._spawn, self._ports, self._clock, self._sleep = spawn, ports, clock, sleep
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._process: ManagedProcess | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._closed = False
        self.port = 0
        self.memory = RuntimeMemory(memory_mb, log=tail.add) if memory_mb is not None else None
        self._own_watch = watch is None and self.memory is not None
        self._watch = watch or (MemoryWatch() if self.memory is not None else None)
        if self._watch is not None and self.memory is not None:
            self._watch.add(self.memory)
        self._id_prefix = str(uuid.uuid4())[:24]
        self._invocations = itertools.count(1)

    def argv(self, invoke_port: int, api_port: int) -> list[str]:
        return [
            str(self._binary),
            "--log-level", "warn",
            "--runtime-interface-emulator-address", f"{HOST}:{invoke_port}",
            "--runtime-api-address", f"{HOST}:{api_port}",
            sys.executable, "-c", RUNTIME_BOOTSTRAP, self._handler,
        ]  # fmt: skip

    def start(self) -> None:
        with self._lock:
            self._start()

    def pids(self) -> list[int]:
        """The emulator's pid and its descendants' (the runtime client among them)."""
        process = self._process
        return [process.pid, *process.descendants()] if process and process.alive() else []

    def invoke(self, payload: bytes) -> tuple[int, bytes]:
        """POST one event; (status, body) as the RIE answers, or LocalRuntimeError / InvokeTimeout."""
        with self._lock:
            if self._closed:
                raise LocalRuntimeError("the local Lambda runtime is stopped")
            if self._process is None:  # a restart failed earlier: try again rather than fail forever
                self._start()
            memory = self.memory
            if memory is None or self._watch is None:
                return self._send(payload)
            request_id = f"{self._id_prefix}{next(self._invocations):012x}"  # uuid4-shaped, no syscall
            self._watch.begin(memory, request_id)
            started = time.perf_counter()
            try:
                status, answer = self._send(payload, request_id)
            except BaseException:
                memory.end()
                memory.take_kill()  # that invocation failed anyway; the next one starts clean
                raise
            memory.end()
            killed_kb = memory.take_kill()
            if not killed_kb:
                return status, answer
            # The RIE prints no REPORT for a runtime that died; Lambda does, with the error type.
            took = (time.perf_counter() - started) * 1000
            self.tail.add(
                f"REPORT RequestId: {request_id}\tDuration: {took:.2f} ms\tBilled Duration: {math.ceil(took)} ms\t"
                f"Memory Size: {memory.limit_mb} MB\tMax Memory Used: {memory.limit_mb} MB\tStatus: error\t"
                "Error Type: Runtime.OutOfMemory"
            )
            return _out_of_memory(status, answer, killed_kb, memory.limit_mb)

    def _send(self, payload: bytes, request_id: str | None = None) -> tuple[int, bytes]:
        """One POST to the emulator (the caller holds the lock), restarting it when it fails.

        A request id given is the invocation's (the RIE takes it from X-Amzn-RequestId and prints
        it in START/END/REPORT); otherwise the RIE makes one.
        """
        headers = {"Content-Type": "application/json"}
        if request_id is not None:
            headers["X-Amzn-RequestId"] = request_id
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._conn or http.client.HTTPConnection(
                HOST, self.port, timeout=self._timeout_s + INIT_BUDGET_S + _BACKSTOP_S
            )  # fmt: skip
            self._conn = conn
            try:
                mark, sent = self.tail.count, self._clock()
                conn.request("POST", INVOKE_PATH, body=payload, headers=headers)
                self._await_answer(conn, sent, mark)
                response = conn.getresponse()
                self._cold = False
                return response.status, response.read()
            except TimeoutError as exc:
                if self._closed:
                    raise LocalRuntimeError("the local Lambda runtime was stopped during the invocation") from exc
                self._restart()
                self.tail.add(f"Task timed out after {self._timeout_s:.2f} seconds")
                raise InvokeTimeout(f"the function did not answer within its {self._timeout_s} s timeout; its "
                                    "environment was reset") from exc  # fmt: skip
            except (http.client.HTTPException, OSError) as exc:
                self._drop_connection()
                if self._closed:
                    raise LocalRuntimeError("the local Lambda runtime was stopped during the invocation") from exc
                # A kept-alive connection may have been closed while idle: retry once, fresh.
                if reused and attempt == 1 and self._process is not None and self._process.alive():
                    continue
                last = self.tail.salient()
                self._restart()
                raise LocalRuntimeError(
                    f"the Lambda Runtime Interface Emulator stopped answering ({exc}); restarted it. "
                    f"Its last output:\n{last}"
                ) from exc
        raise AssertionError("unreachable")

    def _await_answer(self, conn: http.client.HTTPConnection, sent: float, mark: int) -> None:
        """Wait for the answer to start, until the function's deadline (INIT_BUDGET_S): TimeoutError past it."""
        sock = conn.sock
        if sock is None:
            return
        init_s: float | None = None if self._cold else 0.0
        while True:
            if init_s is None:
                found = next((ln for ln in self.tail.since(mark) if ln.startswith(_INIT_MARK)), None)
                if found is not None:
                    init_s = float(found[len(_INIT_MARK):].split(" ", 1)[0]) / 1000.0
            if init_s is None:
                deadline = sent + INIT_BUDGET_S + self._timeout_s  # still initializing: the most it may take
            elif init_s <= INIT_BUDGET_S:
                deadline = sent + init_s + self._timeout_s
            else:  # an init past its budget is retried inside the invocation, under the timeout
                deadline = sent + self._timeout_s
            left = deadline - self._clock()
            if left <= 0:
                raise TimeoutError(f"no answer within {self._timeout_s} s")
            readable, _, _ = select.select([sock], [], [], min(left, 0.05 if init_s is None else left))
            if readable:
                return

    def close(self) -> None:
        self._closed = True
        process = self._process
        if process is not None:
            process.stop()  # before taking the lock: this ends an invocation in flight instead of awaiting it
        with self._lock:
            self._drop_connection()
            if self._process is not None:
                self._process.stop()
                self._process = None
        if self._watch is not None and self.memory is not None:
            self._watch.remove(self.memory)
            self.memory.close()
            if self._own_watch:
                self._watch.close()

    def _restart(self) -> None:
        self._cold = True
        self._drop_connection()
        if self._process is not None:
            self._process.stop()
            self._process = None
        self._start()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _start(self) -> None:
        for _ in range(3):
            invoke_port, api_port = self._ports(), self._ports()
            while api_port == invoke_port:  # a port freed by bind(0) can be handed out again at once
                api_port = self._ports()
            mark = self.tail.count
            rewrite = functools.partial(report_line, memory=self.memory) if self.memory is not None else None
            process = ManagedProcess(
                self.argv(invoke_port, api_port), env=self._env, cwd=self._code_root, tail=self.tail,
                spawn=self._spawn, rewrite=rewrite,
            )  # fmt: skip
            try:
                if self._wait_ready(process, (invoke_port, api_port), mark):
                    self._process, self.port = process, invoke_port
                    if self.memory is not None:
                        self.memory.attach(process.pid, process.children)
                    return
            except BaseException:
                process.stop()
                raise
        raise LocalRuntimeError("the Lambda Runtime Interface Emulator found its ports taken three times; try again")

    def _wait_ready(self, process: ManagedProcess, ports: tuple[int, int], mark: int) -> bool:
        """True once the emulator listens on both ports; False when a port was taken (retry)."""
        deadline = self._clock() + self._start_timeout_s
        while self._clock() < deadline:
            if not process.alive():
                process.stop()  # also drains the last output lines
                if any("address already in use" in line for line in self.tail.since(mark)):
                    return False
                raise LocalRuntimeError(
                    f"the Lambda Runtime Interface Emulator exited at start (code {process.proc.returncode}):\n"
                    f"{self.tail.salient(mark)}"
                )
            # The emulator itself must hold both ports: a bare connect could reach a process that
            # took a port before the emulator bound it (the race the retry above exists for).
            if set(ports) <= process.listening_ports(("tcp",)):  # both addresses are 127.0.0.1: IPv4 only
                return True
            self._sleep(0.005)
        process.stop()
        raise LocalRuntimeError(
            f"the Lambda Runtime Interface Emulator did not listen within {self._start_timeout_s:g} s:\n"
            f"{self.tail.salient(mark)}"
        )


def _out_of_memory(status: int, answer: bytes, killed_kb: int, limit_mb: int) -> tuple[int, bytes]:
    """The emulator's answer for a runtime the memory limit killed, as Lambda reports it."""
    try:
        original = json.loads(answer)
    except ValueError:
        original = None
    said = original.get("errorMessage") if isinstance(original, dict) else None
    message = said if isinstance(said, str) and "signal: killed" in said else "Error: Runtime exited with error: signal: killed"
    error = {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"{message} (out of memory: the runtime reached {-(-killed_kb // 1024)} MB; "
        f"the function's memory size is {limit_mb} MB)",
    }
    return status, json.dumps(error).encode()
