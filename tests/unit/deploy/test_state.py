"""The per-stack lock and journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployer.deploy.errors import ConcurrentPushError
from deployer.deploy.state import Journal, StackKey, StackLock

KEY = StackKey("onnx-iris", "us-east-1")


def test_a_second_push_is_refused_with_the_holder(tmp_path: Path) -> None:
    with StackLock(tmp_path, KEY):
        with pytest.raises(ConcurrentPushError, match=rf"another push to stack onnx-iris .*pid {os.getpid()}"):
            StackLock(tmp_path, KEY).acquire()
    StackLock(tmp_path, KEY).acquire()  # released: free again


def test_keys_of_other_regions_and_endpoints_do_not_collide(tmp_path: Path) -> None:
    with StackLock(tmp_path, KEY):
        with StackLock(tmp_path, StackKey("onnx-iris", "eu-west-1")):
            with StackLock(tmp_path, StackKey("onnx-iris", "us-east-1", "http://127.0.0.1:5000")):
                pass


def test_the_journal_says_when_a_push_did_not_finish(tmp_path: Path) -> None:
    journal = Journal(tmp_path, KEY)
    assert journal.interrupted() is None
    journal.write("executing", change_set="deployer-push-x")
    assert journal.interrupted() == {**journal.read(), "phase": "executing"}
    journal.write("done")
    assert journal.interrupted() is None
    assert journal.read()["change_set"] == "deployer-push-x"
