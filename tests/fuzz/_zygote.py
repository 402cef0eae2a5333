"""A fork server for convert's checking subprocess, so that model fuzzing runs hundreds of models
a minute instead of tens.

`deployer.model.worker.Worker` starts `python -m deployer.model._worker` for every step; most of
each ~0.5 s goes to starting Python and importing onnx and onnxruntime. Here one server process
imports them once and forks a child per step; `Worker(argv=client_argv(socket))` runs a tiny
stdlib-only client instead of the worker. The client hands its stdin to the server, the forked
child runs the real `deployer.model._worker.main()` with that stdin and its stderr in a file, and
the client ends as the child did: same stderr, same exit code, or killed by the same signal. So
`Worker.call` sees a crash, an error reply or a time-out exactly as it would from a real child;
only the start-up cost is gone. FUZZ_REAL_WORKER=1 makes the fuzz tier use the real worker.

Each child gets an address-space limit and an alarm, so a mutated model that asks onnxruntime for
terabytes or loops forever fails that one child (MemoryError / SIGALRM), never the machine.

    python tests/fuzz/_zygote.py serve SOCKET     # the server (imports onnx, onnxruntime)
    python -S tests/fuzz/_zygote.py call SOCKET   # the client, what Worker runs
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path

__all__ = ["client_argv", "server_argv"]

HERE = Path(__file__).resolve()
CHILD_ADDRESS_SPACE = 6 * 1024**3  # bytes of virtual memory a checking child may map
CHILD_SECONDS = 120  # a step that takes longer is stopped with SIGALRM
_EXIT, _SIGNAL = 0, 1


def client_argv(sock: str) -> list[str]:
    return [sys.executable, "-S", str(HERE), "call", sock]


def server_argv(sock: str) -> list[str]:
    return [sys.executable, str(HERE), "serve", sock]


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = conn.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _send_block(conn: socket.socket, data: bytes) -> None:
    conn.sendall(struct.pack("<Q", len(data)) + data)


def _recv_block(conn: socket.socket) -> bytes:
    (size,) = struct.unpack("<Q", _recv_exact(conn, 8))
    return _recv_exact(conn, size)


def call(sock: str) -> None:
    """The client: stdin to the server, then end as the forked child ended."""
    request = sys.stdin.buffer.read()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(sock)
        _send_block(conn, request)
        how, code = struct.unpack("<ii", _recv_exact(conn, 8))
        stderr = _recv_block(conn)
    sys.stderr.buffer.write(stderr)
    sys.stderr.flush()
    if how == _SIGNAL:
        signal.signal(code, signal.SIG_DFL)
        os.kill(os.getpid(), code)
    sys.exit(code)


def _child(request: bytes, err_path: str) -> None:
    """In the forked child: the real worker's main() on this request; never returns."""
    code = 70
    try:
        import faulthandler
        import io
        import resource

        fd = os.open(err_path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8", errors="replace",
                                      line_buffering=True)
        faulthandler.enable(sys.stderr)
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(CHILD_SECONDS)
        sys.stdin = io.TextIOWrapper(io.BytesIO(request), encoding="utf-8")
        from deployer.model import _worker

        code = _worker.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(sock: str) -> None:
    import numpy  # noqa: F401  (imported once here, inherited by every child)
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    from deployer.model import _worker  # noqa: F401

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.path.exists(sock):
        os.unlink(sock)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock)
    server.listen(8)
    print("ready", flush=True)
    with tempfile.TemporaryDirectory(prefix="fuzz-zygote-") as tmp:
        err_path = os.path.join(tmp, "stderr")
        while True:
            conn, _ = server.accept()
            with conn:
                try:
                    request = _recv_block(conn)
                except ConnectionError:
                    continue
                open(err_path, "wb").close()
                pid = os.fork()
                if pid == 0:
                    server.close()
                    conn.close()
                    _child(request, err_path)
                _, status = os.waitpid(pid, 0)
                if os.WIFSIGNALED(status):
                    how, code = _SIGNAL, os.WTERMSIG(status)
                else:
                    how, code = _EXIT, os.WEXITSTATUS(status)
                with open(err_path, "rb") as fh:
                    stderr = fh.read()
                try:
                    conn.sendall(struct.pack("<ii", how, code))
                    _send_block(conn, stderr)
                except OSError:
                    pass  # the client was stopped (Worker's time-out); the next request goes on


if __name__ == "__main__":
    verb, path = sys.argv[1], sys.argv[2]
    if verb == "serve":
        serve(path)
    elif verb == "call":
        call(path)
    else:
        raise SystemExit(f"usage: {sys.argv[0]} serve|call SOCKET")
