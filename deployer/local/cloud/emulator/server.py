"""EmulatorServer: moto (extended) on 127.0.0.1, one request at a time, journaled, replayed on start.

    EmulatorServer(host, port, state_dir, on_change).start()
      ├── install()                      moto extended (the package doc)
      ├── bind 127.0.0.1:<port>          an OSError here (port in use) comes before any replay
      ├── with state_dir:                lock <state_dir>/journal, reset moto, replay the journal
      └── serve                          each request: under `lock` → classify → seed → moto → journal

Requests. moto is not thread-safe, and its backends are per process; one RLock per process
(`EmulatorServer.lock`, also for in-process readers of moto state) serializes every request.
A mutation (mutations.py) draws a fresh seed, seeds moto's generator with it
(`moto.moto_api._internal.mock_random`: every id, uuid and random string moto makes comes from
it), runs, and unless it answered 5xx is appended to the journal (journal.py) before its answer
goes out; then `on_change()` is called, in the request's thread, after the lock is released (set
an event there; do no long work). A read runs with the generator's state saved and restored, so
reads never move it: between two journaled items its state depends on the journal only.

Replay. `start()` with a journal, before serving any request: moto's backends are reset, then
every record is run in order through the same WSGI app, with its seed, so moto draws the same
ids: stack, change set, event and API ids, upload ids, revision ids, random name suffixes. A
replayed request whose status class differs from the one first answered is logged as a
divergence (`replay.diverged`); replay goes on. Layer uploads that completed are not sent again:
their parts are skipped and their completion taken from the blob store (ecr_blobs.py), which
keeps a replay's time independent of the bytes pushed. Records of the daemon's own mutations
(`record(kind, data)`) are replayed by calling the handler registered with `on_replay(kind, ...)`
before `start()`, with moto's generator seeded as it was when the record was made (the server
reseeds after every journaled item, and reads do not move it: ids drawn by a mutation done under
`lock` just before `record()` come out the same). A record made while a request is being
answered (a resource model's hook: the CodeDeploy deployment of an alias update records its
outcome) precedes that request in the journal and is replayed just before it, unseeded. A record
of a kind without a handler stops the start (JournalError): replaying past it would build
another state.

Limits, stated: timestamps are the replay's (creation and event times, LastModified, image push
times), not the first run's; what is not journaled does not come back (the function's logs and
metrics, unless the daemon records them; anything done to moto in-process without `record()`);
a request moto answered 5xx is not journaled, whatever it changed; a backend that draws ids
when it is first created (moto's EC2 makes a default VPC) gives other ids if a read created it
first (none of the backends a push uses draws any: tests/unit/cloud/test_install.py pins it).
The environment moto reads (MOTO_* settings) must be the same on replay.

Blobs: layer bytes are kept under `<state_dir>/blobs` (ecr_blobs.py); without a state dir, in a
temporary folder the server removes on `stop()`. One server with a state dir per process: moto's
state is the process's; starting one resets it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.errors import LocalRuntimeError
from deployer.local.cloud.emulator.journal import Entry, Journal, JournalError
from deployer.local.cloud.emulator.mutations import is_mutation, journal_headers, operation

__all__ = ["EmulatorServer", "Replay", "MARKER_PATH"]

MARKER_PATH = "/_onnx-lambda/emulator"
_LOCK = threading.RLock()  # moto's backends are per process: so is the lock around them
_SEEDS = random.SystemRandom()
_owner: EmulatorServer | None = None  # the running server with a state dir in this process
log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
StartResponse = Callable[..., Any]


@dataclass
class Replay:
    """What the last `start()` replayed."""

    records: int = 0
    seconds: float = 0.0
    dropped_tail: int = 0  # bytes of a torn last record dropped
    diverged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Answer:
    status: str
    headers: list[tuple[str, str]]
    body: list[bytes]

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])


class EmulatorServer:
    """moto (extended) on http://127.0.0.1:<port>, in a thread of this process; see the module doc."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._on_change = on_change
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._moto: Any = None
        self._journal: Journal | None = None
        self._blobs: Any = None
        self._temporary: Path | None = None
        self._handlers: dict[str, Handler] = {}
        self._pending_seed = 0
        self._answering = 0  # requests moto is answering (0 or 1: they hold the lock)
        self.replay = Replay()
        self.url = ""

    @property
    def lock(self) -> threading.RLock:
        """The lock every request holds while moto runs it; hold it to read moto's state in-process."""
        return _LOCK

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EmulatorServer:
        global _owner
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from deployer.local.cloud.emulator import install
        from deployer.local.cloud.emulator.ecr_blobs import BlobStore

        install()
        self._moto = DomainDispatcherApplication(create_backend_app)
        if self.state_dir is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="onnx-lambda-blobs-"))
            self._blobs = BlobStore(self._temporary)
        else:
            with _LOCK:
                if _owner is not None:
                    raise LocalRuntimeError(
                        f"an emulator with the state dir {_owner.state_dir} already runs in this process; moto's "
                        f"state is per process, so it cannot hold {self.state_dir} too"
                    )
            self._blobs = BlobStore(self.state_dir / "blobs")
            self._journal = Journal(self.state_dir / "journal")
        try:
            self._server = _listen(self._host, self._port, self._app)
            self.url = f"http://{self._host}:{self._server.server_address[1]}"
            if self._journal is not None:
                entries = self._journal.open()
                with _LOCK:
                    _owner = self
                    self._replay(entries)
            with _LOCK:
                self._reseed()
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        global _owner
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with _LOCK:
            if self._journal is not None:
                self._journal.close()
            if _owner is self:
                _owner = None
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None

    def reset(self) -> None:
        """Forget every resource (what POST /moto-api/reset does), the journal and the blobs with them."""
        from moto.moto_api import _internal

        from deployer.local.cloud.emulator import traffic

        with _LOCK:
            _internal.moto_api_backend.reset()
            traffic.clear()
            if self._journal is not None:
                self._journal.clear()
            if self._blobs is not None:
                self._blobs.clear()
            self._reseed()
        self._changed()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ what the daemon reads and records

    def blob_path(self, digest: str) -> Path | None:
        """The file holding the blob (layer or image config) `digest` pushed to ECR, or None."""
        return self._blobs.path(digest) if self._blobs is not None else None

    def image_manifest(self, repository: str, reference: str) -> dict[str, Any] | None:
        """The manifest put to ECR `repository` (name or URI) under `reference` (tag or digest), or None."""
        from deployer.local.cloud.emulator.ecr_blobs import find_manifest

        with _LOCK:
            return find_manifest(repository, reference)

    def on_replay(self, kind: str, handler: Handler) -> None:
        """Re-apply records of `kind` with `handler(data)` during replay; register before `start()`."""
        self._handlers[kind] = handler

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Journal one of the daemon's own mutations (done under `lock`, just before this call).

        `data` must be JSON. Replayed in order with the handler `on_replay(kind, ...)` registered.
        Made while a request is being answered (from inside a resource model, in that request's
        thread), the record is journaled before the request and replayed just before it, and
        leaves moto's generator alone.
        """
        with _LOCK:
            nested = self._answering > 0  # made while moto answers a request (a resource model's hook)
            seed = None if nested else self._pending_seed
            if self._journal is not None:
                self._journal.append(Entry({"type": "record", "kind": kind, "seed": seed, "data": data}))
            else:
                json.dumps(data)  # the same contract with or without a journal
            if nested:  # that request goes on drawing from its own seed, and calls on_change itself
                return
            self._reseed()
        self._changed()

    # ------------------------------------------------------------------ requests

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from werkzeug.wsgi import get_input_stream

        path = environ.get("PATH_INFO", "")
        if path == MARKER_PATH:
            return _respond(start_response, _json_answer(_marker()))
        body = get_input_stream(environ).read()
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            self.reset()
            return _respond(start_response, _json_answer(b'{"status": "ok"}'))
        headers = _headers(environ)
        method, query = environ.get("REQUEST_METHOD", "GET"), environ.get("QUERY_STRING", "")
        changes = is_mutation(method, path, query, headers, body)
        with _LOCK:
            if not changes:
                from moto.moto_api._internal import mock_random

                state = mock_random.getstate()
                try:
                    answer = self._call(environ)
                finally:
                    mock_random.setstate(state)
                return _respond(start_response, answer)
            seed = _SEEDS.getrandbits(63)
            answer = self._call(environ, seed)
            journaled = answer.code < 500
            if journaled:
                self._journal_request(seed, method, path, query, headers, body, environ, answer)
                self._reseed()
        if journaled:
            self._changed()
        return _respond(start_response, answer)

    def _call(self, environ: dict[str, Any], seed: int | None = None) -> _Answer:
        """Run one request through moto (the lock held), with its generator seeded when `seed` is given."""
        from deployer.local.cloud.emulator.ecr_blobs import active_store
        from moto.moto_api._internal import mock_random

        if seed is not None:
            mock_random.seed(seed)
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return chunks.append

        token = active_store.set(self._blobs)
        self._answering += 1
        try:
            result = self._moto(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            self._answering -= 1
            active_store.reset(token)
        return _Answer(captured["status"], captured["headers"], chunks)

    def _journal_request(
        self, seed: int, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
        environ: dict[str, Any], answer: _Answer,
    ) -> None:  # fmt: skip
        if self._journal is None:
            return
        header: dict[str, Any] = {
            "type": "http", "seed": seed, "status": answer.code, "method": method, "path": path, "query": query,
            "raw_uri": environ.get("RAW_URI") or environ.get("REQUEST_URI"), "headers": journal_headers(headers),
            "time": time.time(),
        }  # fmt: skip
        name = operation(method, path, query, headers, body) if answer.code == 200 else None
        done_upload = None
        if name == "UploadLayerPart":  # the bytes go to the upload's spool, the record says where
            request = json.loads(body)
            data = base64.b64decode(request.pop("layerPartBlob", "") or b"")
            self._journal.spool_part(request["uploadId"], int(request["partFirstByte"]), data)
            header["part"] = {"upload": request["uploadId"], "first": int(request["partFirstByte"]),
                              "length": len(data), "field": "layerPartBlob"}  # fmt: skip
            body = json.dumps(request).encode()
        elif name == "CompleteLayerUpload":
            done_upload = json.loads(body)["uploadId"]
            header["completed"] = {"upload": done_upload, "digest": json.loads(b"".join(answer.body))["layerDigest"]}
        self._journal.append(Entry(header, body))
        if done_upload is not None:
            self._journal.drop_spool(done_upload)

    # ------------------------------------------------------------------ replay

    def _replay(self, entries: list[Entry]) -> None:
        from moto.moto_api import _internal

        from deployer.local.cloud.emulator.ecr_blobs import replayed_layers

        assert self._journal is not None
        started = time.monotonic()
        _internal.moto_api_backend.reset()
        from deployer.local.cloud.emulator import traffic

        traffic.clear()  # deployment groups, alarms, outcomes: moto's state's companions, rebuilt by the replay
        self.replay = Replay(dropped_tail=self._journal.dropped_tail)
        completed = {e.header["completed"]["upload"]: e.header["completed"]["digest"]
                     for e in entries if "completed" in e.header}  # fmt: skip
        layers: dict[str, tuple[str, int]] = {}
        for upload, digest in completed.items():
            path = self._blobs.path(digest)
            if path is not None:
                layers[upload] = (digest, path.stat().st_size)
        token = replayed_layers.set(layers)
        try:
            self._replay_entries(entries, layers)
        finally:
            replayed_layers.reset(token)
        for upload in self._journal.spools():
            if upload in completed:
                self._journal.drop_spool(upload)
        self.replay.records = len(entries)
        self.replay.seconds = time.monotonic() - started
        if entries:
            log.info("local cloud: replayed %d journal records in %.2f s", len(entries), self.replay.seconds)

    def _replay_entries(self, entries: list[Entry], layers: dict[str, tuple[str, int]]) -> None:
        from moto.moto_api._internal import mock_random

        assert self._journal is not None
        for number, entry in enumerate(entries, 1):
            header = entry.header
            if header["type"] == "record":
                handler = self._handlers.get(header["kind"])
                if handler is None:
                    raise JournalError(
                        f"the local cloud's journal holds a record of kind {header['kind']!r} (number {number}) that "
                        f"nothing replays: register a handler with on_replay({header['kind']!r}, ...) before start()"
                    )
                if header["seed"] is not None:  # else made inside the request that follows it
                    mock_random.seed(header["seed"])
                try:
                    handler(header["data"])
                except Exception as exc:  # noqa: BLE001 - reported, and the rest of the state still comes back
                    self._diverged(number, f"record {header['kind']!r} failed on replay: {exc}")
                continue
            body = entry.body
            part = header.get("part")
            if part is not None and part["upload"] in layers:
                continue  # its upload is completed from the blob store (ecr_blobs.py: Replay)
            if part is not None:
                data = self._journal.read_part(part["upload"], part["first"], part["length"])
                if data is None:
                    self._diverged(number, f"the bytes of layer upload {part['upload']} are missing; part not replayed")
                    continue
                request = json.loads(body)
                request[part["field"]] = base64.b64encode(data).decode()
                body = json.dumps(request).encode()
            answer = self._call(_environ(header, body, self.url), header["seed"])
            if answer.code // 100 != header["status"] // 100:
                text = b"".join(answer.body)[:300].decode("utf-8", "replace")
                self._diverged(number, f"{header['method']} {header['path']} answered {answer.code} on replay, "
                                       f"{header['status']} first: {text}")  # fmt: skip

    def _diverged(self, number: int, what: str) -> None:
        self.replay.diverged.append(f"record {number}: {what}")
        log.warning("local cloud journal replay, record %d: %s", number, what)

    # ------------------------------------------------------------------ helpers

    def _reseed(self) -> None:
        """A fresh seed for what comes next (the daemon's next record() is journaled with it)."""
        from moto.moto_api._internal import mock_random

        self._pending_seed = _SEEDS.getrandbits(63)
        mock_random.seed(self._pending_seed)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


def _marker() -> bytes:
    from deployer.local.cloud.emulator import MODELLED_TYPES

    return json.dumps({"emulator": "onnx-lambda-deployer", "cloudformation_types": list(MODELLED_TYPES)}).encode()


def _json_answer(body: bytes) -> _Answer:
    return _Answer("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], [body])


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers


def _environ(header: dict[str, Any], body: bytes, url: str) -> dict[str, Any]:
    """The WSGI environ of a journaled request, as werkzeug's server would have built it."""
    host_port = url.split("//", 1)[1]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": header["method"], "SCRIPT_NAME": "", "PATH_INFO": header["path"],
        "QUERY_STRING": header["query"], "SERVER_NAME": host_port.split(":")[0], "SERVER_PORT": host_port.split(":")[1],
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)),
    }  # fmt: skip
    if header.get("raw_uri"):
        environ["RAW_URI"] = environ["REQUEST_URI"] = header["raw_uri"]
    for name, value in header["headers"].items():
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _respond(start_response: StartResponse, answer: _Answer) -> Iterator[bytes]:
    start_response(answer.status, answer.headers)
    return iter(answer.body)


def _listen(host: str, port: int, app: Callable[..., Any]) -> Any:
    """werkzeug's server on a socket bound here: werkzeug's own bind prints and calls sys.exit on EADDRINUSE,
    where the daemon wants the OSError (it names the port and the fix)."""
    from werkzeug.serving import get_sockaddr, make_server, select_address_family

    family = select_address_family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT, never one that listens
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(128)
        return make_server(host, port, app, threaded=True, request_handler=_quiet_handler(), fd=sock.fileno())
    finally:
        sock.close()  # werkzeug serves a duplicate of it


def _quiet_handler() -> Any:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Quiet(MotoRequestHandler):  # type: ignore[misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log on the user's terminal
            pass

    return Quiet
