"""In-process handler fixtures: a Service per model, events built like API Gateway's."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from functions.app import Service
from functions.tensors import Limits
from tests.models import two_input_folder

EVENTS = Path(__file__).resolve().parents[2] / "events"


class Context:
    aws_request_id = "11111111-2222-3333-4444-555555555555"
    function_name = "onnx-lambda-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:onnx-lambda-test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return self.json()["error"]


def rest_event(method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None,
               b64: bool = False) -> dict[str, Any]:
    if isinstance(body, bytes) and not b64:
        body = body.decode()
    if b64 and body is not None:
        body = base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode()
    return {
        "httpMethod": method,
        "path": path,
        "headers": {"Content-Type": "application/json"} if headers is None else headers,
        "body": body,
        "isBase64Encoded": b64,
        "requestContext": {"stage": "prod", "requestId": "r-1"},
    }


class Client:
    """Calls a Service's handler with REST API events, as API Gateway would."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def call(self, event: Any) -> Any:
        return self.service.handler(event, Context())

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                b64: bool = False) -> Answer:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        raw = self.call(rest_event(method, path, body, headers, b64))
        payload = raw["body"]
        data = base64.b64decode(payload) if raw.get("isBase64Encoded") else payload.encode()
        return Answer(raw["statusCode"], raw["headers"], data)

    def infer(self, name: str, body: Any, **kw: Any) -> Answer:
        return self.request("POST", f"/v2/models/{name}/infer", body, **kw)


@pytest.fixture(scope="session")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_input_folder(tmp_path_factory.mktemp("pair"))


@pytest.fixture()
def pair(pair_dir: Path) -> Client:
    return Client(Service(str(pair_dir), Limits({"MAX_BATCH_SIZE": "64"})))


@pytest.fixture(scope="session")
def pair_session(pair_dir: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(pair_dir / "model.onnx"), providers=["CPUExecutionProvider"])
