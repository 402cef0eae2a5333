"""`deployer.image.build` with a fake daemon and a fake pip: the stages, the result, the errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from deployer.config import DeployConfig, ImageConfig
from deployer.errors import ConfigError, DependencyError, LocalRuntimeError, ModelError
from deployer.image import DockerCLI, Mount, Pip, base_python, build

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model"
BASE = "onnx-lambda/standin-python:3.13-test"
BASE_LAYERS = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
VERSION = json.loads((EXAMPLE / "manifest.json").read_text())["version"]


def completed(args: Sequence[str], code: int = 0, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(list(args), code, stdout, stderr)


class FakeDocker:
    """A daemon holding one base image; builds record their context and make three layers."""

    def __init__(self, *, base_arch: str = "amd64", daemon_arch: str = "x86_64", labels: dict[str, str] | None = None,
                 base_ref: str = BASE, compile_fails: bool = False) -> None:  # fmt: skip
        self.compile_fails = compile_fails
        self.images: dict[str, dict[str, Any]] = {
            base_ref: {"Id": "sha256:base", "Architecture": base_arch, "RepoTags": [base_ref],
                       "Config": {"Labels": {"onnx-lambda.standin.python": "3.13"} if labels is None else labels},
                       "RootFS": {"Layers": list(BASE_LAYERS)}, "Size": 100},  # fmt: skip
        }
        self.daemon_arch = daemon_arch
        self.runs: list[tuple[str, list[str], list[Mount]]] = []
        self.builds: list[dict[str, Any]] = []
        self.removed: list[str] = []
        self.pulls: list[str] = []

    def info(self) -> dict[str, Any]:
        return {"ServerVersion": "20.10", "Architecture": self.daemon_arch}

    def inspect_image(self, ref: str) -> dict[str, Any] | None:
        return self.images.get(ref)

    def pull(self, ref: str) -> str | None:
        self.pulls.append(ref)
        return "dial tcp: lookup public.ecr.aws: no such host"

    def run(self, image: str, args: Sequence[str], *, entrypoint: str, mounts: Sequence[Mount] = (),
            user: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
        self.runs.append((image, list(args), list(mounts)))
        if "compileall" in args:
            if self.compile_fails:
                return completed(args, 125, "", "docker: Error response from daemon: invalid mount config: bind source path does not exist")
            for mount in mounts:
                for source in mount.source.rglob("*.py"):
                    cache = source.parent / "__pycache__"
                    cache.mkdir(exist_ok=True)
                    (cache / f"{source.stem}.cpython-313.pyc").write_bytes(b"pyc")
            return completed(args)
        return completed(args, stdout="3.13\n")

    def build(self, context: Path, *, tag: str, dockerfile: Path, no_cache: bool = False,
              output: Callable[[str], None] | None = None) -> str:  # fmt: skip
        files = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
        number = len(self.builds) + 1
        self.builds.append({"tag": tag, "dockerfile": dockerfile.read_text(), "files": files, "no_cache": no_cache})
        if output:
            output("Step 1/7 : FROM base")
            output(" ---> Using cache")
        previous = self.images.get(tag)
        if previous:
            previous["RepoTags"] = []
            self.images[previous["Id"]] = previous
        ours = [f"sha256:{number}{role}".ljust(71, "0") for role in ("d", "m", "c")]
        text = dockerfile.read_text()
        labels = dict(re.findall(r'([\w.-]+)="([^"]*)"', text[text.index("LABEL "):]))
        arch = labels.get("onnx-lambda.architecture", "x86_64")
        self.images[tag] = {"Id": f"sha256:image{number}", "RepoTags": [tag], "Config": {"Labels": labels},
                            "Architecture": {"x86_64": "amd64"}.get(arch, arch),
                            "RootFS": {"Layers": BASE_LAYERS + ours}, "Size": 1000}  # fmt: skip
        return f"sha256:image{number}"

    def history(self, ref: str) -> list[dict[str, Any]]:
        steps = [
            {"CreatedBy": "", "Size": 90},  # docker import
            {"CreatedBy": "/bin/sh -c #(nop)  ENV PATH=/var/lang/bin", "Size": 0},
            {"CreatedBy": "/bin/sh -c set -eu; python3 -m venv /var/lang", "Size": 10},
            {"CreatedBy": "/bin/sh -c #(nop) WORKDIR /var/task", "Size": 0},
            {"CreatedBy": "/bin/sh -c #(nop) COPY dir:abc in / ", "Size": 700},
            {"CreatedBy": "/bin/sh -c #(nop) COPY dir:def in / ", "Size": 7},
            {"CreatedBy": "/bin/sh -c #(nop) COPY dir:123 in / ", "Size": 70},
            {"CreatedBy": '/bin/sh -c #(nop)  ENV MODEL_PATH="/opt/model"', "Size": 0},
            {"CreatedBy": '/bin/sh -c #(nop)  CMD ["functions.app.handler"]', "Size": 0},
        ]
        return list(reversed(steps))

    def remove_image(self, ref: str) -> bool:
        self.removed.append(ref)
        self.images.pop(ref, None)
        return True

    def tagged(self, repository: str, label: str) -> list[str]:
        key, _, value = label.partition("=")
        found = [(int(image["Id"].removeprefix("sha256:image")), ref) for ref, image in self.images.items()
                 if ref.startswith(f"{repository}:") and (image.get("Config") or {}).get("Labels", {}).get(key) == value]
        return [ref for _, ref in sorted(found, reverse=True)]  # newest first, as docker image ls


class FakePip(Pip):
    """`pip download` writes empty wheels named after the pins; `pip install` a small tree."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str], *, offline: bool = False, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        args = list(args)
        self.calls.append(args)
        pins = [a for a in args if "==" in a]
        if args[0] == "download":
            dest = Path(args[args.index("--dest") + 1])
            for pin in pins:
                name, version = pin.split("==")
                (dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(pin.encode())
        else:
            assert offline and "--no-index" in args and "--no-compile" in args
            target = Path(args[args.index("--target") + 1])
            for pin in pins:
                package = target / pin.split("==")[0].replace("-", "_")
                (package / "tests").mkdir(parents=True)
                (package / "__init__.py").write_text(f"# {pin}\n")
                (package / "tests" / "test_it.py").write_text("")
            (target / "bin").mkdir()
            (target / "bin" / "tool").write_text("#!/host/python\n")
        return completed(args)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(EXAMPLE, folder)
    return folder


def run_build(model_dir: Path, tmp_path: Path, docker: FakeDocker, **options: Any) -> Any:
    options.setdefault("base_image", BASE)
    return build(model_dir, out_dir=tmp_path / "ctx", docker=docker, pip=FakePip(), cache_dir=tmp_path / "cache", **options)


def test_stages_layers_and_summary(model_dir: Path, tmp_path: Path) -> None:
    docker = FakeDocker()
    messages: list[str] = []
    result = run_build(model_dir, tmp_path, docker, progress=messages.append)
    assert result.image == f"iris:{VERSION}-x86_64"  # deployer.template.local_image_tag: the ImageUri default
    assert [layer.role for layer in result.layers] == ["base", "base", "dependencies", "model", "code"]
    assert [layer.size_bytes for layer in result.layers] == [90, 10, 700, 7, 70]
    assert result.layers[1].holds.startswith(f"base image {BASE}: RUN set -eu; python3 -m venv")
    assert result.byte_compiled and result.python == "3.13" and result.architecture == "x86_64"
    assert "Step 1/7 : FROM base" in messages and " ---> Using cache" not in messages

    built = docker.builds[0]
    assert built["dockerfile"].splitlines()[3] == f"FROM {BASE}"
    assert 'ENV MODEL_PATH="/opt/model"\nENV ORT_DISABLE_TELEMETRY="1"\n' in built["dockerfile"]
    assert "layers/2-model/opt/model/model.onnx" in built["files"]
    assert "layers/3-code/var/task/functions/app.py" in built["files"]
    assert "layers/3-code/var/task/functions/__pycache__/app.cpython-313.pyc" in built["files"]
    deps = [f for f in built["files"] if f.startswith("layers/1-dependencies/")]
    assert "layers/1-dependencies/var/task/onnxruntime/__init__.py" in deps
    assert not [f for f in deps if "/bin/" in f or "/tests/" in f]
    assert not [f for f in built["files"] if f.startswith("layers/2-model/") and "__pycache__" in f]

    summary = result.summary()
    assert summary["layers"] == BASE_LAYERS + [layer.digest for layer in result.layers[2:]]
    assert {"image", "layers", "layer_details", "size_bytes", "requirements", "seconds", "notes"} <= set(summary)
    assert json.loads((tmp_path / "ctx" / "build.json").read_text())["image"] == result.image
    assert result.sam_metadata(tmp_path) == {
        "DockerContext": "ctx", "Dockerfile": "Dockerfile", "DockerTag": f"{VERSION}-x86_64", "DockerImage": "iris",
    }  # fmt: skip


def test_a_second_build_uses_the_host_cache_and_removes_the_image_it_replaced(model_dir: Path, tmp_path: Path) -> None:
    docker = FakeDocker()
    first = run_build(model_dir, tmp_path, docker)
    second = run_build(model_dir, tmp_path, docker, no_cache=True)
    assert first.cached == {"wheels": False, "dependencies": False}
    assert second.cached == {"wheels": True, "dependencies": True}
    assert docker.builds[1]["no_cache"] is True
    assert docker.removed == [first.image_id]
    layers = [[f for f in b["files"] if f.startswith("layers/")] for b in docker.builds]
    assert layers[0] == layers[1]


def test_same_inputs_are_not_built_again_and_a_change_is(model_dir: Path, tmp_path: Path) -> None:
    """The image at the tag records its inputs (a label); a build with the same inputs reuses it."""
    docker = FakeDocker()
    first = run_build(model_dir, tmp_path, docker)
    again = run_build(model_dir, tmp_path, docker)
    assert len(docker.builds) == 1 and again.image_id == first.image_id and again.digests == first.digests
    assert any("docker build skipped" in note for note in again.notes)
    assert (tmp_path / "ctx" / "Dockerfile").read_text() == docker.builds[0]["dockerfile"]  # context written again
    other = FakeDocker(base_ref="onnx-lambda/standin-python:3.13-other")
    docker.images["onnx-lambda/standin-python:3.13-other"] = {**other.images["onnx-lambda/standin-python:3.13-other"],
                                                              "Id": "sha256:otherbase"}  # fmt: skip
    rebuilt = run_build(model_dir, tmp_path, docker, base_image="onnx-lambda/standin-python:3.13-other")
    assert len(docker.builds) == 2 and rebuilt.image_id != first.image_id
    assert "FROM onnx-lambda/standin-python:3.13-other" in docker.builds[1]["dockerfile"]


def test_a_golden_set_in_the_folder_goes_into_the_model_layer_and_the_inputs(model_dir: Path, tmp_path: Path) -> None:
    """push --golden hands build a folder with golden.json: the local cloud reads it from the image."""
    docker = FakeDocker()
    run_build(model_dir, tmp_path, docker)
    (model_dir / "golden.json").write_text('{"inputs": {"X": [[1, 2, 3, 4]]}, "compare": "live"}')
    run_build(model_dir, tmp_path, docker)
    assert "layers/2-model/opt/model/golden.json" in docker.builds[1]["files"]
    (model_dir / "golden.json").write_text('{"inputs": {"X": [[4, 3, 2, 1]]}, "compare": "live"}')
    run_build(model_dir, tmp_path, docker)
    assert len(docker.builds) == 3  # another golden set: other inputs, built again


def test_each_architecture_has_its_own_tag_and_context(model_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from deployer.image.build import built_base
    from deployer.template import load_model_manifest

    monkeypatch.chdir(tmp_path)
    docker = FakeDocker()
    docker.images["arm-base"] = {**FakeDocker(base_arch="arm64").images[BASE], "RepoTags": ["arm-base"]}
    pip, cache = FakePip(), tmp_path / "cache"
    x86 = build(model_dir, base_image=BASE, docker=docker, pip=pip, cache_dir=cache)
    arm = build(model_dir, arch="arm64", base_image="arm-base", docker=docker, pip=pip, cache_dir=cache)
    assert (x86.image, arm.image) == (f"iris:{VERSION}-x86_64", f"iris:{VERSION}-arm64")
    assert (x86.context, arm.context) == (tmp_path / "build" / "iris-x86_64", tmp_path / "build" / "iris-arm64")
    assert docker.images[x86.image]["Id"] == x86.image_id and not docker.removed  # the arm64 build replaced nothing
    manifest = load_model_manifest(model_dir)
    assert built_base(docker, x86.image, manifest, "x86_64") == BASE
    assert built_base(docker, arm.image, manifest, "arm64") == "arm-base"
    assert built_base(docker, arm.image, manifest, "x86_64") is None  # an arm64 image is not the x86_64 one
    assert built_base(docker, "iris:0-x86_64", manifest, "x86_64") is None
    other = {**manifest, "model": {**manifest["model"], "sha256": "0" * 64}}
    assert built_base(docker, x86.image, other, "x86_64") is None  # made from another model


def test_config_supplies_base_digest_architecture_and_repository(model_dir: Path, tmp_path: Path) -> None:
    ref = "public.ecr.aws/lambda/python:3.12"
    digest = "sha256:" + "e" * 64
    docker = FakeDocker(base_ref=f"{ref}@{digest}", labels={})
    config = DeployConfig(image=ImageConfig(base=ref, digest=digest, repository="team/iris"))
    result = build(model_dir, config=config, out_dir=tmp_path / "ctx", docker=docker, pip=FakePip(), cache_dir=tmp_path / "c")
    assert result.image == f"team/iris:{VERSION}-x86_64"
    assert result.base_image == f"{ref}@{digest}"
    assert docker.builds[0]["dockerfile"].splitlines()[3] == f"FROM {ref}@{digest}"
    assert result.python == "3.13"  # no label: python3 -V in the image (the fake answers 3.13)


def test_python_version_from_label_then_run_then_tag() -> None:
    docker = FakeDocker()
    image: dict[str, Any] = {"Config": {"Labels": {"onnx-lambda.standin.python": "3.11"}}}
    assert base_python(docker, "x", image, runnable=True) == "3.11" and not docker.runs
    assert base_python(docker, "x", {"Config": {}}, runnable=True) == "3.13"
    assert base_python(docker, "public.ecr.aws/lambda/python:3.12-arm64", {}, runnable=False) == "3.12"
    with pytest.raises(ConfigError, match="cannot tell the Python version"):
        base_python(docker, "scratch:1", {}, runnable=False)


def test_arm64_without_a_runnable_python_ships_no_byte_code_and_says_so(model_dir: Path, tmp_path: Path) -> None:
    docker = FakeDocker(base_arch="arm64")
    result = run_build(model_dir, tmp_path, docker, arch="arm64")
    assert result.architecture == "arm64" and not result.byte_compiled
    assert result.wheel_platforms == ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
    assert any("no byte code" in note for note in result.notes)
    assert not [f for f in docker.builds[0]["files"] if f.endswith(".pyc")]
    assert not docker.runs  # nothing of the arm64 base was run on this x86_64 daemon


def test_a_base_of_another_architecture_is_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is linux/amd64, but the image is built for arm64"):
        run_build(model_dir, tmp_path, FakeDocker(), arch="arm64")
    with pytest.raises(ConfigError, match="x86_64 or arm64"):
        run_build(model_dir, tmp_path, FakeDocker(), arch="mips")


def test_a_missing_base_image_is_pulled_or_explained(model_dir: Path, tmp_path: Path) -> None:
    docker = FakeDocker()
    with pytest.raises(LocalRuntimeError) as caught:
        run_build(model_dir, tmp_path, docker, base_image="public.ecr.aws/lambda/python:3.12")
    assert docker.pulls == ["public.ecr.aws/lambda/python:3.12"]
    message = str(caught.value)
    assert "not in the local Docker store and cannot be pulled here" in message
    assert "infra/standin-base/build" in message and "--base-image" in message


def test_model_folder_errors(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a folder"):
        run_build(tmp_path / "nope", tmp_path, FakeDocker())
    (model_dir / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="does not match manifest.json"):
        run_build(model_dir, tmp_path, FakeDocker())
    inside = tmp_path / "ctx" / "layers" / "model"
    shutil.copytree(EXAMPLE, inside)
    with pytest.raises(ConfigError, match="inside its layers/"):
        run_build(inside, tmp_path, FakeDocker())


def test_no_daemon_and_no_docker_are_one_line_errors() -> None:
    def no_daemon(args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return completed(args, 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")

    with pytest.raises(LocalRuntimeError) as caught:
        DockerCLI(runner=no_daemon).info()
    assert "infra/dockerd/start" in str(caught.value) and "\n" not in str(caught.value)

    def missing(args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(2, "No such file or directory", args[0])

    with pytest.raises(DependencyError, match="install Docker"):
        DockerCLI(runner=missing).info()


def test_the_cli_always_uses_the_classic_builder() -> None:
    seen: dict[str, Any] = {}

    def runner(args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.update(kwargs["env"])
        return completed(args, 0, json.dumps({"ServerVersion": "20.10", "Architecture": "x86_64"}))

    assert DockerCLI(environ={"DOCKER_BUILDKIT": "1"}, runner=runner).info()["ServerVersion"] == "20.10"
    assert seen["DOCKER_BUILDKIT"] == "0"
    assert re.match(r"type=bind,source=/x,target=/y,readonly$", Mount(Path("/x"), "/y", read_only=True).arg())


def test_when_byte_compiling_cannot_run_the_image_is_built_without_and_says_why(model_dir: Path, tmp_path: Path) -> None:
    docker = FakeDocker(compile_fails=True)
    result = run_build(model_dir, tmp_path, docker)
    assert not result.byte_compiled
    assert any("bind source path does not exist" in note for note in result.notes)
    assert not [f for f in docker.builds[0]["files"] if f.endswith(".pyc")]
    # nothing half-compiled was cached under the compiled key: a working daemon compiles next time
    again = run_build(model_dir, tmp_path, FakeDocker())
    assert again.byte_compiled and not again.cached["dependencies"]
