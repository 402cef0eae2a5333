"""The local API Gateway: HTTP on 127.0.0.1 in front of the function's execution environments.

Each request is framed, checked against Lambda's limits, turned into a REST API proxy event
(`_events.build_event`), sent to an environment (`invoke`: the pool's), and the proxy response
turned back into HTTP. What the real service would refuse is refused here too, and every error,
including those http.server itself raises while parsing, is a JSON `{"error": ...}`:

    400  a malformed request line or header, a Content-Length that is not a byte count, two
         Content-Length values that disagree (which one frames the body is a smuggling question),
         a body that is not valid for its Content-Encoding
    405  a method API Gateway does not route (TRACE, CONNECT, ...), with an `Allow` header
    408  a body that has not fully arrived within `read_timeout_s` (a slow client cannot pin a thread)
    411  no Content-Length on POST/PUT/PATCH, or a chunked body (the gateway needs the length)
    413  an event over 6,291,456 bytes, or a gzip/deflate body that decodes past it (`_encoding`)
    414  a request line over 64 KiB;  431  a header line over 64 KiB, or over 100 headers
    415  a Content-Encoding other than gzip, deflate, identity
    429  every execution environment busy at the function's concurrency limit (`_pool.Throttled`)
    502  a function error, a crashed runtime (out of memory included), a malformed proxy response
    504  the function ran past its timeout; the environment is reset and the next request works
    505  an HTTP version other than 1.0 and 1.1 (0.9 included: it has no status line to answer in)

`GET /metrics` is answered by the gateway itself, never sent to the function (whose routes, in
functions/app.py, have no /metrics): Prometheus' text exposition of what this gateway served,
request counters and latency histograms by model, version, route and status, plus cold starts,
handler errors by kind and drift gauges from the handler's EMF lines when the gateway's owner
hands it the function's output (`observe_output`; deployer.monitor.prometheus has the families).
Each gateway has its own registry. Without prometheus_client installed, /metrics is a 501 saying
how to install it. A gateway made with `metrics=False` keeps none and routes /metrics to the
function like any path (a one-shot `invoke`: nobody can scrape it, and building the families
imports prometheus_client and deployer.monitor, ~60 ms of CPU beside the runtime's init). A deployed API on AWS has no /metrics: CloudWatch holds those figures there.

An oversized body is read and discarded (up to a cap) so the client can read the 413 on a
connection it is still writing to; beyond the cap the connection is closed. `Expect:
100-continue` (curl sends it for bodies over 1 MB) is answered with the 413 before any body.
Requests are handled on threads; each environment takes one event at a time (`_pool`).
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING

from deployer.errors import LocalRuntimeError
from deployer.local._emulator import InvokeTimeout
from deployer.local._encoding import BodyRefused, decode_body
from deployer.local._events import MAX_INVOKE_PAYLOAD, HttpReply, build_event, error_reply, reply_from_invoke
from deployer.local._pool import Throttled

if TYPE_CHECKING:
    from deployer.monitor.prometheus import GatewayMetrics

__all__ = ["Gateway", "METRICS_PATH"]

HOST = "127.0.0.1"
METRICS_PATH = "/metrics"  # answered by the gateway (module doc)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ALLOWED = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"  # what an `ANY` method of API Gateway routes
_DISCARD_CAP = 4 * MAX_INVOKE_PAYLOAD  # past this an oversized body is not drained, the connection is closed
_MAX_DIGITS = 18  # a longer Content-Length is over any limit (and int() refuses past 4,300 digits)
Invoke = Callable[[bytes], tuple[int, bytes]]
_UNLOADED = object()  # Gateway.metrics not built yet


class Gateway:
    """Owns the HTTP server and its thread; `invoke` is the emulator's."""

    def __init__(
        self,
        *,
        invoke: Invoke,
        timeout_s: int,
        port: int = 0,
        log: Callable[[str], None] | None = None,
        read_timeout_s: float = 30.0,
        request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.perf_counter,
        metrics: bool = True,
    ) -> None:
        self.invoke, self.timeout_s, self.read_timeout_s = invoke, timeout_s, read_timeout_s
        self.keeps_metrics = metrics  # False: no /metrics route of its own, nothing observed (`LocalEndpoint`)
        self.log = log or (lambda line: None)
        self.request_id, self.now, self.clock = request_id, now, clock
        try:
            self._server = _Server((HOST, port), _Handler, self)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LocalRuntimeError(
                    f"port {port} on {HOST} is already in use; choose another port, or 0 for a free one"
                ) from exc
            raise LocalRuntimeError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from exc
        self._metrics: GatewayMetrics | None | object = _UNLOADED if metrics else None  # built on first use: `metrics`
        self._metrics_lock = threading.Lock()
        self.port = int(self._server.server_address[1])
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve, name=f"apigw-{self.port}", daemon=True)

    @property
    def metrics(self) -> GatewayMetrics | None:
        """The Prometheus families (None without prometheus_client: /metrics says how to install it).

        Built on first use, not at start-up: importing deployer.monitor and prometheus_client costs
        ~30 ms, which a one-shot `invoke` paid before its request. The first use is the runtime's
        first output line, printed while its init runs in the other process, so the import is hidden.
        """
        metrics = self._metrics
        if metrics is _UNLOADED:
            with self._metrics_lock:
                if self._metrics is _UNLOADED:
                    from deployer.monitor.prometheus import gateway_metrics

                    self._metrics = gateway_metrics()
                metrics = self._metrics
        return metrics  # type: ignore[return-value]

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.stop()
            self._thread.join()
        self._server.server_close()

    def answer(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str,
               request_id: str) -> HttpReply:  # fmt: skip
        """One framed request through the limits and the function."""
        event = build_event(method=method, target=target, headers=headers, body=body, source_ip=source_ip,
                            request_id=request_id, now=self.now())  # fmt: skip
        payload = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        if len(payload) > MAX_INVOKE_PAYLOAD:
            return _too_large(len(payload))
        try:
            status, answer = self.invoke(payload)
        except Throttled as exc:
            return error_reply(429, str(exc))
        except InvokeTimeout as exc:
            self.log(f"[apigw] {exc}")
            return error_reply(504, f"the function did not answer within its {self.timeout_s} s timeout")
        except LocalRuntimeError as exc:
            self.log(f"[apigw] {exc}")
            return error_reply(502, str(exc).splitlines()[0])
        return reply_from_invoke(status, answer, self.timeout_s)


    def observe_output(self, line: str) -> None:
        """A line the function printed: the handler's EMF documents feed /metrics (module doc)."""
        if self.metrics is not None:
            self.metrics.observe_output(line)

    def metrics_reply(self) -> HttpReply:
        """The answer to GET /metrics."""
        if self.metrics is None:
            return error_reply(501, "GET /metrics needs prometheus_client: pip install 'onnx-lambda-deployer[monitor]' "
                                    "(or pip install prometheus-client)")  # fmt: skip
        from deployer.monitor.prometheus import CONTENT_TYPE

        return HttpReply(200, [("Content-Type", CONTENT_TYPE)], self.metrics.exposition())

    def observe(self, path: str, reply: HttpReply, seconds: float) -> None:
        """One request answered (not /metrics): counters and a histogram, nothing heavier."""
        if self.metrics is not None:
            self.metrics.observe_request(path, reply.status, seconds, reply.body)


def _too_large(size: int) -> HttpReply:
    return error_reply(
        413,
        f"request payload of {size} bytes is over Lambda's limit of {MAX_INVOKE_PAYLOAD} bytes per invocation "
        "(the whole event counts; binary bodies grow by a third in base64): send a smaller batch",
    )


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer whose loop `stop` wakes at once (a pipe beside the listening socket).

    socketserver's `serve_forever` looks for `shutdown` only every poll interval: at 0.1 s a
    close took 25-80 ms (measured), a third of a one-shot `invoke`'s own time.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], gateway: Gateway) -> None:
        self.gateway = gateway
        self._stopping = False
        self._wake_r = self._wake_w = -1  # server_close runs on a failed bind too
        super().__init__(address, handler)
        self._wake_r, self._wake_w = os.pipe()

    def serve(self) -> None:
        """Accept and dispatch connections until `stop`."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self and not self._stopping:
                        self._handle_request_noblock()

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b"x")

    def server_close(self) -> None:
        super().server_close()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall start-up.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway offers
    disable_nagle_algorithm = True  # headers and body are two writes: without it, delayed ACKs add ~40 ms
    server: _Server
    raw_requestline: bytes  # set by http.server (declared so `__getattr__` below does not type it)

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.gateway.read_timeout_s)

    def handle_expect_100(self) -> bool:
        length = self._length()
        if isinstance(length, HttpReply) or length > MAX_INVOKE_PAYLOAD:
            self.close_connection = True  # the client holds its body back; refuse before it sends
            reply = length if isinstance(length, HttpReply) else _too_large(length)
            self._send(reply, self.server.gateway.request_id())
            self.server.gateway.log(f"[apigw] {self.command} {self.path} -> {reply.status} (refused before the body)")
            return False
        return super().handle_expect_100()

    def _length(self) -> int | HttpReply:
        """The body length, or the reply that refuses a body we cannot frame."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return error_reply(411, "chunked request bodies are not supported by the local gateway; send Content-Length")
        values = self.headers.get_all("Content-Length")
        if not values:
            if self.command in _BODY_METHODS:
                return error_reply(411, f"{self.command} needs a Content-Length header")
            return 0
        # Repeats of one value ("5, 5", or the header twice) frame the body the same way: accepted.
        counts = {part.strip() for value in values for part in value.split(",")}
        if len(counts) > 1:
            self.close_connection = True  # where this body ends is ambiguous: so is the next request
            shown = ", ".join(sorted(repr(count[:20]) for count in counts)[:4])
            return error_reply(400, f"conflicting Content-Length values ({shown}): send one")
        raw = counts.pop()
        if not (raw.isascii() and raw.isdigit()):
            self.close_connection = True
            return error_reply(400, f"Content-Length {raw[:40]!r} is not a byte count")
        if len(raw) > _MAX_DIGITS:
            self.close_connection = True
            return error_reply(413, f"a Content-Length of {len(raw)} digits is over Lambda's limit of "
                                    f"{MAX_INVOKE_PAYLOAD} bytes per invocation")  # fmt: skip
        return int(raw)

    def _handle(self) -> None:
        gateway = self.server.gateway
        started, request_id = gateway.clock(), gateway.request_id()
        scrape = (gateway.keeps_metrics and self.command in ("GET", "HEAD")
                  and self.path.split("?", 1)[0] == METRICS_PATH)  # fmt: skip
        try:
            if scrape and self._length() == 0:
                reply = gateway.metrics_reply()
            else:
                scrape = False
                reply = self._reply(request_id)
        except Exception:  # a bug of the gateway: the client still gets JSON, the log gets the traceback
            self.close_connection = True
            gateway.log("[apigw] " + traceback.format_exc().rstrip())
            reply = error_reply(500, "the local API Gateway failed on this request (a bug: see its log)")
        self._send(reply, request_id)
        elapsed = (gateway.clock() - started) * 1000.0
        if not scrape:
            try:
                gateway.observe(self.path, reply, elapsed / 1000.0)
            except Exception:  # metrics never cost an answer (it is sent already) nor the connection
                gateway.log("[apigw] metrics: " + traceback.format_exc().rstrip())
        gateway.log(f"[apigw] {self.command} {self.path} -> {reply.status} ({elapsed:.1f} ms)")

    def _reply(self, request_id: str) -> HttpReply:
        gateway = self.server.gateway
        length = self._length()
        if isinstance(length, HttpReply):
            return length
        if length > MAX_INVOKE_PAYLOAD:
            if length > _DISCARD_CAP or self._receive(length, keep=False) is None:
                self.close_connection = True
            return _too_large(length)
        body = self._receive(length, keep=True)
        if body is None:
            self.close_connection = True
            return error_reply(408, f"the request body did not arrive within {gateway.read_timeout_s:g} s")
        headers = list(self.headers.items())
        codings = self.headers.get_all("Content-Encoding")
        if codings:
            try:
                body = decode_body(body, codings, MAX_INVOKE_PAYLOAD)
            except BodyRefused as exc:
                return error_reply(exc.status, str(exc))
            headers = [(name, value) for name, value in headers if name.lower() != "content-encoding"]
        return gateway.answer(self.command, self.path, headers, body, self.client_address[0], request_id)

    def _not_allowed(self) -> None:
        """Methods API Gateway does not route: 405 naming the allowed ones (never read the body)."""
        self.close_connection = True
        reply = error_reply(405, f"method {self.command[:20]!r} is not allowed; allowed: {_ALLOWED}")
        self._send(HttpReply(reply.status, [*reply.headers, ("Allow", _ALLOWED)], reply.body),
                   self.server.gateway.request_id())  # fmt: skip
        self.server.gateway.log(f"[apigw] {self.command[:20]} {self.path[:200]} -> 405")

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server looks up `do_<METHOD>` and answers 501 HTML when there is none: answer 405 instead.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def parse_request(self) -> bool:
        words = self.raw_requestline.split()
        if len(words) == 2:
            # HTTP/0.9 ("GET /"): http.server would wait for headers that never come, then answer
            # without a status line. Refuse it at once, in HTTP/1.1, as every other error.
            self.command, self.request_version = words[0].decode("latin-1")[:20], "HTTP/1.1"
            self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
            self.send_error(505, "HTTP/0.9 is not supported: send HTTP/1.1")
            return False
        if not super().parse_request():
            return False
        # A line without a colon ends the email parser's headers early: those after it (a
        # Content-Length among them) would be dropped and their bytes read as the next request.
        # Folded lines ("obs-fold") are refused too, as RFC 9112 allows.
        if self.headers.defects or self.headers.get_payload() or any("\n" in v for v in self.headers.values()):
            self.send_error(400, "malformed header section: each header is one 'Name: value' line")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises while parsing (400, 414, 431, 505, ...), as JSON like every other."""
        short = self.responses.get(code, ("error", ""))[0]
        text = (message or short)[:200]  # messages quote the client's request line: keep them short
        if explain and explain not in text:
            text = f"{text}: {explain[:200]}"
        self.log_error("code %d, message %s", code, text)
        self.close_connection = True  # the request could not be framed: nothing after it can be trusted
        if self.request_version in ("HTTP/0.9", ""):
            self.request_version = "HTTP/1.1"  # set before the line was parsed: still answer with a status line
        self._send(error_reply(code, text), self.server.gateway.request_id())

    def _receive(self, length: int, keep: bool) -> bytes | None:
        """The body, or None when it did not all arrive within the read timeout.

        The deadline is for the whole body, not per read: a client trickling a byte at a time
        would otherwise hold its thread for as long as it likes.
        """
        gateway = self.server.gateway
        deadline = gateway.clock() + gateway.read_timeout_s
        chunks: list[bytes] = []
        try:
            while length > 0:
                left = deadline - gateway.clock()
                if left <= 0:
                    return None
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length, 1 << 16))
                if not chunk:
                    return None
                length -= len(chunk)
                if keep:
                    chunks.append(chunk)
        except TimeoutError:
            return None
        finally:
            self.connection.settimeout(gateway.read_timeout_s)
        return b"".join(chunks)

    def _send(self, reply: HttpReply, request_id: str) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("x-amzn-RequestId", request_id)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except OSError:  # the client left; nothing to answer
            self.close_connection = True

    def version_string(self) -> str:
        return "onnx-lambda-local-apigw"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # `_handle` logs each request once, with its duration

    def log_message(self, format: str, *args: object) -> None:
        message = format % args
        if not message.startswith("Request timed out"):  # an idle kept-alive connection closed: normal
            self.server.gateway.log("[apigw] " + message)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle
