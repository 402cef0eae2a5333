"""`LocalEndpoint` and `serve`: a model behind the local API Gateway, the real runtime behind it.

Start-up order is chosen so a failure leaves nothing running: validate the model and the limits
(pure checks), bind the gateway's port (a taken port is the likeliest failure, and costs no
process), start the first execution environment, then serve. `close()` undoes it in reverse and
is idempotent.

Lambda's limits, as the deployed function has them: `concurrency` execution environments at most
(pass the function's reserved concurrency; 1 by default), each started on demand, and a request
that finds them all busy is refused with 429 (`_pool`); each runtime held to `memory_mb`, its real
peak in the REPORT line (`_memory`); the function timeout (the emulator).

The gateway answers `GET /metrics` itself (Prometheus text, `_gateway`); the function's output is
handed to it too, so the handler's EMF lines add cold starts, errors by kind and drift gauges.
`metrics=False` leaves that out, for an endpoint nobody can scrape (the CLI's one-shot `invoke`).
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from deployer.errors import ConfigError, LocalRuntimeError, ModelError
from deployer.local._emulator import Emulator, find_code_root
from deployer.local._gateway import Gateway
from deployer.local._lambda_env import check_concurrency, check_limits, lambda_environment
from deployer.local._memory import MemoryWatch
from deployer.local._pool import EnvironmentPool
from deployer.local._process import OutputTail
from functions.manifest import HANDLER, MODEL_FILE  # the model-folder contract

__all__ = ["LocalEndpoint", "LocalResponse", "serve", "validate_model"]



@dataclass(frozen=True)
class LocalResponse:
    """One HTTP answer of the local endpoint; header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def validate_model(model: Path) -> Path:
    """The absolute model path, or ModelError saying what is wrong, where, and the fix."""
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelError(f"model not found: {path} does not exist; pass a .onnx file or a folder holding {MODEL_FILE}")
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise ModelError(
                f"no {MODEL_FILE} in the folder {path}; a model folder holds {MODEL_FILE} (and optionally "
                "manifest.json): convert the model into it first, or pass the .onnx file itself"
            )
    elif path.suffix.lower() != ".onnx":
        raise ModelError(f"{path} is not an ONNX model (expected a .onnx file); convert it to ONNX first")
    return path.resolve()


class LocalEndpoint:
    """The model served on http://127.0.0.1:PORT through API Gateway emulation and the RIE."""

    def __init__(
        self,
        model: Path,
        *,
        port: int = 0,
        handler: str = HANDLER,
        timeout_s: float = 30.0,
        memory_mb: int = 1024,
        env: Mapping[str, str] | None = None,
        output: Callable[[str], None] | None = None,
        code_root: Path | None = None,
        read_timeout_s: float = 30.0,
        concurrency: int | None = None,
        metrics: bool = True,
    ) -> None:
        model = validate_model(model)
        seconds = check_limits(timeout_s, memory_mb)
        environments = check_concurrency(concurrency)
        if "." not in handler.strip("."):
            raise ConfigError(f"handler {handler!r} must be 'module.function', like functions.app.handler")
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is not a TCP port (0-65535; 0 picks a free one)")
        root = (code_root or find_code_root()).resolve()
        self._feed: Callable[[str], None] = lambda line: None  # the gateway's observe_output, once it exists
        user_output = output

        def sink(line: str) -> None:  # the function's lines feed the gateway's /metrics, then the caller's sink
            try:
                self._feed(line)
            except Exception:  # noqa: BLE001 - a metrics bug must not cost the caller its output
                pass
            if user_output is not None:
                user_output(line)

        self._tail = OutputTail(sink)
        environment = lambda_environment(
            model=model, handler=handler, code_root=root, timeout_s=seconds, memory_mb=memory_mb, extra=env
        )
        self._watch = MemoryWatch()

        def environment_factory() -> Emulator:
            return Emulator(handler=handler, env=environment, code_root=root, timeout_s=seconds, tail=self._tail,
                            memory_mb=memory_mb, watch=self._watch)  # fmt: skip

        self._pool = EnvironmentPool(environment_factory, concurrency=environments)
        self._gateway = Gateway(
            invoke=self._pool.invoke, timeout_s=seconds, port=port, log=self._tail.add, read_timeout_s=read_timeout_s,
            metrics=metrics,
        )  # fmt: skip
        if metrics:
            self._feed = self._gateway.observe_output
        try:
            self._pool.start()
        except BaseException:
            self._gateway.close()
            self._watch.close()
            raise
        self._gateway.start()
        self.url = self._gateway.url
        self.port = self._gateway.port
        self._timeout_s = seconds
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> LocalResponse:
        """Send one HTTP request through the gateway (a persistent loopback connection)."""
        target = path if path.startswith("/") else f"/{path}"
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None
                conn = self._conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=self._timeout_s + 30)
                self._conn = conn
                try:
                    conn.request(method.upper(), target, body=body, headers=dict(headers or {}))
                    response = conn.getresponse()
                    data = response.read()
                except (http.client.HTTPException, OSError) as exc:
                    conn.close()
                    self._conn = None
                    if reused and attempt == 1 and not isinstance(exc, TimeoutError):
                        continue  # the gateway closed an idle kept-alive connection: once more, fresh
                    raise LocalRuntimeError(f"no answer from the local endpoint {self.url}: {exc}") from exc
                merged: dict[str, str] = {}
                for name, value in response.getheaders():
                    key = name.lower()
                    merged[key] = f"{merged[key]}, {value}" if key in merged else value
                if response.will_close:
                    conn.close()
                    self._conn = None
                return LocalResponse(response.status, merged, data)
        raise AssertionError("unreachable")

    def invoke(self, payload: bytes) -> tuple[int, bytes]:
        """One event straight to an execution environment (no gateway): (status, body) as the
        emulator answers; Throttled when all are busy at the concurrency limit."""
        return self._pool.invoke(payload)

    def recent_output(self, count: int = 50) -> list[str]:
        """The last lines the emulator, the function and the gateway printed."""
        return self._tail.lines()[-count:]

    @property
    def concurrency(self) -> int:
        """How many execution environments may run at once (beyond: 429)."""
        return self._pool.concurrency

    def pids(self) -> list[int]:
        """Every environment's emulator and its descendants (for checks that nothing is left behind)."""
        return self._pool.pids()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._gateway.close()
        self._pool.close()  # ends invocations in flight, which answers the client holding the lock
        self._watch.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LocalEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    model: Path,
    *,
    port: int,
    handler: str = HANDLER,
    timeout_s: float = 30.0,
    memory_mb: int = 1024,
    env: Mapping[str, str] | None = None,
    output: Callable[[str], None] | None = None,
    ready: Callable[[str], None] | None = None,
    code_root: Path | None = None,
    stop: threading.Event | None = None,
    concurrency: int | None = None,
) -> None:
    """Serve until Ctrl-C, SIGTERM or `stop` is set; the function's output goes to stderr by default."""
    stop = stop or threading.Event()
    sink = output or (lambda line: print(line, file=sys.stderr, flush=True))
    restore = _on_sigterm(stop)
    try:
        with LocalEndpoint(model, port=port, handler=handler, timeout_s=timeout_s, memory_mb=memory_mb, env=env,
                           output=sink, code_root=code_root, concurrency=concurrency) as endpoint:  # fmt: skip
            if ready is not None:
                ready(endpoint.url)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        restore()


def _on_sigterm(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM set `stop` (main thread only, where Python delivers signals); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handle)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
