"""Train the bundled example and write its deployable artifact.

A scikit-learn pipeline (standard scaler + logistic regression) on the iris data set that ships
with scikit-learn, converted with skl2onnx. Writes `examples/iris/model/model.onnx` and its
`manifest.json`. Deterministic: the same library versions give the same bytes.

    python examples/iris/train.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from functions.manifest import MODEL_FILE, SCHEMA_VERSION, sha256_file, validate_manifest  # noqa: E402

OUT = Path(__file__).resolve().parent / "model"


def main() -> None:
    data = load_iris()
    x = data.data.astype(np.float32)
    y = data.target
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=0))
    pipe.fit(x, y)

    onx = to_onnx(
        pipe,
        x[:1],
        target_opset=17,
        options={id(pipe.steps[-1][1]): {"zipmap": False}},
    )
    OUT.mkdir(parents=True, exist_ok=True)
    model_path = OUT / MODEL_FILE
    onnx.save(onx, model_path)

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    label, proba = sess.run(None, {in_name: x})
    agreement = float((label == pipe.predict(x)).mean())
    max_abs = float(np.abs(proba - pipe.predict_proba(x)).max())

    sample_rows = x[[0, 50, 100]]
    s_label, s_proba = sess.run(None, {in_name: sample_rows})
    digest = sha256_file(str(model_path))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": "iris",
        "version": digest[:12],
        "model": {
            "file": MODEL_FILE,
            "sha256": digest,
            "size_bytes": model_path.stat().st_size,
            "opset": 17,
            "ir_version": onx.ir_version,
            "producer": f"{onx.producer_name} {onx.producer_version}",
        },
        "runtime": {"onnxruntime": ort.__version__, "optimized": None},
        "inputs": [{"name": in_name, "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        ],
        "labels": [str(n) for n in data.target_names],
        "parity": {"rows": int(len(x)), "label_agreement": agreement, "max_abs_error": max_abs},
        "baseline": {
            in_name: {
                "features": list(data.feature_names),
                "mean": x.mean(axis=0).round(6).tolist(),
                "std": x.std(axis=0).round(6).tolist(),
                "min": x.min(axis=0).tolist(),
                "max": x.max(axis=0).tolist(),
            }
        },
        "sample": {
            "inputs": {in_name: sample_rows.tolist()},
            "outputs": {"label": s_label.tolist(), "probabilities": s_proba.round(6).tolist()},
        },
    }
    validate_manifest(manifest)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes), label agreement {agreement:.0%}")


if __name__ == "__main__":
    main()
