"""Starting, failing to start, and stopping the local runtime: nothing is left behind."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.errors import ConfigError, DependencyError, LocalRuntimeError, ModelError
from deployer.local import LocalEndpoint, find_emulator_binary, serve
from deployer.local._emulator import Emulator, free_port
from deployer.local._lambda_env import lambda_environment
from deployer.local._process import OutputTail
from tests.local.conftest import HERE, IRIS, TEST_HANDLER

pytestmark = pytest.mark.local


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children() -> set[int]:
    ours = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
            if ppid == ours and alive(int(entry.name)):
                found.add(int(entry.name))
    return found


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def endpoint(**kwargs: object) -> LocalEndpoint:
    return LocalEndpoint(IRIS, handler=TEST_HANDLER, code_root=HERE, **kwargs)  # type: ignore[arg-type]


def test_close_leaves_no_process_behind() -> None:
    with endpoint() as first, endpoint() as second:  # two at once: each picks its own ports
        assert first.port != second.port
        assert first.request("GET", "/a").status == second.request("GET", "/b").status == 200
        pids = first.pids() + second.pids()
        runtimes = [p for p in pids if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[1:2] == [b"-c"]]
        assert len(runtimes) == 2
    assert not [pid for pid in pids if alive(pid)]


def test_model_paths_are_checked_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "model.pkl").write_bytes(b"pickle")
    cases = {tmp_path / "missing": "does not exist", tmp_path / "empty": "no model.onnx",
             tmp_path / "model.pkl": "not an ONNX model"}  # fmt: skip
    before = children()
    for path, why in cases.items():
        with pytest.raises(ModelError, match=why) as info:
            LocalEndpoint(path)
        assert str(path) in str(info.value)
    assert children() == before


def test_lambda_limits_are_checked() -> None:
    with pytest.raises(ConfigError, match="whole number of seconds"):
        endpoint(timeout_s=1.5)
    with pytest.raises(ConfigError, match="128 to 10240"):
        endpoint(memory_mb=64)


def test_port_in_use_is_named_and_nothing_starts(busy_port: int) -> None:
    before = children()
    with pytest.raises(LocalRuntimeError, match=f"port {busy_port} .* already in use"):
        endpoint(port=busy_port)
    assert children() == before


def test_emulator_port_taken_at_start_is_retried(busy_port: int) -> None:
    picks = iter([busy_port, free_port()])  # the first start meets a taken port, as in a race

    def ports() -> int:
        return next(picks, None) or free_port()

    tail = OutputTail()
    emulator = Emulator(handler=TEST_HANDLER, env=_env(), code_root=HERE, timeout_s=3, tail=tail, ports=ports)
    emulator.start()
    try:
        assert any("address already in use" in line for line in tail.lines())
        status, body = emulator.invoke(b'{"path": "/direct"}')
        assert status == 200 and b"statusCode" in body
    finally:
        emulator.close()


def test_emulator_dying_at_start_reports_its_last_output() -> None:
    def spawn(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        script = "print('starting'); print('[ERROR] no runtime for you'); raise SystemExit(7)"
        return subprocess.Popen([sys.executable, "-c", script], **kwargs)  # type: ignore[call-overload, no-any-return]

    emulator = Emulator(handler=TEST_HANDLER, env=_env(), code_root=HERE, timeout_s=3, tail=OutputTail(), spawn=spawn)
    with pytest.raises(LocalRuntimeError, match=r"exited at start \(code 7\)") as info:
        emulator.start()
    assert "no runtime for you" in str(info.value)


def test_missing_emulator_names_the_fix() -> None:
    with pytest.raises(DependencyError, match=r"pip install 'onnx-lambda-deployer\[local\]'"):
        find_emulator_binary(find_spec=lambda name: None)
    with pytest.raises(DependencyError, match="x86_64 and arm64"):
        find_emulator_binary(machine="riscv64")
    with pytest.raises(DependencyError, match="Linux"):
        find_emulator_binary(system="Darwin")
    assert find_emulator_binary(machine="aarch64").name == "aws-lambda-rie-arm64"


def test_credentials_of_the_host_never_reach_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOSTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "host-token")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    with endpoint(env={"LOCAL_TEST_EXTRA": "yes"}) as ep:
        env = ep.request("GET", "/env").json()["env"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        assert not env[name], name  # the emulator sets them, empty, as it found none
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["LOCAL_TEST_EXTRA"] == "yes"


def test_slow_client_gets_408_and_does_not_block_others() -> None:
    with endpoint(read_timeout_s=0.3) as ep:
        with socket.create_connection(("127.0.0.1", ep.port), timeout=5) as slow:
            slow.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"partial")
            assert ep.request("GET", "/meanwhile").status == 200
            answer = slow.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408")
        # A body trickled a byte at a time is timed as a whole, not per read.
        with socket.create_connection(("127.0.0.1", ep.port), timeout=5) as trickle:
            trickle.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            started = time.monotonic()
            for _ in range(75):  # a byte every 20 ms: each read is quick, the body never completes
                if select.select([trickle], [], [], 0.02)[0]:
                    break
                try:
                    trickle.send(b"x")
                except ConnectionError:
                    break
            assert trickle.recv(65536).startswith(b"HTTP/1.1 408")
            assert time.monotonic() - started < 1.5


def test_serve_blocks_until_stopped_then_frees_the_port() -> None:
    stop, urls, lines = threading.Event(), list[str](), list[str]()

    def run() -> None:
        serve(IRIS, port=0, handler=TEST_HANDLER, code_root=HERE, ready=urls.append, output=lines.append, stop=stop)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        for _ in range(200):
            if urls:
                break
            threading.Event().wait(0.05)
        import urllib.request

        with urllib.request.urlopen(urls[0] + "/served") as response:
            assert response.status == 200
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    port = int(urls[0].rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT: is anyone listening?
        sock.bind(("127.0.0.1", port))
        sock.listen()
    assert any("/served -> 200" in line for line in lines)


def _env() -> dict[str, str]:
    return lambda_environment(model=IRIS, handler=TEST_HANDLER, code_root=HERE, timeout_s=3, memory_mb=512)


def test_close_during_an_invocation_ends_it_promptly() -> None:
    ep = endpoint(timeout_s=30)
    answers: list[int | str] = []

    def slow() -> None:
        try:
            answers.append(ep.request("GET", "/sleep?s=20").status)
        except LocalRuntimeError as exc:
            answers.append(str(exc))

    assert ep.request("GET", "/warm").status == 200
    pids = ep.pids()
    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)  # let the invocation start
    started = time.monotonic()
    ep.close()
    thread.join(10)
    assert time.monotonic() - started < 5
    assert answers and answers[0] != 200
    assert not [pid for pid in pids if alive(pid)]


def test_public_surface() -> None:
    import deployer.local

    assert sorted(deployer.local.__all__) == sorted([
        "Gateway",
        "LocalEndpoint", "LocalResponse", "serve", "validate_model", "find_emulator_binary", "find_code_root",
        "MAX_INVOKE_PAYLOAD", "Throttled",
    ])  # fmt: skip
