"""Write the README's example inputs under build/examples/: small, deterministic, outside tracked paths.

    python -m examples.make            the README's examples: churn (scikit-learn) and net (torch)
    python -m examples.make keras      a Keras one too (TensorFlow's import alone takes ~7 s)
    python -m examples.make --out DIR  elsewhere

What it writes (a few KB each; the same bytes of data on every run: fixed seeds, no clock):

    churn.joblib   scikit-learn pipeline (scaler + logistic regression) on a synthetic churn table
    churn-v2.joblib  the same pipeline retrained (stronger regularization): a second model version
    rows.csv       200 rows of that table with a header: the `convert --sample` of the churn model
    golden.json    3 rows and the labels the scikit-learn model gives them: a `push --golden` file
    net.pt2        a torch MLP exported with torch.export, dynamic batch (needs the `torch` extra)
    net.keras      a Keras MLP, on request (needs the `tensorflow` extra)

The models are trained here rather than shipped so that the repository holds no binaries, and
build/ (git-ignored) is where every README command writes.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "build" / "examples"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_months", "late_payments", "data_gb"]


def churn_table(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic churn table: six numeric features, churn more likely with calls and late payments."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([
        rng.integers(1, 72, rows), rng.uniform(20, 120, rows), rng.poisson(1.5, rows),
        rng.choice([1, 12, 24], rows), rng.poisson(0.5, rows), rng.gamma(2.0, 8.0, rows),
    ]).astype(np.float32)  # fmt: skip
    score = 0.9 * x[:, 2] + 1.2 * x[:, 4] - 0.05 * x[:, 0] - 0.04 * x[:, 3] + 0.01 * x[:, 1] - 0.5
    y = (score + rng.normal(0, 0.5, rows) > 0).astype(np.int64)
    return x, y


def make_churn(out: Path) -> list[Path]:
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = churn_table()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=0)).fit(x, y)
    joblib.dump(model, out / "churn.joblib")
    retrained = make_pipeline(StandardScaler(), LogisticRegression(C=0.2, max_iter=500, random_state=0)).fit(x, y)
    joblib.dump(retrained, out / "churn-v2.joblib")
    with (out / "rows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FEATURES)
        writer.writerows([[_num(v) for v in row] for row in x[:200]])
    held_out = x[200:]
    rows = np.array([[_num(v) for v in row] for row in held_out], dtype=np.float32)  # as the file will hold them
    agree = rows[model.predict(rows) == retrained.predict(rows)][:3]  # either version passes it
    golden = {
        "description": "three held-out customers and the churn labels both pipelines give them",
        "inputs": {"X": [[_num(v) for v in row] for row in agree]},
        "outputs": {"label": [int(v) for v in retrained.predict(agree)]},
    }
    (out / "golden.json").write_text(json.dumps(golden) + "\n")
    return [out / "churn.joblib", out / "churn-v2.joblib", out / "rows.csv", out / "golden.json"]


def _num(value: float) -> float | int:
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else round(as_float, 4)


def make_net(out: Path) -> list[Path]:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    example = (torch.randn(8, 5),)
    program = torch.export.export(model, example, dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(out / "net.pt2"))
    return [out / "net.pt2"]


def make_keras(out: Path) -> list[Path]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    model.save(out / "net.keras")
    return [out / "net.keras"]


# name → (maker, the module it needs, the extra that installs it)
EXAMPLES: dict[str, tuple[Callable[[Path], list[Path]], str, str]] = {
    "churn": (make_churn, "sklearn", "sklearn"),
    "net": (make_net, "torch", "torch"),
    "keras": (make_keras, "keras", "tensorflow"),
}
DEFAULT = ["churn", "net"]  # what the README uses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.make",
                                     description=(__doc__ or "").splitlines()[0])  # fmt: skip
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"{', '.join(EXAMPLES)} (default: {' '.join(DEFAULT)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder (default {DEFAULT_OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    names = args.names or DEFAULT
    unknown = [name for name in names if name not in EXAMPLES]
    if unknown:
        parser.error(f"unknown example {unknown[0]!r}; choose from {', '.join(EXAMPLES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        make, module, extra = EXAMPLES[name]
        if importlib.util.find_spec(module) is None:
            print(f"error: {name} needs the {extra!r} extra: pip install -e '.[{extra}]'", file=sys.stderr)
            return 1
        for path in make(args.out):
            print(f"wrote {_shown(path)}", file=sys.stderr)
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
