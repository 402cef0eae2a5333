"""The Python API for real: an in-memory scikit-learn pipeline converted, invoked under the local
runtime, pushed to a local cloud of its own, read back, and that cloud stopped (issue 11 #8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import deployer
from deployer.errors import DeployerError
from tests.unit.model import builders


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    yield tmp_path
    from deployer.local.cloud import client

    client.stop(tmp_path)


def test_convert_invoke_push_status(project: Path) -> None:
    pipe, x = builders.iris_pipeline()
    model = deployer.convert(pipe, sample=x[:40], out=project / "iris", name="iris")
    assert model.name == "iris" and model.model_path.is_file() and model.summary()["parity"]["passed"]

    answer = deployer.invoke(model.out, {"instances": x[:2].tolist()})
    assert answer.status == 200 and answer.path == "/v1/models/iris:predict"
    predictions = answer.json()["predictions"]
    assert [p["label"] for p in predictions] == pipe.predict(x[:2]).tolist()
    assert json.loads(json.dumps(answer.summary()))["status"] == 200

    pushed = deployer.push(model.out, project=project)
    assert pushed.target == "local" and pushed.smoke_test.status == "passed"
    assert pushed.url.startswith("http://127.0.0.1:")
    now = deployer.status(model.out, project=project)
    assert isinstance(now, deployer.StackStatus)
    assert now.stack == pushed.stack and now.url == pushed.url and now.model == "iris" and now.target == "local"
    assert now.summary()["stack"] == pushed.stack


def test_user_errors_are_the_error_tree(tmp_path: Path) -> None:
    with pytest.raises(DeployerError) as caught:
        deployer.invoke(tmp_path / "missing")
    assert caught.value.exit_code != 0 and "missing" in str(caught.value)
