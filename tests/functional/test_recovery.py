"""A second push while one runs is refused; an interrupted push leaves what the next one recovers from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deployer.deploy.state import Journal, StackKey, StackLock, state_dir
from tests.functional.conftest import boto, cli, cli_env, model_variant

PUSH = ("push", "--target", "aws", "--builder", "files", "--json")


def test_a_second_push_to_the_same_stack_is_refused(emulator: Any, project: Path, tmp_path: Path) -> None:
    key = StackKey("onnx-iris", "us-east-1", emulator.url)
    with StackLock(state_dir(project), key):  # what a running push holds
        run = cli(PUSH[0], str(model_variant(tmp_path, "one")), *PUSH[1:], project=project, endpoint=emulator.url)
    assert run.code == 7
    assert f"another push to stack onnx-iris in us-east-1 is running (pid {os.getpid()}" in run.json()["error"]
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("error: another push") and "Traceback" not in run.stderr
    assert not boto("cloudformation", emulator.url).list_stacks()["StackSummaries"]  # refused before any change


def test_leftovers_of_an_interrupted_push_are_cleaned_up(emulator: Any, project: Path, tmp_path: Path) -> None:
    # What a push killed right after creating its change set leaves: a stack in REVIEW_IN_PROGRESS
    # holding an unexecuted change set, and a journal in phase "change-set".
    cfn = boto("cloudformation", emulator.url)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    cfn.create_change_set(StackName="onnx-iris", ChangeSetName="deployer-push-20260101-000000-deadbeef",
                          ChangeSetType="CREATE", TemplateBody=json.dumps(template))  # fmt: skip
    Journal(state_dir(project), StackKey("onnx-iris", "us-east-1", emulator.url)).write("change-set")
    run = cli(PUSH[0], str(model_variant(tmp_path, "one")), *PUSH[1:], project=project, endpoint=emulator.url)
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["status"] == "CREATE_COMPLETE"
    recovered = " ".join(report["recovered"])
    assert "interrupted in phase 'change-set'" in recovered and "REVIEW_IN_PROGRESS" in recovered
    summaries = cfn.list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"] == ["CREATE_COMPLETE"]


def test_a_push_killed_midway_is_recovered_by_the_next(emulator: Any, project: Path, tmp_path: Path) -> None:
    model = model_variant(tmp_path, "one")
    assert cli(PUSH[0], str(model), *PUSH[1:], project=project, endpoint=emulator.url).code == 0
    changed = model_variant(tmp_path, "two")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployer", *PUSH[:1], str(changed), *PUSH[1:]], cwd=project,
        env=cli_env(project, emulator.url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # kill it once it has pushed the image and starts on the stack
        seen.append(line)
        if "[5/8] stack" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert any("[5/8] stack" in line for line in seen), "".join(seen)

    run = cli(PUSH[0], str(changed), *PUSH[1:], project=project, endpoint=emulator.url)
    assert run.code == 0, run.stderr
    report = run.json()
    assert report["status"] == "UPDATE_COMPLETE" and report["uploaded_bytes"] == 0  # the image went up before the kill
    assert any("interrupted" in note for note in report["recovered"])
    function = boto("lambda", emulator.url).get_function(FunctionName="onnx-iris")
    assert function["Code"]["ImageUri"] == report["image_uri"]
