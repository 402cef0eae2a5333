"""EmulatorServer: its marker, one request at a time, on_change, reset, the daemon's own records, refusals."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deployer.errors import LocalRuntimeError
from deployer.local.cloud.emulator import MODELLED_TYPES, EmulatorServer
from deployer.local.cloud.emulator.journal import JournalError
from tests.functional.cloud.conftest import Cloud, client


def test_the_marker_says_who_answers(cloud: Cloud) -> None:
    with urllib.request.urlopen(cloud.url + "/_onnx-lambda/emulator", timeout=5) as answer:
        marker = json.loads(answer.read())
    assert marker == {"emulator": "onnx-lambda-deployer", "cloudformation_types": list(MODELLED_TYPES)}


def test_on_change_follows_mutations_not_reads(tmp_path: Path) -> None:
    calls: list[str] = []
    with EmulatorServer(state_dir=tmp_path, on_change=lambda: calls.append("changed")) as server:
        apigateway = client("apigateway", server.url)
        apigateway.get_rest_apis()
        assert calls == []
        apigateway.create_rest_api(name="a")
        assert calls == ["changed"]
        lam = client("lambda", server.url)
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName="nope")  # a 4xx is journaled too: moto may have changed something
        assert calls == ["changed", "changed"]


def test_a_request_waits_while_an_in_process_reader_holds_the_lock(cloud: Cloud) -> None:
    apigateway = cloud.client("apigateway")
    done = threading.Event()
    with cloud.server.lock:
        worker = threading.Thread(target=lambda: (apigateway.create_rest_api(name="a"), done.set()))
        worker.start()
        assert not done.wait(0.5)
    assert done.wait(10)
    worker.join()


def test_reset_forgets_the_journal_and_the_blobs_too(cloud: Cloud) -> None:
    ecr = cloud.client("ecr")
    ecr.create_repository(repositoryName="iris")
    upload_id = ecr.initiate_layer_upload(repositoryName="iris")["uploadId"]
    ecr.upload_layer_part(repositoryName="iris", uploadId=upload_id, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc")
    request = urllib.request.Request(cloud.url + "/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == {"status": "ok"}
    assert cloud.client("ecr").describe_repositories()["repositories"] == []
    assert list((cloud.state / "journal" / "uploads").iterdir()) == []
    cloud.restart()
    assert cloud.server.replay.records == 0
    assert cloud.client("ecr").describe_repositories()["repositories"] == []


def test_the_daemons_records_replay_in_order_between_requests_with_the_same_ids(tmp_path: Path) -> None:
    """record() after an in-process mutation made under the lock: the ids moto drew then are drawn again."""
    from moto.apigateway.models import apigateway_backends

    def make_api(data: dict[str, Any]) -> str:
        return str(apigateway_backends["123456789012"]["us-east-1"].create_rest_api(data["name"], "").id)

    made: list[str] = []
    with EmulatorServer(state_dir=tmp_path) as server:
        apigateway = client("apigateway", server.url)
        first = apigateway.create_rest_api(name="by-http")["id"]
        apigateway.get_rest_apis()  # reads in between do not move moto's generator
        with server.lock:
            made.append(make_api({"name": "by-daemon"}))
            server.record("api-made", {"name": "by-daemon"})
        last = apigateway.create_rest_api(name="by-http-again")["id"]

    replayed: list[str] = []
    again = EmulatorServer(state_dir=tmp_path)
    again.on_replay("api-made", lambda data: replayed.append(make_api(data)))
    with again:
        assert again.replay.records == 3 and again.replay.diverged == []
        assert replayed == made
        apis = {a["name"]: a["id"] for a in client("apigateway", again.url).get_rest_apis()["items"]}
        assert apis == {"by-http": first, "by-daemon": made[0], "by-http-again": last}


def test_a_record_nothing_replays_stops_the_start_clearly(tmp_path: Path) -> None:
    with EmulatorServer(state_dir=tmp_path) as server:
        server.record("traffic-shifted", {"alias": "live", "to": "3"})
    with pytest.raises(JournalError, match=r"on_replay\('traffic-shifted', \.\.\.\) before start"):
        EmulatorServer(state_dir=tmp_path).start()
    shifted: list[dict[str, Any]] = []
    server = EmulatorServer(state_dir=tmp_path)  # the refused start left no lock behind
    server.on_replay("traffic-shifted", shifted.append)
    with server:
        assert shifted == [{"alias": "live", "to": "3"}]


def test_two_servers_on_one_state_dir_and_a_port_in_use_are_refused(tmp_path: Path) -> None:
    with EmulatorServer(state_dir=tmp_path / "a") as server:
        with pytest.raises(LocalRuntimeError, match="already runs in this process"):
            EmulatorServer(state_dir=tmp_path / "b").start()
        port = int(server.url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            EmulatorServer(port=port).start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            EmulatorServer(port=busy.getsockname()[1], state_dir=tmp_path / "a").start()
    with EmulatorServer(state_dir=tmp_path / "a"):  # the failed start released the state dir
        pass
