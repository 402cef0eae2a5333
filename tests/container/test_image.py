"""The function image made by deployer.image: layers, reproducibility, contents, answers.

Acceptance checks of `python -m deployer build`, against the real daemon and the stand-in base:
- layer order: the base's layers, then dependencies → model → code;
- a rebuild from nothing (image removed, Docker's cache off, a fresh host cache: wheels
  downloaded and installed again) reproduces every digest; another model changes exactly one;
- no wheels, pip caches, console scripts, boto3 or credentials in the image's file system;
- served in Lambda's sandbox (uid 1000, read-only root, writable /tmp) through the Runtime
  Interface Emulator, it answers what onnxruntime answers on the host;
- an arm64 image builds on this x86_64 daemon without emulation (no RUN step);
- missing base image, wrong architecture, no daemon: one clear error each.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deployer.errors import ConfigError, LocalRuntimeError
from deployer.image import DockerCLI
from deployer.image import build as build_image
from tests.container.conftest import IRIS_MODEL, FunctionImage, build_function_image
from tests.container.docker_helpers import Containers, docker, subprocess_env

pytestmark = pytest.mark.container

LAMBDA_LIKE = ("--user", "1000:1000", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL")
IRIS_ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)


def inspect(tag: str) -> dict[str, Any]:
    return dict(json.loads(docker("image", "inspect", "--format", "{{json .}}", tag).stdout))


def image_files(tag: str) -> list[str]:
    """Every path in the image's file system (`docker create` + `docker export | tar -t`)."""
    container = docker("create", tag).stdout.strip()
    try:
        export = subprocess.run(
            ["docker", "export", container], env=subprocess_env(), capture_output=True, timeout=300, check=True
        )
    finally:
        docker("rm", "--force", container, check=False)
    with tarfile.open(fileobj=io.BytesIO(export.stdout)) as archive:
        return ["/" + name.lstrip("./") for name in archive.getnames()]


def test_layers_are_the_base_then_dependencies_model_code(iris_image: FunctionImage, standin_image: str) -> None:
    result = iris_image.result
    image = inspect(result.image)
    base_layers = inspect(standin_image)["RootFS"]["Layers"]
    assert list(result.digests) == image["RootFS"]["Layers"]
    assert list(result.digests[: len(base_layers)]) == base_layers
    assert [layer.role for layer in result.layers] == ["base"] * len(base_layers) + ["dependencies", "model", "code"]
    assert image["Config"]["Cmd"] == ["functions.app.handler"]
    env = dict(item.split("=", 1) for item in image["Config"]["Env"])
    assert env["MODEL_PATH"] == "/opt/model"
    assert env["ORT_DISABLE_TELEMETRY"] == "1"  # no upload from the function, no device-id file

    summary = result.summary()
    assert summary["image"] == result.image == f"{iris_image.config.image.repository}:{result.version}-x86_64"
    assert summary["layers"] == image["RootFS"]["Layers"]
    assert summary["size_bytes"] == image["Size"] > 0
    for detail in summary["layer_details"]:
        assert detail["size_bytes"] is not None and detail["holds"]
    deps, model, code = (result.layer(role) for role in ("dependencies", "model", "code"))
    assert "onnxruntime==" in deps.holds and "numpy==" in deps.holds
    assert model.holds.startswith("model iris ") and "model.onnx" in model.holds
    assert model.size_bytes is not None and 0 < model.size_bytes < 100_000
    assert deps.size_bytes is not None and deps.size_bytes > 50_000_000
    assert result.byte_compiled
    print(json.dumps({"seconds": summary["seconds"], "size_bytes": summary["size_bytes"],
                      "layers": [(d["role"], d["size_bytes"]) for d in summary["layer_details"]]}))  # fmt: skip

    dockerfile = result.dockerfile.read_text(encoding="utf-8")
    assert not re.search(r"^RUN\b", dockerfile, re.MULTILINE), "a RUN step would need emulation for arm64"
    copies = re.findall(r"^COPY (\S+) /$", dockerfile, re.MULTILINE)
    assert copies == ["layers/1-dependencies/", "layers/2-model/", "layers/3-code/"]


def test_a_new_model_changes_exactly_one_layer(iris_image: FunctionImage, mlp_image: FunctionImage) -> None:
    iris, mlp = iris_image.result, mlp_image.result
    changed = [index for index, (a, b) in enumerate(zip(iris.digests, mlp.digests)) if a != b]
    assert len(iris.digests) == len(mlp.digests)
    assert [iris.layers[index].role for index in changed] == ["model"]
    assert "model.onnx.data" in mlp.layer("model").holds  # external weights travel with the model


def test_a_rebuild_from_nothing_reproduces_every_digest(
    iris_image: FunctionImage, standin_image: str, tmp_path: Path
) -> None:
    """Image removed, Docker's build cache off, an empty host cache (pip downloads, installs and
    byte-compiles again), another context folder: the same bytes in every layer."""
    before = iris_image.result
    docker("image", "rm", before.image)
    try:
        again = build_function_image(
            IRIS_MODEL, str(iris_image.config.image.repository), standin_image, tmp_path / "context",
            cache_dir=tmp_path / "cache", no_cache=True,
        )  # fmt: skip
        assert again.result.cached == {"wheels": False, "dependencies": False}
        assert again.result.digests == before.digests
        assert again.result.image == before.image
    finally:  # ~350 MB of wheels and trees
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        shutil.rmtree(tmp_path / "context", ignore_errors=True)


def test_the_image_holds_no_wheels_caches_tools_or_credentials(iris_image: FunctionImage, standin_image: str) -> None:
    files = image_files(iris_image.tag)
    # What our three layers added (the base's own files, e.g. Debian's ensurepip wheels in
    # /usr/share/python-wheels, are the base image's business).
    added = sorted(set(files) - set(image_files(standin_image)))
    assert not [path for path in added if not path.startswith(("/var/task/", "/opt/model"))]
    assert "/var/task/functions/app.py" in added and "/opt/model/model.onnx" in added
    assert "/var/task/onnxruntime/__init__.py" in added and "/var/task/numpy/__init__.py" in added
    assert not [path for path in added if path.endswith((".whl", ".tar.gz", ".zip"))]
    assert not [path for path in files if re.search(r"/\.cache/pip(/|$)|/pip-(req|build|unpack|install)-", path)]
    assert not [path for path in added if re.search(r"^/var/task/(pip|setuptools|wheel)(/|-\d)", path)]
    assert not [path for path in added if path.startswith(("/var/task/bin/", "/var/task/boto3", "/var/task/botocore"))]
    assert not [path for path in added if "/tests/" in path]
    assert sorted(p for p in added if p.startswith("/opt/model/") and not p.endswith("/")) == [
        "/opt/model/manifest.json", "/opt/model/model.onnx",
    ]  # fmt: skip (no __pycache__ or anything else in the model layer)
    secrets = re.compile(r"/\.aws/|/\.docker/config\.json$|/\.netrc$|/\.pypirc$|/\.ssh/|/id_(rsa|ed25519)$|/pip\.conf$")
    assert not [path for path in files if secrets.search(path)]
    # byte code next to the sources (Lambda's read-only file system could never cache it)
    assert "/var/task/functions/__pycache__/app.cpython-313.pyc" in added
    assert any(p.startswith("/var/task/numpy/__pycache__/") for p in added)
    env = inspect(iris_image.tag)["Config"]["Env"]
    assert not [item for item in env if re.match(r"AWS_(ACCESS|SECRET|SESSION)", item)]


@pytest.fixture
def served(containers: Containers) -> Callable[[FunctionImage], Any]:
    """Starts an image in Lambda's sandbox (as far as Docker shows it), removed after the test."""

    def start(image: FunctionImage) -> Any:
        return containers.run_function(image.tag, *LAMBDA_LIKE)

    return start


def test_served_answers_equal_onnxruntime_in_a_lambda_like_sandbox(
    served: Callable[[FunctionImage], Any],
    iris_image: FunctionImage,
    apigw_event: Callable[..., dict[str, Any]],
    reference_outputs: Callable[[Path, dict[str, Any]], dict[str, Any]],
) -> None:
    function = served(iris_image)
    expected = reference_outputs(iris_image.model_dir, {"X": IRIS_ROWS})

    body = {"inputs": [{"name": "X", "datatype": "FP32", "shape": list(IRIS_ROWS.shape), "data": IRIS_ROWS.ravel().tolist()}]}
    answer = function.invoke(apigw_event("POST", "/v2/models/{name}/infer", "/v2/models/iris/infer", body, name="iris"))
    assert answer["statusCode"] == 200, answer
    outputs = {o["name"]: o for o in json.loads(answer["body"])["outputs"]}
    assert outputs["label"]["data"] == expected["label"].tolist()
    assert outputs["probabilities"]["shape"] == [3, 3]
    np.testing.assert_allclose(np.array(outputs["probabilities"]["data"]).reshape(3, 3), expected["probabilities"], rtol=1e-6, atol=1e-7)

    body = {"instances": IRIS_ROWS.tolist()}
    answer = function.invoke(apigw_event("POST", "/v1/models/{name}", "/v1/models/iris:predict", body, name="iris:predict"))
    assert answer["statusCode"] == 200, answer
    predictions = json.loads(answer["body"])["predictions"]
    assert [row["label"] for row in predictions] == expected["label"].tolist()
    np.testing.assert_allclose([row["probabilities"] for row in predictions], expected["probabilities"], rtol=1e-6, atol=1e-7)
    assert function.running()
    logs = function.logs()
    assert "model loaded" in logs and "telemetry" not in logs.lower()


def test_the_second_model_with_external_weights_is_served(
    served: Callable[[FunctionImage], Any],
    mlp_image: FunctionImage,
    apigw_event: Callable[..., dict[str, Any]],
    reference_outputs: Callable[[Path, dict[str, Any]], dict[str, Any]],
) -> None:
    rows = np.array([[0.1, -2.0, 3.5], [1.0, 1.0, 1.0]], dtype=np.float32)
    expected = reference_outputs(mlp_image.model_dir, {"x": rows})
    answer = served(mlp_image).invoke(
        apigw_event("POST", "/v1/models/{name}", "/v1/models/mlp:predict", {"instances": rows.tolist()}, name="mlp:predict")
    )
    assert answer["statusCode"] == 200, answer
    predictions = json.loads(answer["body"])["predictions"]
    assert [row["best"] for row in predictions] == expected["best"].tolist()
    np.testing.assert_allclose([row["scores"] for row in predictions], expected["scores"], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- arm64 without emulation


@pytest.fixture(scope="module")
def arm64_base(docker_daemon: None) -> Iterator[str]:
    """An empty linux/arm64 "base" (just /var/task and /opt, and the stand-in's Python label),
    written as a `docker save` archive and loaded: no arm64 image can be pulled here, and this
    one only has to be a FROM for a build that runs nothing."""
    tag = f"onnx-lambda-test/arm64-base-{uuid.uuid4().hex[:10]}:1"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in ("opt", "var", "var/task"):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, 315532800
            archive.addfile(entry)
    layer_bytes = layer.getvalue()
    config = json.dumps({
        "architecture": "arm64", "os": "linux", "created": "1980-01-01T00:00:00Z",
        "config": {"Labels": {"onnx-lambda.standin.python": "3.13"}, "WorkingDir": "/var/task",
                   "Env": ["LAMBDA_TASK_ROOT=/var/task"], "Entrypoint": ["/lambda-entrypoint.sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]},
        "history": [{"created": "1980-01-01T00:00:00Z", "created_by": "tests: empty arm64 base"}],
    }).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    archive_bytes = io.BytesIO()
    with tarfile.open(fileobj=archive_bytes, mode="w") as archive:
        for name, data in ((config_name, config), ("layer/layer.tar", layer_bytes), ("manifest.json", manifest)):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    subprocess.run(["docker", "load", "--quiet"], input=archive_bytes.getvalue(), env=subprocess_env(),
                   capture_output=True, check=True, timeout=120)  # fmt: skip
    try:
        yield tag
    finally:
        docker("image", "rm", "--force", tag, check=False)


def test_an_arm64_image_builds_here_without_emulation(arm64_base: str, iris_image: FunctionImage, tmp_path: Path) -> None:
    """In the x86_64 image's repository: the arm64 build gets its own tag and replaces nothing."""
    before = inspect(iris_image.tag)["Id"]  # now: earlier tests of this session may have rebuilt the tag
    built = build_function_image(IRIS_MODEL, str(iris_image.config.image.repository), arm64_base, tmp_path / "context",
                                 arch="arm64")  # fmt: skip
    result = built.result
    assert result.image == iris_image.tag.replace("-x86_64", "-arm64") != iris_image.tag
    assert inspect(result.image)["Architecture"] == "arm64"
    assert inspect(iris_image.tag)["Id"] == before  # the x86_64 image is still there
    assert result.wheel_platforms == ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
    assert [layer.role for layer in result.layers] == ["base", "dependencies", "model", "code"]
    extensions = sorted((result.context / "layers/1-dependencies/var/task/onnxruntime/capi").glob("*.so"))
    assert extensions
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183, extension  # EM_AARCH64
    if not result.byte_compiled:
        assert any("no byte code" in note for note in result.notes)


# --------------------------------------------------------------------------- errors


def test_a_missing_base_image_says_how_to_get_one(tmp_path: Path, docker_daemon: None) -> None:
    with pytest.raises(LocalRuntimeError) as caught:
        build_image(IRIS_MODEL, base_image=f"onnx-lambda-test/no-such-base:{uuid.uuid4().hex[:8]}", out_dir=tmp_path)
    message = str(caught.value)
    assert "cannot be pulled here" in message and "infra/standin-base/build" in message
    assert "\n" not in message


def test_a_base_of_another_architecture_is_refused(standin_image: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="linux/amd64.*arm64"):
        build_image(IRIS_MODEL, arch="arm64", base_image=standin_image, out_dir=tmp_path)


def test_no_daemon_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    docker_cli = DockerCLI(environ={**subprocess_env(), "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    with pytest.raises(LocalRuntimeError) as caught:
        build_image(IRIS_MODEL, out_dir=tmp_path / "out", docker=docker_cli)
    assert "infra/dockerd/start" in str(caught.value) and "\n" not in str(caught.value)
