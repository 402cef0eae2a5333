"""The local API Gateway: HTTP on 127.0.0.1 in front of one Lambda execution environment.

Each request is framed, checked against Lambda's limits, turned into a REST API proxy event
(`_events.build_event`), sent to the emulator, and the proxy response turned back into HTTP.
What the real service would refuse is refused here too, with a JSON `{"error": ...}`:

    411  no Content-Length on POST/PUT/PATCH, or a chunked body (the gateway needs the length)
    400  a Content-Length that is not a number
    413  an event over 6,291,456 bytes; the function is not invoked
    502  a function error, a crashed runtime, a malformed proxy response
    504  the function ran past its timeout; the environment is reset and the next request works
    408  a body that has not fully arrived within `read_timeout_s` (a slow client cannot pin a thread)

An oversized body is read and discarded (up to a cap) so the client can read the 413 on a
connection it is still writing to; beyond the cap the connection is closed. `Expect:
100-continue` (curl sends it for bodies over 1 MB) is answered with the 413 before any body.
Requests are handled on threads, but the emulator serializes invocations: one environment.
"""

from __future__ import annotations

import errno
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer

from deployer.errors import LocalRuntimeError
from deployer.local._emulator import InvokeTimeout
from deployer.local._events import MAX_INVOKE_PAYLOAD, HttpReply, build_event, error_reply, reply_from_invoke

__all__ = ["Gateway"]

HOST = "127.0.0.1"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DISCARD_CAP = 4 * MAX_INVOKE_PAYLOAD  # past this an oversized body is not drained, the connection is closed
Invoke = Callable[[bytes], tuple[int, bytes]]


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
    ) -> None:
        self.invoke, self.timeout_s, self.read_timeout_s = invoke, timeout_s, read_timeout_s
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
        self.port = int(self._server.server_address[1])
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"apigw-{self.port}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
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
        except InvokeTimeout as exc:
            self.log(f"[apigw] {exc}")
            return error_reply(504, f"the function did not answer within its {self.timeout_s} s timeout")
        except LocalRuntimeError as exc:
            self.log(f"[apigw] {exc}")
            return error_reply(502, str(exc).splitlines()[0])
        return reply_from_invoke(status, answer, self.timeout_s)


def _too_large(size: int) -> HttpReply:
    return error_reply(
        413,
        f"request payload of {size} bytes is over Lambda's limit of {MAX_INVOKE_PAYLOAD} bytes per invocation "
        "(the whole event counts; binary bodies grow by a third in base64): send a smaller batch",
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall start-up.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway offers
    disable_nagle_algorithm = True  # headers and body are two writes: without it, delayed ACKs add ~40 ms
    server: _Server

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
        raw = self.headers.get("Content-Length")
        if raw is None:
            if self.command in _BODY_METHODS:
                return error_reply(411, f"{self.command} needs a Content-Length header")
            return 0
        if not raw.strip().isdigit():
            self.close_connection = True
            return error_reply(400, f"Content-Length {raw!r} is not a byte count")
        return int(raw)

    def _handle(self) -> None:
        gateway = self.server.gateway
        started, request_id = gateway.clock(), gateway.request_id()
        length = self._length()
        if isinstance(length, HttpReply):
            reply = length
        elif length > MAX_INVOKE_PAYLOAD:
            if length > _DISCARD_CAP or self._receive(length, keep=False) is None:
                self.close_connection = True
            reply = _too_large(length)
        elif (body := self._receive(length, keep=True)) is None:
            self.close_connection = True
            reply = error_reply(408, f"the request body did not arrive within {gateway.read_timeout_s:g} s")
        else:
            reply = gateway.answer(self.command, self.path, list(self.headers.items()), body,
                                   self.client_address[0], request_id)  # fmt: skip
        self._send(reply, request_id)
        elapsed = (gateway.clock() - started) * 1000.0
        gateway.log(f"[apigw] {self.command} {self.path} -> {reply.status} ({elapsed:.1f} ms)")

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
