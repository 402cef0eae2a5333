"""Scaler + tree ensembles: parity holds at split thresholds (scalers convert with div_cast)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

from deployer.model import convert


@pytest.mark.parametrize("scaler", [StandardScaler, RobustScaler])
def test_scaler_and_random_forest_from_joblib(tmp_path: Path, scaler: type) -> None:
    x, y = load_wine(return_X_y=True)
    pipe = make_pipeline(scaler(), RandomForestClassifier(n_estimators=20, random_state=0)).fit(x, y)
    joblib.dump(pipe, tmp_path / "wine.joblib")
    sample = x[:80].astype(np.float32)
    result = convert(tmp_path / "wine.joblib", out=tmp_path / "out", trust_pickle=True, sample=sample)
    parity = result.summary()["parity"]
    assert parity["passed"] and parity["label_agreement"] == 1.0
    assert parity["max_abs_error"]["probabilities"] < 1e-4
