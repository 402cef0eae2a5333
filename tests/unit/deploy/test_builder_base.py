"""push's image builder finds the base of the image `build` made (deploy/context.py `_built_base`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deployer.config import DeployConfig
from deployer.deploy.context import _built_base
from tests.unit.image.test_build import BASE, EXAMPLE, VERSION, FakeDocker, FakePip


class Said:
    def __init__(self) -> None:
        self.info_lines: list[str] = []
        self.warnings: list[str] = []

    def step(self, index: int, total: int, title: str) -> None:
        pass

    def info(self, text: str) -> None:
        self.info_lines.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def event(self, event: object) -> None:
        pass


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "model")
    return tmp_path / "model"


def test_the_base_of_the_image_build_made_for_this_architecture(model_dir: Path, tmp_path: Path) -> None:
    from deployer.image import build

    docker, said = FakeDocker(), Said()
    assert _built_base(model_dir, DeployConfig(), said, docker) is None and not said.warnings  # nothing built yet
    build(model_dir, base_image=BASE, out_dir=tmp_path / "ctx", docker=docker, pip=FakePip(), cache_dir=tmp_path / "c")
    assert _built_base(model_dir, DeployConfig(), said, docker) == BASE
    assert said.info_lines == [f"found iris:{VERSION}-x86_64, built by `build` for this model on {BASE}: building on "
                               "the same base (nothing is rebuilt when its inputs did not change)"]  # fmt: skip
    # push --arch arm64: the x86_64 image is not for it, and the user is told which --arch has one
    assert _built_base(model_dir, DeployConfig(architecture="arm64"), said, docker) is None
    assert said.warnings == [f"`build` made an x86_64 image of this model (iris:{VERSION}-x86_64), not an arm64 one: "
                             "pass --arch x86_64 to push that one"]  # fmt: skip


def test_a_retrained_model_builds_on_the_base_of_the_newest_image_of_its_repository(model_dir: Path,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    """No image of this version yet: the base of the newest image `build` made in the repository for
    this architecture (README: convert a retrained model, plan, push)."""
    from deployer.image import build

    docker, said = FakeDocker(), Said()
    build(model_dir, base_image=BASE, out_dir=tmp_path / "ctx", docker=docker, pip=FakePip(), cache_dir=tmp_path / "c")
    retrained = tmp_path / "retrained"
    shutil.copytree(model_dir, retrained)
    manifest = json.loads((retrained / "manifest.json").read_text())
    manifest["version"] = "0123456789ab"
    (retrained / "manifest.json").write_text(json.dumps(manifest))
    assert _built_base(retrained, DeployConfig(), said, docker) == BASE
    assert said.info_lines == [f"building on {BASE}, the base of iris:{VERSION}-x86_64 (the newest image `build` "
                               "made for x86_64 in this repository); --base-image chooses another"]  # fmt: skip
    assert _built_base(retrained, DeployConfig(architecture="arm64"), said, docker) is None  # none made for arm64
