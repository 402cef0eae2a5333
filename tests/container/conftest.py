"""Fixtures of the container tier: a Docker daemon, the stand-in Lambda base image, and
containers and test-only images that are always removed afterwards.

`standin_image` runs `infra/dockerd/start` (starts Debian's dockerd when none answers) and
`infra/standin-base/build` (builds the stand-in once; its tag is a hash of the recipe, so
later sessions reuse it) and yields the tag. Nothing is pulled from a registry.
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployer.config import DeployConfig, ImageConfig
from deployer.image import BuildResult
from deployer.image import build as build_image

from tests.container.docker_helpers import (
    AWS_CREDENTIAL_VARS,
    DOCKERD_START,
    PROBE_FUNCTION,
    REPO,
    STANDIN_BUILD,
    Containers,
    docker,
    run,
)

# The first build of the stand-in makes a Debian rootfs (about a minute here, 1.5 with the
# installs of docker.io and mmdebstrap); later ones find the tag and return at once.
BUILD_TIMEOUT_S = 900


@pytest.fixture(autouse=True)
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test of this tier can reach a real AWS account."""
    for name in AWS_CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    run([str(DOCKERD_START)], timeout=300)


@pytest.fixture(scope="session")
def standin_image(docker_daemon: None) -> str:
    """Tag of the stand-in Lambda Python base image (built on first use, then reused)."""
    proc = run([str(STANDIN_BUILD)], timeout=BUILD_TIMEOUT_S)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"infra/standin-base/build printed no tag\n{proc.stderr[-4000:]}"
    return lines[-1]


@pytest.fixture(scope="session")
def probe_image(standin_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A test-only function image: the stand-in plus probe_function/app.py, CMD app.handler.

    Built the way a real function image adds its code, so /var/task is part of the image's
    root file system (read-only at run time) rather than a bind mount. Removed afterwards.
    """
    context = tmp_path_factory.mktemp("probe-image")
    shutil.copyfile(PROBE_FUNCTION / "app.py", context / "app.py")
    (context / "app.py").chmod(0o644)
    (context / "Dockerfile").write_text(
        'ARG BASE\nFROM ${BASE}\nCOPY app.py ${LAMBDA_TASK_ROOT}/\nCMD ["app.handler"]\n',
        encoding="utf-8",
    )
    tag = f"onnx-lambda/test-probe:{uuid.uuid4().hex[:12]}"
    docker(
        "build", "--network", "none", "--force-rm", "--quiet",
        "--build-arg", f"BASE={standin_image}", "--tag", tag, str(context),
        timeout=300,
    )
    try:
        yield tag
    finally:
        docker("image", "rm", "--force", tag, check=False)


@pytest.fixture
def containers(docker_daemon: None) -> Iterator[Containers]:
    """Function containers for one test, removed when it ends, pass or fail."""
    started = Containers()
    try:
        yield started
    finally:
        started.remove_all()


# --------------------------------------------------------------------------- function images
# For tests/container/test_image*.py and test_sam_local*.py: images built by deployer.image on the
# stand-in base, once per session, under repository names unique to the session (other sessions
# may share the daemon), all removed at its end together with SAM's `rapid-*` images of them.

IRIS_MODEL = REPO / "examples" / "iris" / "model"
APIGW_REST_EVENT = REPO / "tests" / "events" / "apigw_rest.json"


@dataclass(frozen=True)
class FunctionImage:
    """An image made by `deployer.image.build` for one model, with the config that named it."""

    result: BuildResult
    model_dir: Path
    config: DeployConfig

    @property
    def tag(self) -> str:
        return self.result.image

    @property
    def name(self) -> str:
        return self.result.model


def build_function_image(
    model_dir: Path, repository: str, base_image: str, out_dir: Path, **options: Any
) -> FunctionImage:
    """deployer.image.build with a config whose image repository is `repository`."""
    config = DeployConfig(image=ImageConfig(repository=repository))
    result = build_image(model_dir, base_image=base_image, config=config, out_dir=out_dir, **options)
    return FunctionImage(result, model_dir, config)


@pytest.fixture(scope="session")
def image_repository(docker_daemon: None) -> Iterator[Callable[[str], str]]:
    """`image_repository("iris")` → a repository name of this session; removed at its end."""
    prefix = f"onnx-lambda-test/{uuid.uuid4().hex[:10]}"
    made: list[str] = []

    def name(model: str) -> str:
        repository = f"{prefix}-{model}"
        made.append(repository)
        return repository

    yield name
    for repository in made:
        listed = docker("image", "ls", repository, "--format", "{{.Repository}}:{{.Tag}}", check=False)
        tags = [line for line in listed.stdout.split() if line]
        if tags:
            docker("image", "rm", "--force", *tags, check=False, timeout=300)


@pytest.fixture(scope="session")
def iris_image(standin_image: str, image_repository: Callable[[str], str],
               tmp_path_factory: pytest.TempPathFactory) -> FunctionImage:  # fmt: skip
    """The bundled example (examples/iris/model) as a function image on the stand-in base."""
    out = tmp_path_factory.mktemp("iris-image")
    return build_function_image(IRIS_MODEL, image_repository("iris"), standin_image, out / "context")


@pytest.fixture(scope="session")
def mlp_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second model, not in the repository: a small MLP (x FP32 [N,3] → scores FP32 [N,2],
    best INT64 [N]) written with onnx.helper and converted by deployer.convert with its weights
    in an external data file (so the model layer carries model.onnx.data too)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from deployer.model import convert

    folder = tmp_path_factory.mktemp("mlp")
    rng = np.random.default_rng(20261127)
    hidden_w = rng.standard_normal((3, 256)).astype(np.float32)
    hidden_b = rng.standard_normal(256).astype(np.float32) * 0.1
    out_w = rng.standard_normal((256, 2)).astype(np.float32) * 0.1
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "hidden_w", "hidden_b"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["activated"]),
            helper.make_node("MatMul", ["activated", "out_w"], ["scores"]),
            helper.make_node("ArgMax", ["scores"], ["best"], axis=1, keepdims=0),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("best", TensorProto.INT64, ["N"]),
        ],
        [numpy_helper.from_array(hidden_w, "hidden_w"), numpy_helper.from_array(hidden_b, "hidden_b"),
         numpy_helper.from_array(out_w, "out_w")],  # fmt: skip
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    source = folder / "source.onnx"
    onnx.save(model, source)
    convert(source, out=folder / "model", name="mlp", external_data=True)
    return folder / "model"


@pytest.fixture(scope="session")
def mlp_image(standin_image: str, image_repository: Callable[[str], str], mlp_model_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> FunctionImage:  # fmt: skip
    out = tmp_path_factory.mktemp("mlp-image")
    return build_function_image(mlp_model_dir, image_repository("mlp"), standin_image, out / "context")


@pytest.fixture(scope="session")
def apigw_event() -> Callable[..., dict[str, Any]]:
    """`apigw_event("POST", "/v2/models/{name}/infer", "/v2/models/iris/infer", body)`: an API
    Gateway REST (payload 1.0) proxy event shaped like tests/events/apigw_rest.json."""
    template = json.loads(APIGW_REST_EVENT.read_text(encoding="utf-8"))

    def make(method: str, resource: str, path: str, body: Any = None, **path_parameters: str) -> dict[str, Any]:
        event = copy.deepcopy(template)
        event.update(
            resource=resource, path=path, httpMethod=method, pathParameters=path_parameters or None,
            body=None if body is None else json.dumps(body), isBase64Encoded=False,
        )  # fmt: skip
        context = event["requestContext"]
        context.update(resourcePath=resource, httpMethod=method, path=f"/{context['stage']}{path}")
        return event

    return make


@pytest.fixture(scope="session")
def reference_outputs() -> Callable[[Path, dict[str, Any]], dict[str, Any]]:
    """onnxruntime's own answer (on the host) for a model folder and named numpy inputs."""
    import onnxruntime as ort

    def run(model_dir: Path, inputs: dict[str, Any]) -> dict[str, Any]:
        session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))

    return run
