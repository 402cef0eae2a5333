"""`push --image TAG`: a local Docker image's layers go to ECR, and only those the registry lacks.

Needs a Docker daemon (skipped without one; the container tier starts one). The images are
tiny and built FROM scratch here, so no base image and no registry are involved.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.conftest import ROOT, cli, model_variant

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # no SDK, no daemon: the tier that needs Docker starts one
        pytest.skip(f"no Docker daemon answers: {exc}")
    tags: list[str] = []
    client.test_tags = tags  # type: ignore[attr-defined]
    yield client
    for tag in tags:
        try:
            client.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - best-effort cleanup of test-only images
            pass


def build(client: Any, context: Path, model: Path, tag: str) -> str:
    """FROM scratch: the handler code layer, then the model layer (deterministic content)."""
    shutil.copytree(ROOT / "functions", context / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(model, context / "model")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY functions /var/task/functions\nCOPY model /opt/model\n")
    client.images.build(path=str(context), tag=tag, rm=True)
    client.test_tags.append(tag)
    return tag


def test_only_the_missing_layers_of_a_docker_image_are_uploaded(docker_client: Any, emulator: Any, project: Path,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    one = build(docker_client, tmp_path / "one", model_variant(tmp_path, "one"), "onnx-lambda-test/push:one")
    first = cli("push", str(model_variant(tmp_path, "one")), "--target", "aws", "--image", one, "--json",
                project=project, endpoint=emulator.url)  # fmt: skip
    assert first.code == 0, first.stderr
    report = first.json()
    assert report["image_kind"] == "container" and len(report["layers"]) == 2
    assert report["uploaded_bytes"] == sum(layer["size"] for layer in report["layers"])

    again = cli("push", str(model_variant(tmp_path, "one")), "--target", "aws", "--image", one, "--json",
                project=project, endpoint=emulator.url)  # fmt: skip
    assert again.code == 0 and again.json()["uploaded_bytes"] == 0 and again.json()["changed"] is False

    two = build(docker_client, tmp_path / "two", model_variant(tmp_path, "two"), "onnx-lambda-test/push:two")
    second = cli("push", str(model_variant(tmp_path, "two")), "--target", "aws", "--image", two, "--json",
                 project=project, endpoint=emulator.url)  # fmt: skip
    assert second.code == 0, second.stderr
    update = second.json()
    code_layer, model_layer = update["layers"]
    assert code_layer["digest"] == report["layers"][0]["digest"] and not code_layer["uploaded"]
    assert update["uploaded_layers"] == [model_layer["digest"]] and update["uploaded_bytes"] == model_layer["size"]
