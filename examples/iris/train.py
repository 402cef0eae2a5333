"""Train the bundled example and write its deployable artifact.

A scikit-learn pipeline (standard scaler + logistic regression) on the iris data set that ships
with scikit-learn, converted by the project's own pipeline (`deployer.convert`: skl2onnx, parity
check on the training rows, offline optimization, manifest). Writes `examples/iris/model/`, whose
bytes are a function of this script and the toolchain's versions (run it twice: `git status` stays
clean); what convert measured goes beside it, to `examples/iris/model.convert-report.json`
(git-ignored).

    python examples/iris/train.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deployer

OUT = Path(__file__).resolve().parent / "model"


def main() -> None:
    data = load_iris()
    x = data.data.astype(np.float32)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=0))
    pipe.fit(x, data.target)
    result = deployer.convert(pipe, sample=x, out=OUT, name="iris", labels=[str(n) for n in data.target_names])
    parity = result.summary()["parity"]
    print(f"wrote {result.model_path}: label agreement {parity['label_agreement']:.0%} on {parity['rows']} rows; "
          f"measurements in {result.report_path}")


if __name__ == "__main__":
    main()
