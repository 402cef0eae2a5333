"""Model loading: paths, manifest checks, threads, and what a broken model does to requests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from functions.app import Service
from functions.model import ModelLoadError, available_cpus, load_model, start_loading
from tests.models import two_input_folder, two_input_model
from tests.unit.functions.conftest import Client


def test_loads_a_bare_onnx_file_named_by_its_stem(tmp_path: Path) -> None:
    model = load_model(str(two_input_model(tmp_path / "scorer.onnx")))
    assert model.name == "scorer" and [t.name for t in model.inputs] == ["a", "b"]
    assert model.inputs[0].shape == (None, 3) and model.inputs[1].datatype == "INT64"


def test_folder_uses_manifest_name_and_version(tmp_path: Path) -> None:
    model = load_model(str(two_input_folder(tmp_path, name="renamed")))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert model.name == "renamed" and model.version == manifest["version"]


def test_model_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PATH", str(two_input_folder(tmp_path)))
    assert load_model().name == "pair"


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p / "missing", ["no model at", "MODEL_PATH"]),
        (lambda p: p, ["without model.onnx"]),
        (lambda p: (p / "model.txt").write_text("x") and p / "model.txt", ["not an .onnx file"]),
        (lambda p: (p / "cut.onnx").write_bytes(b"\x08\x08\x12\x04garbage") and p / "cut.onnx", ["onnxruntime could not load"]),
    ],
    ids=["missing", "empty folder", "not onnx", "truncated"],
)
def test_load_errors_say_what_and_where(tmp_path: Path, make, words: list[str]) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_model(str(make(tmp_path)))
    for word in words:
        assert word in str(info.value)


def test_sha256_mismatch_is_refused_when_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = two_input_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model"]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert load_model(str(folder)).name == "pair"  # the default checks sizes: the digest is the build's job
    monkeypatch.setenv("MODEL_VERIFY", "sha256")
    with pytest.raises(ModelLoadError, match="does not match"):
        load_model(str(folder))


def test_a_file_of_another_size_than_the_manifest_says_is_refused(tmp_path: Path) -> None:
    folder = two_input_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model"]["size_bytes"] = (folder / "model.onnx").stat().st_size + 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError) as info:
        load_model(str(folder))
    assert "does not match" in str(info.value) and "rebuild the artifact" in str(info.value)


def test_a_bad_model_verify_value_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_VERIFY", "md5")
    with pytest.raises(ModelLoadError, match="MODEL_VERIFY"):
        load_model(str(two_input_folder(tmp_path)))


def test_bad_manifest_is_refused(tmp_path: Path) -> None:
    folder = two_input_folder(tmp_path)
    (folder / "manifest.json").write_text('{"schema_version": 1}')
    with pytest.raises(ModelLoadError, match="missing required field"):
        load_model(str(folder))


def test_unloadable_model_answers_503_but_stays_live(tmp_path: Path) -> None:
    client = Client(Service(str(tmp_path / "nothing-here")))
    assert client.request("GET", "/v2/health/live").status == 200
    ready = client.request("GET", "/v2/health/ready")
    assert ready.status == 503 and "no model at" in ready.error
    infer = client.infer("x", {"inputs": []})
    assert infer.status == 503


def test_offline_optimized_model_disables_runtime_optimization(tmp_path: Path) -> None:
    import onnxruntime as ort

    folder = two_input_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["runtime"]["optimized"] = "extended"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    model = load_model(str(folder))
    assert model.session.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain = load_model(str(two_input_folder(tmp_path / "plain")))
    assert plain.session.get_session_options().graph_optimization_level != ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_threads_follow_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    assert available_cpus() == min(len(os.sched_getaffinity(0)), available_cpus())
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {sorted(before)[0]})
        assert available_cpus() == 1
        assert load_model(str(two_input_model(tmp_path / "m.onnx"))).threads == 1
    finally:
        os.sched_setaffinity(0, before)


def test_external_data_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    from functions.manifest import sha256_file
    from tests.models import write_manifest
    from tests.unit.model.builders import onnx_linear

    folder = tmp_path / "ext"
    folder.mkdir()
    model = onnx.load(str(onnx_linear(tmp_path / "lin.onnx", features=64, outputs=64)))
    onnx.save(model, str(folder / "model.onnx"), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    data = folder / "model.onnx.data"
    entry = {"file": "model.onnx.data", "sha256": sha256_file(str(data)), "size_bytes": data.stat().st_size}
    write_manifest(folder, "ext", [{"name": "x", "datatype": "FP32", "shape": ["N", 64]}],
                   [{"name": "y", "datatype": "FP32", "shape": ["N", 64]}])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model"]["external_data"] = [entry]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert load_model(str(folder)).name == "ext"
    whole = data.read_bytes()
    data.write_bytes(whole[:-4])  # cut: the default size check sees it
    with pytest.raises(ModelLoadError, match="model.onnx.data does not match"):
        load_model(str(folder))
    data.write_bytes(whole[:-4] + b"\0\0\0\1")  # same size, other bytes: only the full hash sees it
    monkeypatch.setenv("MODEL_VERIFY", "sha256")
    with pytest.raises(ModelLoadError, match="model.onnx.data does not match"):
        load_model(str(folder))


def test_manifest_file_names_must_stay_in_the_folder(tmp_path: Path) -> None:
    folder = two_input_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model"]["external_data"] = [{"file": "../../etc/passwd", "sha256": "0" * 64, "size_bytes": 1}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="plain file name"):
        load_model(str(folder))


def test_the_runner_answers_as_session_run_does(tmp_path: Path) -> None:
    import numpy as np

    model = load_model(str(two_input_folder(tmp_path)))
    assert model.runner != model.session.run  # the compiled run, without the Python wrapper's re-checks
    feeds = {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 3), np.int64)}
    ours = model.runner(model.output_names, feeds, None)
    theirs = model.session.run(None, feeds)
    assert [o.tolist() for o in ours] == [o.tolist() for o in theirs]
    with pytest.raises(Exception) as info:  # a shape the graph refuses: still onnxruntime's InvalidArgument (a 400)
        model.runner(model.output_names, {"a": feeds["a"], "b": np.ones((2, 1), np.int64)}, None)
    assert type(info.value).__name__ == "InvalidArgument"
    with pytest.raises(Exception, match="(?i)missing|input"):  # a missing input (the protocols refuse it first)
        model.runner(model.output_names, {"a": feeds["a"]}, None)


@pytest.mark.parametrize(("level", "expected"), [("all", "ORT_ENABLE_ALL"), ("basic", "ORT_ENABLE_BASIC"),
                                                 ("disable_all", "ORT_DISABLE_ALL")])  # fmt: skip
def test_the_manifest_names_the_runtime_optimization_level(tmp_path: Path, level: str, expected: str) -> None:
    import onnxruntime as ort

    folder = two_input_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["runtime"].update(optimized="basic", graph_optimization_level=level)  # the field wins over `optimized`
    (folder / "manifest.json").write_text(json.dumps(manifest))
    got = load_model(str(folder)).session.get_session_options().graph_optimization_level
    assert got == getattr(ort.GraphOptimizationLevel, expected)


def test_an_unknown_runtime_optimization_level_is_refused(tmp_path: Path) -> None:
    folder = two_input_folder(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["runtime"]["graph_optimization_level"] = "fast"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="graph_optimization_level is 'fast'; expected one of"):
        load_model(str(folder))


def test_a_session_created_in_the_background_is_the_same_model(tmp_path: Path) -> None:
    folder = two_input_folder(tmp_path)
    loading = start_loading(str(folder), background=True)
    model = loading.result()
    assert loading.result() is model  # asked again: the same model, not a second session
    serial = load_model(str(folder))
    assert (model.name, model.version, model.threads) == (serial.name, serial.version, serial.threads)
    signature = [t.describe() for t in model.inputs + model.outputs]
    assert signature == [t.describe() for t in serial.inputs + serial.outputs]
    assert model.load_ms > 0


@pytest.mark.parametrize("background", [True, False])
def test_load_errors_are_raised_by_result_in_the_callers_thread(tmp_path: Path, background: bool) -> None:
    (tmp_path / "cut.onnx").write_bytes(b"\x08\x08\x12\x04garbage")
    loading = start_loading(str(tmp_path / "cut.onnx"), background=background)  # never raises for the model
    with pytest.raises(ModelLoadError, match="onnxruntime could not load .*cut.onnx"):
        loading.result()
    missing = start_loading(str(tmp_path / "nothing-here"), background=background)
    with pytest.raises(ModelLoadError, match="no model at"):
        missing.result()


def test_the_default_loads_in_the_background_only_with_a_second_cpu(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.model as fm

    folder = two_input_folder(tmp_path)
    started: list[object] = []
    real = fm._thread.start_new_thread

    def counting(fn: object, args: tuple) -> int:
        started.append(fn)
        return real(fn, args)  # type: ignore[arg-type]

    monkeypatch.setattr(fm._thread, "start_new_thread", counting)
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {sorted(before)[0]})
        assert start_loading(str(folder)).result().threads == 1 and started == []  # one CPU: created at once
    finally:
        os.sched_setaffinity(0, before)
    if len(before) > 1:
        assert start_loading(str(folder)).result().name == "pair" and len(started) == 1


def test_importing_the_handler_with_a_broken_model_still_answers_503_with_the_reason(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "cut.onnx").write_bytes(b"\x08\x08\x12\x04garbage")
    root = Path(__file__).resolve().parents[3]
    code = ("import json, functions.app as app; "
            "r = app.handler({'httpMethod': 'GET', 'path': '/v2/health/ready', 'headers': {}, 'body': None}, None); "
            "print('RESULT', r['statusCode'], json.loads(r['body'])['error'])")
    env = {**os.environ, "MODEL_PATH": str(tmp_path / "cut.onnx"), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    assert line.startswith("RESULT 503 the model is not loaded: onnxruntime could not load") and "cut.onnx" in line
