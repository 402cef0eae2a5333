"""Acceptance 1 and 2: every kind of source converts, matches its original, and the artifact is
one the runtime loads and serves, with a manifest that carries every field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnxruntime as ort
import pytest

from deployer.model import convert
from deployer.model.manifest import ConvertedManifest, check_manifest
from functions.manifest import MANIFEST_FILE, MODEL_FILE, load_manifest, sha256_file
from functions.model import load_model
from tests.unit.model import builders
from tests.unit.model.runtime import assert_answers_like_manifest, infer_rows

Case = Callable[[pytest.FixtureRequest, Path], tuple[Any, dict[str, Any]]]


def _sklearn_joblib(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
    pipe, x = builders.iris_pipeline()
    joblib.dump(pipe, tmp / "iris.joblib")
    np.save(tmp / "rows.npy", x)
    return tmp / "iris.joblib", {"trust_pickle": True, "sample": tmp / "rows.npy"}


def _sklearn_forest_strings(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
    pipe, x = builders.iris_pipeline("forest", string_labels=True)
    return pipe, {"sample": x}


def _sklearn_regressor(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
    model, _ = builders.regressor()
    return model, {}  # rows generated from n_features_in_


def _torch(kind: str) -> Case:
    def case(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
        return request.getfixturevalue("torch_sources")[kind], {}
    return case


def _keras(kind: str) -> Case:
    def case(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
        return request.getfixturevalue("keras_sources")[kind], {}
    return case


def _onnx_file(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
    return builders.onnx_conv_bn(tmp / "convbn.onnx"), {}


def _onnx_external(request: pytest.FixtureRequest, tmp: Path) -> tuple[Any, dict[str, Any]]:
    return builders.onnx_with_real_external_data(tmp / "ext"), {}


# id, build, framework, labels expected
CASES: list[tuple[str, Case, str, bool]] = [
    ("sklearn-joblib-pipeline", _sklearn_joblib, "sklearn", True),
    ("sklearn-forest-string-labels", _sklearn_forest_strings, "sklearn", True),
    ("sklearn-regressor", _sklearn_regressor, "sklearn", False),
    ("torch-torchscript", _torch("torchscript"), "torch", False),
    ("torch-export-pt2", _torch("export"), "torch", False),
    ("torch-module", _torch("module"), "torch", False),
    ("keras-file", _keras("keras"), "keras", False),
    ("keras-h5", _keras("h5"), "keras", False),
    ("keras-in-memory", _keras("model"), "keras", False),
    ("tflite", _keras("tflite"), "tflite", False),
    ("onnx-file", _onnx_file, "onnx", False),
    ("onnx-external-data-inside", _onnx_external, "onnx", False),
]


@pytest.mark.parametrize(("build", "framework", "has_labels"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_source_converts_with_parity_and_serves(request: pytest.FixtureRequest, tmp_path: Path, build: Case,
                                                framework: str, has_labels: bool) -> None:
    source, kwargs = build(request, tmp_path)
    steps: list[str] = []
    out = tmp_path / "artifact"
    result = convert(source, out=out, progress=steps.append, **kwargs)

    m = result.manifest
    assert m["source"]["framework"] == framework
    assert steps and any("subprocess" in s for s in steps)
    parity = m["parity"]
    assert parity["passed"]
    assert parity["rows"] >= 64 or parity["inputs"] == "sample"
    assert parity["final_stage"] == "optimized"
    for name, err in parity["max_abs_error"].items():
        tol = parity["tolerance"][name]
        assert err <= tol["atol"] + tol["rtol"] * 1e3, (name, err)
    if has_labels:
        assert m["labels"] and parity["label_agreement"] == 1.0
    assert all(v == 1.0 for v in parity["argmax_agreement"].values())
    if framework != "onnx":
        assert "converted" in parity["stages"] and parity["stages"]["converted"]["passed"]

    # the artifact on disk: the manifest the runtime reads, matching the file
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MANIFEST_FILE, MODEL_FILE, *(e["file"] for e in m["model"]["external_data"])])
    on_disk = load_manifest(str(out))
    assert on_disk == m
    assert m["model"]["sha256"] == sha256_file(str(out / MODEL_FILE)) and m["version"] == m["model"]["sha256"][:12]
    assert m["runtime"]["optimized"] == "basic" and m["runtime"]["graph_optimization_level"] == "all"
    # what was measured lives beside the folder, never in it (the folder is the image's model layer)
    assert result.report_path == out.parent / "artifact.convert-report.json" and result.report_path.is_file()
    assert json.loads(result.report_path.read_text()) == result.report
    assert result.report["version"] == m["version"] and result.report["artifact"]["graph_optimization_level"] == "all"
    assert "session_ms" not in json.dumps(m)
    check_manifest(dict(m), "test")
    ConvertedManifest.model_validate(m)
    assert_answers_like_manifest(out)
    assert load_model(str(out)).session.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert result.summary()["parity"]["passed"]


def test_manifest_carries_every_field(tmp_path: Path) -> None:
    pipe, x = builders.iris_pipeline()
    m = convert(pipe, out=tmp_path / "iris", sample=x).manifest
    assert m["name"] == "iris" and len(m["version"]) == 12
    assert m["inputs"] == [{"name": "X", "datatype": "FP32", "shape": ["batch", 4]}]
    assert [o["name"] for o in m["outputs"]] == ["label", "probabilities"]
    assert m["outputs"][1]["shape"] == ["batch", 3]
    assert isinstance(m["model"]["opset"], int) and m["model"]["ir_version"] >= 7
    assert m["model"]["producer"].startswith("skl2onnx ")
    assert m["runtime"]["onnxruntime"]
    assert m["model"]["size_bytes"] == (tmp_path / "iris" / MODEL_FILE).stat().st_size
    assert m["labels"] == [0, 1, 2]
    stats = m["baseline"]["X"]
    assert stats["per"] == "feature" and stats["source"] == "sample" and stats["rows"] == 150
    np.testing.assert_allclose(stats["mean"], x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats["max"], x.max(axis=0), rtol=1e-6)
    assert len(stats["std"]) == len(stats["min"]) == 4
    assert m["sample"]["rows"] == 3 and np.asarray(m["sample"]["inputs"]["X"]).shape == (3, 4)
    assert m["sample"]["outputs"]["label"] == [0, 0, 0]
    o = m["optimization"]
    assert o == {"level": "basic", "runtime_level": "all", "original": {"size_bytes": o["original"]["size_bytes"]},
                 "optimized": {"size_bytes": o["optimized"]["size_bytes"]}, "quantization": None}
    assert o["original"]["size_bytes"] > 0 and o["optimized"]["size_bytes"] > 0
    assert m["parity"]["inputs"] == "sample" and m["parity"]["rows"] == 150


def test_a_second_conversion_replaces_the_artifact(tmp_path: Path) -> None:
    out = tmp_path / "m"
    first = convert(builders.onnx_linear(tmp_path / "a.onnx", seed=1), out=out, name="lin")
    second = convert(builders.onnx_linear(tmp_path / "b.onnx", seed=2), out=out, name="lin")
    assert first.version != second.version
    assert load_manifest(str(out))["version"] == second.version  # type: ignore[index]
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, MODEL_FILE]


def test_int8_quantization_is_checked_and_reported(tmp_path: Path, torch_sources: dict[str, Any]) -> None:
    result = convert(torch_sources["module"], out=tmp_path / "q", quantize="int8")
    m = result.manifest
    q = m["optimization"]["quantization"]
    assert q["mode"] == "dynamic-int8" and q["size_bytes_after"] > 0 and "run_ms_before" not in q
    measured = result.report["quantization"]
    assert measured["run_ms_before"] > 0 and measured["run_ms_after"] > 0
    assert measured["verdict"] in ("faster", "slower", "no measurable change")
    assert m["parity"]["final_stage"] == "quantized"
    assert set(m["parity"]["stages"]) == {"converted", "optimized", "quantized"}
    assert m["parity"]["tolerance"]["y"]["atol"] >= 1e-2 and m["parity"]["tolerance"]["y"]["rtol"] == 5e-2
    assert_answers_like_manifest(tmp_path / "q")


def test_offline_optimization_folds_batchnorm(tmp_path: Path) -> None:
    import onnx

    source = builders.onnx_conv_bn(tmp_path / "convbn.onnx")
    convert(source, out=tmp_path / "opt")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "opt" / MODEL_FILE)).graph.node}
    assert "BatchNormalization" not in ops and ops & {"Conv", "FusedConv"}


def test_weights_as_external_data_for_memory_mapping(tmp_path: Path) -> None:
    out = tmp_path / "ext"
    result = convert(builders.onnx_linear(tmp_path / "m.onnx", features=64, outputs=32), out=out, external_data=True)
    (entry,) = result.manifest["model"]["external_data"]
    assert entry["file"] == "model.onnx.data" and entry["sha256"] == sha256_file(str(out / "model.onnx.data"))
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, MODEL_FILE, "model.onnx.data"]
    assert_answers_like_manifest(out)


def test_torch_conv_needs_a_sample_and_fixed_batch_is_reported(tmp_path: Path) -> None:
    torch = builders.need("torch", "torch")

    from deployer.errors import ConfigError

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    with pytest.raises(ConfigError, match="pass a sample"):
        convert(net, out=tmp_path / "none")
    images = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    fixed = torch.export.export(net, (torch.from_numpy(images[:4]),))  # no dynamic_shapes: batch 4
    torch.export.save(fixed, str(tmp_path / "fixed.pt2"))
    result = convert(tmp_path / "fixed.pt2", out=tmp_path / "fixed")
    # exported again from ep.module() with a dynamic batch, checked against the batch-4 original
    assert result.manifest["inputs"][0]["shape"] == ["batch", 3, 16, 16]
    assert any("fixed batch of 4" in note and "dynamic batch" in note for note in result.manifest["notes"])
    assert result.manifest["parity"]["rows"] == 64 and result.manifest["parity"]["passed"]
    status, answer, _ = infer_rows(tmp_path / "fixed", images[:3])
    assert status == 200 and answer["outputs"][0]["shape"] == [3, 2]

    class Specialized(torch.nn.Module):  # the graph itself depends on the batch size
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return self.net(x).reshape(4, 2)

    pinned = torch.export.export(Specialized().eval(), (torch.from_numpy(images[:4]),))
    torch.export.save(pinned, str(tmp_path / "pinned.pt2"))
    result = convert(tmp_path / "pinned.pt2", out=tmp_path / "pinned")
    assert result.manifest["inputs"][0]["shape"] == [4, 3, 16, 16]
    assert any("stays fixed at 4" in note and "specializes the batch dimension to the constant 4" in note
               for note in result.manifest["notes"]), result.manifest["notes"]
    assert result.manifest["parity"]["rows"] == 64  # 16 chunks of the fixed batch
    dynamic = convert(net, out=tmp_path / "dyn", sample=tmp_path / "images.npy")
    assert dynamic.manifest["inputs"][0]["shape"] == ["batch", 3, 16, 16]
    assert dynamic.manifest["baseline"]["x"]["per"] == "channel"
    assert_answers_like_manifest(tmp_path / "dyn")
