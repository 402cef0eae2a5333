"""Fixtures of the container tier: a Docker daemon, the stand-in Lambda base image, and
containers and test-only images that are always removed afterwards.

`standin_image` runs `infra/dockerd/start` (starts Debian's dockerd when none answers) and
`infra/standin-base/build` (builds the stand-in once; its tag is a hash of the recipe, so
later sessions reuse it) and yields the tag. Nothing is pulled from a registry.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.docker_helpers import (
    AWS_CREDENTIAL_VARS,
    DOCKERD_START,
    PROBE_FUNCTION,
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
