"""Acceptance 3: refused with a clear message, a non-zero exit code, and no artifact written."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest

from deployer.errors import ConfigError, DeployerError, ModelError
from deployer.model import convert
from deployer.model.errors import ModelCrashError, ParityError, SizeBudgetError, UnsafeModelError
from deployer.model.worker import Worker
from tests.unit.model import builders


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())


def _joblib(tmp: Path) -> Path:
    pipe, _ = builders.iris_pipeline()
    joblib.dump(pipe, tmp / "pipe.joblib")
    return tmp / "pipe.joblib"


def _pickled_pkl(tmp: Path) -> Path:
    pipe, _ = builders.iris_pipeline()
    joblib.dump(pipe, tmp / "model.pkl")
    return tmp / "model.pkl"


def _external(location: str) -> Callable[[Path], Path]:
    return lambda tmp: builders.onnx_with_external_data(tmp / "model", location)


def _symlink_out(tmp: Path) -> Path:
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"\0" * 48)
    path = builders.onnx_with_external_data(tmp / "model", "weights.bin")
    os.symlink(outside / "secret.bin", tmp / "model" / "weights.bin")
    return path


def _symlinked_folder_out(tmp: Path) -> Path:
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(b"\0" * 48)
    path = builders.onnx_with_external_data(tmp / "model", "data/w.bin")
    os.symlink(outside, tmp / "model" / "data")
    return path


def _truncated(fraction: float) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = builders.onnx_conv_bn(tmp / "whole.onnx")
        data = path.read_bytes()
        cut = tmp / "cut.onnx"
        cut.write_bytes(data[: max(1, int(len(data) * fraction))])
        return cut
    return build


def _empty(tmp: Path) -> Path:
    (tmp / "empty.onnx").write_bytes(b"")
    return tmp / "empty.onnx"


def _not_onnx(tmp: Path) -> Path:
    (tmp / "notes.onnx").write_text("this is not a model\n" * 10)
    return tmp / "notes.onnx"


# id, build the source, expected error type, words the message must contain
CASES: list[tuple[str, Callable[[Path], Path], type[DeployerError], tuple[str, ...]]] = [
    ("joblib-without-trust", _joblib, UnsafeModelError, ("pickle", "--trust-pickle", "runs any code")),
    ("pkl-without-trust", _pickled_pkl, UnsafeModelError, ("--trust-pickle",)),
    ("external-etc-passwd", _external("../../etc/passwd"), UnsafeModelError, ("../../etc/passwd", "'..'")),
    ("external-sub-dotdot", _external("sub/../../x"), UnsafeModelError, ("sub/../../x", "'..'")),
    ("external-absolute", _external("/etc/passwd"), UnsafeModelError, ("absolute path", "/etc/passwd")),
    ("external-backslash-dotdot", _external("..\\..\\x"), UnsafeModelError, ("'..'",)),
    ("external-symlink-out", _symlink_out, UnsafeModelError, ("symbolic link", "weights.bin")),
    ("external-symlinked-folder-out", _symlinked_folder_out, UnsafeModelError, ("symbolic link",)),
    ("external-missing-file", _external("weights.bin"), UnsafeModelError, ("no such file",)),
    ("truncated-10pc", _truncated(0.1), ModelError, ("cut.onnx",)),
    ("truncated-50pc", _truncated(0.5), ModelError, ("cut.onnx",)),
    ("truncated-99pc", _truncated(0.99), ModelError, ("cut.onnx",)),
    ("empty-onnx", _empty, ModelError, ("empty",)),
    ("text-as-onnx", _not_onnx, ModelError, ("notes.onnx",)),
]


@pytest.mark.parametrize(("build", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_without_writing(tmp_path: Path, build: Callable[[Path], Path], error: type[DeployerError],
                                 words: tuple[str, ...]) -> None:
    source = build(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(error) as caught:
        convert(source, out=out)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    assert caught.value.exit_code != 0
    _assert_nothing_written(out)


def test_external_data_is_refused_before_the_target_is_read(tmp_path: Path) -> None:
    """A FIFO outside the folder would block any reader: refusing must not open it."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    source = builders.onnx_with_external_data(tmp_path / "model", str(fifo))
    with pytest.raises(UnsafeModelError):
        convert(source, out=tmp_path / "out")


def test_conversion_that_breaks_parity_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ParityError) as caught:
        convert(builders.drifting_module(), out=out)
    message = str(caught.value)
    assert "output 'y'" in message and "max abs error" in message and "Nothing was written" in message
    assert caught.value.report and caught.value.report["stage"] == "converted"
    _assert_nothing_written(out)


def test_tolerance_flags_decide(tmp_path: Path) -> None:
    """The same drift passes when the caller accepts a difference that large."""
    result = convert(builders.drifting_module(), out=tmp_path / "out", atol=1e6, rtol=1.0)
    assert result.manifest["parity"]["tolerance"]["y"] == {"atol": 1e6, "rtol": 1.0}


def test_failed_conversion_keeps_no_half_artifact_over_an_old_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(builders.onnx_linear(tmp_path / "ok.onnx"), out=out)
    with pytest.raises(ParityError):
        convert(builders.drifting_module(), out=out)
    # the previous artifact is untouched and still consistent
    from functions.model import load_model

    assert load_model(str(out)).name == "out"


def test_size_budget(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(SizeBudgetError) as caught:
        convert(builders.onnx_conv_bn(tmp_path / "m.onnx"), out=out, size_budget=1000)
    assert "Lambda container image" in str(caught.value) and "--quantize int8" in str(caught.value)
    _assert_nothing_written(out)


CRASH = ("import sys, ctypes; sys.stderr.write('@@step creating an onnxruntime session\\n'); "
         "sys.stderr.flush(); ctypes.string_at(0)")


def test_a_crash_in_the_checker_is_reported_not_fatal(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "boom.onnx")
    with pytest.raises(ModelCrashError) as caught:
        convert(source, out=tmp_path / "out", worker=Worker([sys.executable, "-c", CRASH]))
    message = str(caught.value)
    assert "SIGSEGV" in message and "boom.onnx" in message and "creating an onnxruntime session" in message
    _assert_nothing_written(tmp_path / "out")


def test_worker_exit_without_answer(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "m.onnx")
    with pytest.raises(ModelCrashError, match="exited with code 3"):
        Worker([sys.executable, "-c", "import sys; sys.exit(3)"]).call("check", source)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"quantize": "int4"}, "--quantize"),
    ({"atol": -1.0}, "--atol"),
    ({"rtol": float("nan")}, "--rtol"),
    ({"framework": "caffe"}, "--framework"),
    ({"name": "my model/v2"}, "letters, digits"),
])
def test_bad_options(tmp_path: Path, kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        convert(builders.onnx_linear(tmp_path / "m.onnx"), out=tmp_path / "out", **kwargs)
    _assert_nothing_written(tmp_path / "out")


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        convert(tmp_path / "nope.onnx", out=tmp_path / "out")


def test_torch_pickles_and_state_dicts(tmp_path: Path, torch_sources: dict[str, Any]) -> None:
    torch = builders.need("torch", "torch")

    module = torch_sources["module"]
    torch.save(module, tmp_path / "whole.pt")
    with pytest.raises(UnsafeModelError, match="--trust-pickle"):
        convert(tmp_path / "whole.pt", out=tmp_path / "a")
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ModelError, match="state dict"):
        convert(tmp_path / "weights.pt", out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
