"""The README's path through the CLI, in one project folder: `build` → `template` → `sam build` →
`sam local invoke`, then `push` (issue 11 #4, #5).

What it proves:
- the template `template` writes carries the function's `Metadata`, so `sam build` builds the
  context `build` wrote (offline: the wheels are in the context), and `sam local invoke` runs
  that image without `--skip-pull-image` (no pull is needed: the tag is local);
- `template` says nothing about a missing context once `build` ran;
- `push` without image options uses the image `build` made (same base, same inputs: no
  `docker build`, the tag's image unchanged) instead of falling back to the files image.

The wheels come from the machine's own cache (the one `build` uses outside tests), so the test
does not download them again; the repository name is unique to the session.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from deployer.image.blobs import cache_root
from deployer.local.cloud import client
from tests.container.conftest import IRIS_MODEL
from tests.container.docker_helpers import docker
from tests.container.test_sam_local import FUNCTION, api_event, sam_env, sam_executable
from tests.functional.conftest import cli

pytestmark = pytest.mark.container


def test_build_template_sam_build_local_invoke_then_push(
    tmp_path: Path, standin_image: str, image_repository: Callable[[str], str]
) -> None:
    sam = sam_executable()
    project = tmp_path / "project"
    project.mkdir()
    env = {"ONNX_LAMBDA_IMAGE_REPOSITORY": image_repository("readme"), "ONNX_LAMBDA_CACHE_DIR": str(cache_root())}
    try:
        built = cli("build", str(IRIS_MODEL), "--base-image", standin_image, "--json", project=project, endpoint=None,
                    timeout=900, **env)  # fmt: skip
        assert built.code == 0, built.stderr
        image = built.json()
        assert image["context"] == str(project / "build" / "iris-x86_64")
        assert image["image"] == f"{env['ONNX_LAMBDA_IMAGE_REPOSITORY']}:{image['version']}-x86_64"

        written = cli("template", str(IRIS_MODEL), "--out", "template.yaml", "--no-check", "--json", project=project,
                      endpoint=None, **env)  # fmt: skip
        assert written.code == 0, written.stderr
        assert written.json()["warnings"] == []  # the context is there, for this version and architecture

        sam_environ = sam_env(project)

        def run_sam(*args: str) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run([sam, *args], cwd=project, env=sam_environ, capture_output=True, text=True,
                                  timeout=600, stdin=subprocess.DEVNULL)  # fmt: skip
            assert proc.returncode == 0, f"sam {args[0]}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            return proc

        built_by_sam = run_sam("build")
        output = built_by_sam.stdout + built_by_sam.stderr
        assert "Building image for ModelFunction function" in output and f"Successfully tagged {image['image']}" in output
        event, read = api_event("iris", "kserve")
        (project / "event.json").write_text(json.dumps(event), encoding="utf-8")
        invoked = run_sam("local", "invoke", FUNCTION, "--event", "event.json", "--container-host-interface", "127.0.0.1")
        answer = json.loads([line for line in invoked.stdout.splitlines() if line.startswith('{"statusCode"')][-1])
        assert answer["statusCode"] == 200, answer
        assert read(json.loads(answer["body"]))["label"].tolist() == [0, 2, 1]
        after_sam = docker("image", "inspect", "--format", "{{.Id}}", image["image"]).stdout.strip()

        pushed = cli("push", str(IRIS_MODEL), "--json", project=project, endpoint=None, timeout=900, **env)
        assert pushed.code == 0, pushed.stderr
        report = pushed.json()
        assert report["image_kind"] == "container" and report["image_source"] == f"docker image {image['image']}", report
        assert f"found {image['image']}, built by `build` for this model on {standin_image}" in pushed.stderr
        assert "is current (built from these same inputs): not built again" in pushed.stderr
        assert docker("image", "inspect", "--format", "{{.Id}}", image["image"]).stdout.strip() == after_sam
        assert report["smoke_test"]["status"] == "passed", report["smoke_test"]
    finally:
        client.stop(project)  # the image_repository fixture removes the images, SAM's rapid-* ones too; the
        cloud = f"onnx-lambda-cloud/{env['ONNX_LAMBDA_IMAGE_REPOSITORY']}"  # local cloud's tags of them go here
        tags = docker("image", "ls", cloud, "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
        if tags:
            docker("image", "rm", "--force", *tags, check=False)
