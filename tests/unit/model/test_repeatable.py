"""Issue 11 #1: every byte `convert` writes into the model folder is a function of the inputs.

Each framework's model is converted twice, in two processes with different PYTHONHASHSEED values
(1 and 3: skl2onnx's `opset_import` and tf2onnx's generated names come out in a different order
under these two), run side by side to keep the time down; the two folders must be equal byte by
byte (model.onnx, external data, manifest.json), and what was measured must sit beside them.
One subprocess per seed converts all the models of a framework, so TensorFlow and torch are
imported once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from tests.unit.model import builders

ROOT = Path(__file__).resolve().parents[3]
SEEDS = ("1", "3")
_CHILD = """
import json, sys
from deployer.model import convert
for source, out, options in json.loads(sys.argv[1]):
    convert(source, out=out, **options)
"""

Jobs = list[tuple[str, str, dict[str, Any]]]


def _convert_twice(tmp: Path, jobs: Jobs) -> None:
    """Run `jobs` (source, folder name, options) under each seed, in parallel; compare the folders."""
    procs = []
    for seed in SEEDS:
        plan = [(src, str(tmp / f"seed{seed}" / name), opts) for src, name, opts in jobs]
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        procs.append(subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(plan)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    first, second = (tmp / f"seed{seed}" for seed in SEEDS)
    for _, name, _ in jobs:
        a, b = first / name, second / name
        files = sorted(p.name for p in a.iterdir())
        assert files == sorted(p.name for p in b.iterdir()), name
        assert "model.onnx" in files and "manifest.json" in files
        assert not [f for f in files if "report" in f], f"{name}: a measurement inside the model folder: {files}"
        for file in files:
            assert (a / file).read_bytes() == (b / file).read_bytes(), f"{name}/{file} differs between hash seeds"
        report = json.loads(a.with_name(name + ".convert-report.json").read_text())
        assert report["version"] == json.loads((a / "manifest.json").read_text())["version"]
        assert report["original"]["session_ms"] > 0 and report["artifact"]["run_ms"] > 0


def test_sklearn_and_onnx_are_repeatable(tmp_path: Path) -> None:
    pipe, x = builders.iris_pipeline("forest")
    joblib.dump(pipe, tmp_path / "forest.joblib")
    np.savetxt(tmp_path / "rows.csv", x, delimiter=",", header="a,b,c,d", comments="")
    regressor, _ = builders.regressor()
    joblib.dump(regressor, tmp_path / "regressor.joblib")
    jobs: Jobs = [
        (str(tmp_path / "forest.joblib"), "forest", {"trust_pickle": True, "sample": str(tmp_path / "rows.csv")}),
        (str(tmp_path / "regressor.joblib"), "regressor", {"trust_pickle": True}),
        (str(builders.onnx_conv_bn(tmp_path / "convbn.onnx")), "convbn", {}),
        (str(builders.onnx_linear(tmp_path / "wide.onnx", features=64, outputs=32)), "external",
         {"external_data": True}),
    ]
    _convert_twice(tmp_path / "out", jobs)


def test_torch_is_repeatable(tmp_path: Path, torch_sources: dict[str, Any]) -> None:
    jobs: Jobs = [(str(torch_sources[kind]), kind, {}) for kind in ("export-fixed", "torchscript")]
    _convert_twice(tmp_path / "out", jobs)


def test_tensorflow_is_repeatable(tmp_path: Path, keras_sources: dict[str, Any]) -> None:
    jobs: Jobs = [(str(keras_sources[kind]), kind, {}) for kind in ("keras", "tflite")]
    _convert_twice(tmp_path / "out", jobs)


def test_the_seeds_do_change_the_converters_order() -> None:
    """The premise of the tests above: under these seeds skl2onnx really orders `opset_import`
    differently, so equal folders mean the canonical form worked, not that nothing varied."""
    code = ("from tests.unit.model import builders; import skl2onnx\n"
            "from skl2onnx.common.data_types import FloatTensorType\n"
            "from deployer.model.from_sklearn import _scaler_options\n"
            "p, x = builders.iris_pipeline('forest')\n"
            "options = {**_scaler_options(p), id(p.steps[-1][1]): {'zipmap': False}}\n"
            "m = skl2onnx.to_onnx(p, initial_types=[('X', FloatTensorType([None, 4]))], options=options)\n"
            "print([i.domain for i in m.opset_import])")
    orders = []
    for seed in SEEDS:
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        orders.append(proc.stdout.strip())
    assert orders[0] != orders[1], orders
