"""Every route the API routes to the function is one the handler answers, `:predict` included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deployer.template.api import ROUTES
from functions.app import Service
from tests.unit.template.conftest import EXAMPLE, iris_manifest

ROW = [5.1, 3.5, 1.4, 0.2]
BODIES = {
    "Infer": {"inputs": [{"name": "X", "datatype": "FP32", "shape": [1, 4], "data": ROW}]},
    "TfPredict": {"instances": [ROW]},
    "TsPredict": ROW,
}
# What a client calls for each POST route whose last path part carries the TF Serving verb.
VERB_SUFFIX = {"TfPredict": ":predict", "TfVersionPredict": ":predict"}


class Context:
    aws_request_id = "req-1"


@pytest.fixture(scope="module")
def service() -> Service:
    return Service(str(EXAMPLE))


def _event(method: str, path: str, body: Any) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "path": path,
        "headers": {"Content-Type": "application/json"},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"stage": "live", "requestId": "r-1"},
    }


@pytest.mark.parametrize("route", ROUTES, ids=[r.event for r in ROUTES])
def test_handler_answers_every_api_route(service: Service, route: Any) -> None:
    from functions import tfserving

    manifest = iris_manifest()
    # KServe routes take the content hash; TF Serving's take its int64 version (tfserving.version_number)
    version = str(tfserving.version_number(service.need_model())) if route.path.startswith("/v1/") else manifest["version"]
    path = route.path.replace("{name}", manifest["name"]).replace("{version}", version)
    path += VERB_SUFFIX.get(route.event, "")
    body = BODIES.get(route.event.replace("Version", ""), None) if route.method == "POST" else None
    response = service.handler(_event(route.method, path, body), Context())
    assert response["statusCode"] == 200, (path, response.get("body"))


def test_predict_and_classify_are_the_only_verbs_served_on_the_name_route(service: Service) -> None:
    response = service.handler(_event("POST", "/v1/models/iris:regress", BODIES["TfPredict"]), Context())
    assert response["statusCode"] == 404
