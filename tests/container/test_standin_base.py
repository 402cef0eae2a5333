"""The stand-in base image behaves like the AWS Lambda Python base image.

What a function image relies on: the layout and variables of the official image, the
entrypoint's two modes (the emulator in front when no runtime API is given; the runtime
client alone when one is, as in Lambda and under `sam local`), and Lambda's sandbox: a
non-root user, a read-only root file system and a writable /tmp.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.container.docker_helpers import STANDIN_BUILD, Containers, docker, run

pytestmark = pytest.mark.container

# Lambda's sandbox, as far as Docker can show it.
LAMBDA_LIKE = ("--user", "1000:1000", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL")


def image_config(image: str) -> dict[str, Any]:
    return json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)


def image_python(image: str) -> str:
    return str(image_config(image)["Labels"]["onnx-lambda.standin.python"])


def test_image_has_the_lambda_layout(standin_image: str) -> None:
    config = image_config(standin_image)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["PATH"].split(":")[0] == "/var/lang/bin"
    assert config["WorkingDir"] == "/var/task"
    assert config["Entrypoint"] == ["/lambda-entrypoint.sh"]

    # The C extension of awslambdaric is imported on purpose: when it cannot load (a missing
    # libstdc++), the client still imports and only fails at the first invoke.
    probe = (
        "import sys, awslambdaric, runtime_client; "
        "print(sys.version_info[0], sys.version_info[1], sys.prefix, awslambdaric.__version__)"
    )
    proc = docker(
        "run", "--rm", "--network", "none", "--read-only", "--user", "1000:1000",
        "--entrypoint", "/var/lang/bin/python3", "--env", "PYTHONPATH=/var/runtime",
        standin_image, "-c", probe,
    )
    major, minor, prefix, ric_version = proc.stdout.split()
    assert f"{major}.{minor}" == image_python(standin_image)
    assert prefix == "/var/lang"
    assert ric_version
    docker("run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/test", standin_image,
           "-x", "/usr/local/bin/aws-lambda-rie")


def test_invoke_through_the_emulator_in_a_lambda_like_sandbox(
    containers: Containers, probe_image: str, standin_image: str
) -> None:
    function = containers.run_function(probe_image, *LAMBDA_LIKE)

    first = function.invoke({"numbers": [1, 2, 3.5]})
    assert first["sum"] == 6.5
    assert first["python"].startswith(image_python(standin_image) + ".")
    assert first["executable"].startswith("/var/lang/bin/python")
    assert (first["uid"], first["gid"]) == (1000, 1000)
    assert first["cwd"] == first["task_root"] == "/var/task"
    assert first["runtime_dir"] == "/var/runtime"
    assert first["handler_file"] == "/var/task/app.py"
    assert first["write_tmp"] == "ok"
    assert first["write_task_root"] == "EROFS"

    # The same (warm) runtime answers the next invoke with a new request id.
    second = function.invoke({"numbers": [10, -4]})
    assert second["sum"] == 6
    assert second["request_id"] != first["request_id"]


def test_entrypoint_runs_the_client_alone_when_a_runtime_api_is_given(
    containers: Containers, probe_image: str
) -> None:
    # As `sam local` runs a function image: its own emulator as the entrypoint, with the
    # image's entrypoint and CMD as the bootstrap. The emulator sets AWS_LAMBDA_RUNTIME_API,
    # so /lambda-entrypoint.sh must exec the runtime client, not a second emulator.
    function = containers.run_function(
        probe_image, *LAMBDA_LIKE, "--entrypoint", "/usr/local/bin/aws-lambda-rie",
        command=("/lambda-entrypoint.sh", "app.handler"),
    )
    answer = function.invoke({"numbers": [2, 2]})
    assert answer["sum"] == 4
    top = docker("top", function.container_id, "-o", "pid,args").stdout
    assert top.count("aws-lambda-rie") == 1, top
    assert "awslambdaric app.handler" in top, top


def test_entrypoint_without_a_handler_fails_like_the_official_one(standin_image: str) -> None:
    proc = docker("run", "--rm", "--network", "none", standin_image, check=False)
    assert proc.returncode == 142
    assert "handler" in proc.stderr


def test_build_reuses_the_image_by_its_recipe_hash(standin_image: str) -> None:
    started = time.monotonic()
    proc = run([str(STANDIN_BUILD)], timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == standin_image
    assert "nothing to build" in proc.stderr
    assert time.monotonic() - started < 30
