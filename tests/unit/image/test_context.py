"""The build context: the Dockerfile's text, and the same bytes, modes and times every time."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from deployer.image import EPOCH, dockerfile_text, normalize_tree, write_context
from deployer.image.context import ContextLayer, dockerignore_text, tree_listing
from deployer.image.staging import strip_tree

LAYERS = (
    ContextLayer("dependencies", "layers/1-dependencies", "/var/task", "runtime dependencies: numpy==2.4.6"),
    ContextLayer("model", "layers/2-model", "/opt/model", "model iris 2941c4c605f2: manifest.json, model.onnx"),
    ContextLayer("code", "layers/3-code", "/var/task/functions", "handler code: functions/ (12 modules)"),
)


def test_dockerfile_is_from_three_copies_env_label_cmd() -> None:
    text = dockerfile_text(
        "public.ecr.aws/lambda/python:3.12@sha256:" + "a" * 64, LAYERS,
        env={"MODEL_PATH": "/opt/model"}, labels={"onnx-lambda.model.name": "iris", "quote": 'say "hi"'},
        header=("generated",),
    )  # fmt: skip
    assert text == (
        "# generated\n"
        f"FROM public.ecr.aws/lambda/python:3.12@sha256:{'a' * 64}\n"
        "# layer 1: runtime dependencies: numpy==2.4.6\n"
        "COPY layers/1-dependencies/ /\n"
        "# layer 2: model iris 2941c4c605f2: manifest.json, model.onnx\n"
        "COPY layers/2-model/ /\n"
        "# layer 3: handler code: functions/ (12 modules)\n"
        "COPY layers/3-code/ /\n"
        'ENV MODEL_PATH="/opt/model"\n'
        'LABEL onnx-lambda.model.name="iris" \\\n'
        '      quote="say \\"hi\\""\n'
        'CMD ["functions.app.handler"]\n'
    )
    # No RUN: nothing executes at build time, so any architecture builds anywhere.
    assert not re.search(r"^RUN\b", text, re.MULTILINE)


def test_dockerignore_sends_only_the_dockerfile_and_layers() -> None:
    lines = [line for line in dockerignore_text().splitlines() if not line.startswith("#")]
    assert lines == ["*", "!Dockerfile", "!layers"]


def make_inputs(root: Path, *, model_bytes: bytes = b"onnx-bytes", umask: int = 0o022) -> dict[str, object]:
    """Dependency, code and model trees with the mess a real checkout has: other umasks,
    execute bits, fresh mtimes, a symlink."""
    old = os.umask(umask)
    try:
        deps = root / "deps"
        (deps / "numpy" / "_core").mkdir(parents=True)
        (deps / "numpy" / "__init__.py").write_text("x = 1\n")
        (deps / "numpy" / "_core" / "_multiarray.so").write_bytes(b"\x7fELF")
        (deps / "numpy" / "_core" / "_multiarray.so").chmod(0o775)
        (deps / "numpy-2.4.6.dist-info").mkdir()
        (deps / "numpy-2.4.6.dist-info" / "RECORD").write_text("numpy/__init__.py,,\n")
        os.symlink("_multiarray.so", deps / "numpy" / "_core" / "alias.so")
        code = root / "code"
        code.mkdir()
        (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
        model = root / "model"
        model.mkdir()
        (model / "model.onnx").write_bytes(model_bytes)
        (model / "manifest.json").write_text('{"name": "iris"}')
    finally:
        os.umask(old)
    return {
        "dependencies": (deps, "deps"),
        "code": (code, "code"),
        "model_files": [(model / "manifest.json", "manifest.json"), (model / "model.onnx", "model.onnx")],
    }


def context(out: Path, inputs: dict[str, object]) -> Path:
    write_context(
        out, base_image="base:1", model_target="/opt/model", model_holds="model", env={"MODEL_PATH": "/opt/model"},
        labels={}, **inputs,  # type: ignore[arg-type]
    )  # fmt: skip
    return out


def test_two_contexts_from_the_same_inputs_are_identical(tmp_path: Path) -> None:
    first = context(tmp_path / "a", make_inputs(tmp_path / "in-a", umask=0o022))
    second = context(tmp_path / "b", make_inputs(tmp_path / "in-b", umask=0o002))
    assert tree_listing(first / "layers") == tree_listing(second / "layers")
    assert (first / "Dockerfile").read_bytes() == (second / "Dockerfile").read_bytes()
    for path in [first / "layers", *(first / "layers").rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        assert info.st_mtime == EPOCH, path
        assert stat.S_IMODE(info.st_mode) in (0o644, 0o755), path
    assert stat.S_IMODE((first / "layers/1-dependencies/var/task/numpy/_core/_multiarray.so").stat().st_mode) == 0o755
    assert stat.S_IMODE((first / "layers/3-code/var/task/functions/app.py").stat().st_mode) == 0o644


def test_each_layer_folder_holds_the_full_path_from_root(tmp_path: Path) -> None:
    """So every directory in a layer's tar comes from the context (fixed mtime), none from the
    builder's clock: COPY into / never merges into or creates a destination folder itself."""
    out = context(tmp_path / "ctx", make_inputs(tmp_path / "in"))
    assert sorted(p.relative_to(out / "layers").as_posix() for p in (out / "layers").glob("*/*")) == [
        "1-dependencies/var", "2-model/opt", "3-code/var",
    ]  # fmt: skip
    assert (out / "layers/2-model/opt/model/model.onnx").read_bytes() == b"onnx-bytes"
    assert (out / "layers/3-code/var/task/functions/app.py").is_file()
    assert (out / "layers/1-dependencies/var/task/numpy/__init__.py").is_file()


def test_a_new_model_changes_only_the_model_layer_folder(tmp_path: Path) -> None:
    one = context(tmp_path / "one", make_inputs(tmp_path / "in-1"))
    two = context(tmp_path / "two", make_inputs(tmp_path / "in-2", model_bytes=b"other model"))
    for folder in ("1-dependencies", "3-code"):
        assert tree_listing(one / "layers" / folder) == tree_listing(two / "layers" / folder)
    assert tree_listing(one / "layers/2-model") != tree_listing(two / "layers/2-model")


def test_a_rewrite_leaves_nothing_stale(tmp_path: Path) -> None:
    out = context(tmp_path / "ctx", make_inputs(tmp_path / "in"))
    (out / "layers/2-model/opt/model/stale.bin").write_bytes(b"old")
    (out / "build.json").write_text("{}")  # not sent: .dockerignore
    context(out, make_inputs(tmp_path / "in2"))
    assert not (out / "layers/2-model/opt/model/stale.bin").exists()
    assert (out / ".dockerignore").is_file() and (out / "build.json").is_file()


def test_normalize_tree_sets_time_and_modes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o700)
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "d" / "f").chmod(0o600)
    (tmp_path / "d" / "x").write_text("x")
    (tmp_path / "d" / "x").chmod(0o700)
    normalize_tree(tmp_path / "d")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "d", *(tmp_path / "d").iterdir()]}
    assert modes == {"d": 0o755, "f": 0o644, "x": 0o755}
    assert {p.stat().st_mtime for p in [tmp_path / "d", *(tmp_path / "d").iterdir()]} == {EPOCH}


def test_strip_removes_scripts_caches_and_test_suites_and_fixes_record(tmp_path: Path) -> None:
    root = tmp_path / "site"
    for name in ("bin/f2py", "numpy/__init__.py", "numpy/tests/test_a.py", "numpy/_core/tests/data/x.csv",
                 "numpy/testing/__init__.py", "numpy/__pycache__/__init__.cpython-313.pyc", "tests/__init__.py"):  # fmt: skip
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / "numpy-2.4.6.dist-info").mkdir()
    (root / "numpy-2.4.6.dist-info/RECORD").write_text(
        "numpy/__init__.py,sha256=a,1\nnumpy/tests/test_a.py,sha256=b,1\n../../bin/f2py,sha256=c,1\n"
        "numpy/testing/__init__.py,sha256=d,1\nnumpy-2.4.6.dist-info/RECORD,,\n"
    )
    removed = strip_tree(root)
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert left == ["numpy-2.4.6.dist-info/RECORD", "numpy/__init__.py", "numpy/testing/__init__.py", "tests/__init__.py"]
    assert "bin" in removed and "numpy/tests" in removed and "numpy/_core/tests" in removed
    assert (root / "numpy-2.4.6.dist-info/RECORD").read_text() == (
        "numpy/__init__.py,sha256=a,1\nnumpy/testing/__init__.py,sha256=d,1\nnumpy-2.4.6.dist-info/RECORD,,\n"
    )


@pytest.mark.parametrize("name", ["model.onnx", "weights/model.onnx.data"])
def test_model_files_keep_their_names(tmp_path: Path, name: str) -> None:
    inputs = make_inputs(tmp_path / "in")
    source = tmp_path / "blob"
    source.write_bytes(b"w")
    inputs["model_files"] = [(source, name)]
    out = context(tmp_path / "ctx", inputs)
    assert (out / "layers/2-model/opt/model" / name).read_bytes() == b"w"
