"""The functional tier: AWS APIs against moto servers on 127.0.0.1, the CLI as a subprocess.

Two servers, one per session:
- `moto_url`: a bare moto server (`python -m moto.server`, a subprocess), as the acceptance
  check runs it: what `push --target aws` does with AWS_ENDPOINT_URL at plain moto.
- `emulator`: the local cloud's emulator (deployer/local/cloud/emulator/) in this process, so a
  test can also register a failing resource model in it (failing_models.py).

`cli(...)` runs `python -m deployer` with fake credentials and AWS_ENDPOINT_URL set explicitly,
and with no AWS config file: nothing can reach AWS. Each test gets fresh server state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "iris" / "model"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **FAKE_CREDENTIALS},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not _answers(url + "/moto-api/config"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the moto server did not start")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    urllib.request.urlopen(urllib.request.Request(moto_server + "/moto-api/reset", method="POST"), timeout=10).close()
    return moto_server


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Any]:
    from deployer.local.cloud.emulator import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Any) -> Any:
    emulator_server.reset()
    return emulator_server


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line on stdout, got {self.stdout!r}\nstderr: {self.stderr}"
        return dict(json.loads(lines[0]))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def cli_env(project: Path, endpoint: str | None, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "ONNX_LAMBDA_CACHE_DIR": str(project / ".cache"),
        "SAM_CLI_TELEMETRY": "0",
        "AWS_EC2_METADATA_DISABLED": "true",  # no credential lookup leaves the machine
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
    }
    if endpoint is not None:
        env.update(FAKE_CREDENTIALS)
        env["AWS_ENDPOINT_URL"] = endpoint
    env.update(extra)
    return env


def cli(*args: str, project: Path, endpoint: str | None, timeout: float = 120, **extra: str) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "deployer", *args], cwd=project, env=cli_env(project, endpoint, **extra),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def model_variant(folder: Path, tag: str) -> Path:
    """A copy of the bundled example whose model file differs (a doc string): another version."""
    import onnx

    target = folder / f"model-{tag}"
    if target.exists():
        return target
    shutil.copytree(EXAMPLE, target)
    model = onnx.load(str(target / "model.onnx"))
    model.doc_string = f"variant {tag}"
    onnx.save(model, str(target / "model.onnx"))
    data = (target / "model.onnx").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["model"].update({"sha256": digest, "size_bytes": len(data)})
    manifest["version"] = digest[:12]
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


def boto(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing").client(
        service, region_name="us-east-1", endpoint_url=endpoint
    )
