"""Lambda's scaling and memory limits, locally: environments up to the concurrency, 429 beyond,
the memory size enforced (Runtime.OutOfMemory → 502), the real peak in the REPORT line."""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
from typing import Any

import pytest

from deployer.errors import ConfigError
from deployer.local import LocalEndpoint
from tests.local.conftest import HERE, IRIS, TEST_HANDLER, Recorder

pytestmark = pytest.mark.local


def endpoint(**kwargs: Any) -> LocalEndpoint:
    return LocalEndpoint(IRIS, handler=TEST_HANDLER, code_root=HERE, **kwargs)


def emulators(ep: LocalEndpoint) -> int:
    """Running emulator processes (each has the runtime as a child once initialized)."""
    return sum(1 for env in ep._pool.environments() if env.pids())  # noqa: SLF001


def in_parallel(ep: LocalEndpoint, paths: list[str]) -> list[tuple[int, Any]]:
    """Each path on its own connection, all at once; (status, JSON body) in order."""
    start = threading.Barrier(len(paths))

    def one(path: str) -> tuple[int, Any]:
        import http.client
        import json

        conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=30)
        try:
            start.wait()
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(one, paths))


def test_one_environment_by_default_and_429_when_it_is_busy() -> None:
    with endpoint(timeout_s=5) as ep:
        assert ep.concurrency == 1
        assert ep.request("GET", "/warm").status == 200
        slow = threading.Thread(target=lambda: ep.request("GET", "/sleep?s=1"))
        slow.start()
        time.sleep(0.3)  # the slow invocation holds the one environment
        started = time.monotonic()
        response = _fresh(ep, "/echo")  # its own connection: `ep.request` would wait for the slow one's
        refused_in = time.monotonic() - started
        slow.join()
        status, headers, body = response
        assert status == 429
        assert headers["content-type"] == "application/json"
        assert body["error"].startswith("Rate Exceeded") and "concurrency limit is 1" in body["error"]
        assert refused_in < 0.5  # refused at once, not queued behind the slow one
        after = ep.request("GET", "/echo").json()
        assert after["invocations"] == 3  # warm, sleep, this one: the refused request never ran
        assert emulators(ep) == 1


def _fresh(ep: LocalEndpoint, path: str) -> tuple[int, dict[str, str], Any]:
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        conn.close()


def test_environments_start_on_demand_up_to_the_concurrency() -> None:
    with endpoint(timeout_s=5, concurrency=3) as ep:
        assert emulators(ep) == 1  # one at start; the others when needed
        answers = in_parallel(ep, ["/sleep?s=1"] * 3)
        assert [status for status, _ in answers] == [200, 200, 200]
        assert len({body["pid"] for _, body in answers}) == 3  # three execution environments
        assert emulators(ep) == 3
        answers = in_parallel(ep, ["/sleep?s=1"] * 4)
        assert sorted(status for status, _ in answers) == [200, 200, 200, 429]
        assert emulators(ep) == 3  # never more than the concurrency
        throttled = next(body for status, body in answers if status == 429)
        assert "concurrency limit is 3" in throttled["error"]


def test_an_environment_started_by_a_request_thread_outlives_it() -> None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: request threads end
    # with their connection, so environments must be forked by a thread that lives on.
    with endpoint(timeout_s=5, concurrency=2) as ep:
        first = {body["pid"] for _, body in in_parallel(ep, ["/sleep?s=0.5"] * 2)}
        time.sleep(0.5)  # the gateway's threads of those two connections have ended
        again = {body["pid"] for _, body in in_parallel(ep, ["/sleep?s=0.5"] * 2)}
        assert len(first) == 2 and again == first


@pytest.mark.parametrize("value", [0, -1, 10_001, True, 1.5, "2"])
def test_concurrency_is_checked(value: Any) -> None:
    with pytest.raises(ConfigError, match="not a reserved concurrency"):
        endpoint(concurrency=value)


def test_memory_size_is_enforced_as_lambda_does(output: Recorder) -> None:
    with endpoint(timeout_s=5, memory_mb=128, output=output) as ep:
        pid = ep.request("GET", "/alloc?mb=30").json()["pid"]  # well under 128 MB: fine
        started = time.monotonic()
        response = ep.request("GET", "/alloc?mb=200&hold=3")
        assert time.monotonic() - started < 2  # killed by the watcher while it held the memory, not after
        assert response.status == 502
        error = response.json()["error"]
        assert "Runtime.OutOfMemory" in error and "signal: killed" in error and "memory size is 128 MB" in error
        after = ep.request("GET", "/echo").json()
        assert after["pid"] != pid  # a fresh runtime, as Lambda starts a new environment
        # A spike that is over before the watcher looks: VmHWM keeps the peak, the invocation fails.
        spike = ep.request("GET", "/alloc?mb=200")
        assert spike.status == 502 and "Runtime.OutOfMemory" in spike.json()["error"]
        assert ep.request("GET", "/echo").status == 200
        time.sleep(0.2)
        assert any(line.startswith("[memory] the runtime") and "killed" in line for line in output.lines)
        reports = [line for line in output.lines if line.startswith("REPORT") and "Runtime.OutOfMemory" in line]
        assert len(reports) == 2 and all("Max Memory Used: 128 MB\tStatus: error" in line for line in reports)


def test_report_line_has_the_real_max_memory_used() -> None:
    lines: list[str] = []
    with endpoint(memory_mb=512, output=lines.append) as ep:
        ep.request("GET", "/echo")
        ep.request("GET", "/alloc?mb=80&keep=1")
        time.sleep(0.3)  # the REPORT line is printed after the answer
    used = [int(m.group(1)) for line in lines if (m := re.search(r"Max Memory Used: (\d+) MB", line))]
    assert len(used) >= 2, lines
    assert 5 < used[0] < 100  # the stdlib-only handler: far below the 512 MB the emulator would print
    assert used[1] >= used[0] + 80  # the 80 MB the second invocation wrote are in its peak
    assert all("Memory Size: 512 MB" in line for line in lines if line.startswith("REPORT"))
