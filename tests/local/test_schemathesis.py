"""schemathesis against the served `/openapi.json` of the bundled iris model (issue 13 #8).

The real runtime on loopback (emulator, runtime client, gateway). Every operation of the document
gets schema-valid requests (positive mode) and invalid ones (negative mode), derandomized and
bounded (fewer for TorchServe's and TF :classify's bodies, a second pass over the same code). Checked both ways: no 5xx, every answer as the document describes it (status, content
type, body schema), and every schema-valid JSON request accepted. The binary extension's body is
bytes that no schema describes, so its generated bodies only have to be refused as documented.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from deployer.local import LocalEndpoint
from tests.local.conftest import IRIS, Recorder

pytestmark = pytest.mark.local

POSITIVE_EXAMPLES = 50  # per KServe v2 / TF :predict operation with a body; GETs have only their path to vary
NEGATIVE_EXAMPLES = 15
NEW_POSITIVE, NEW_NEGATIVE = 20, 8  # per TorchServe /predictions and TF :classify operation (4 of them)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def iris() -> Iterator[LocalEndpoint]:
    with LocalEndpoint(IRIS, output=Recorder()) as endpoint:
        yield endpoint


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_on_the_served_document(iris: LocalEndpoint, mode: GenerationMode) -> None:
    document = iris.request("GET", "/openapi.json")
    assert document.status == 200, document.body
    schema = schemathesis.openapi.from_dict(document.json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 23  # KServe v2 and TF Serving 16, TorchServe 5, TF :classify 2
    session = requests.Session()
    calls = 0
    for operation in operations:
        has_body = operation.method.upper() == "POST"
        if mode is GenerationMode.NEGATIVE and not has_body:
            continue  # a GET's only parameter is an enum: its negatives are 404s, covered by the unit tests
        first = operation.path.startswith(("/v1", "/v2")) and not operation.path.endswith(":classify")
        positive, negative = (POSITIVE_EXAMPLES, NEGATIVE_EXAMPLES) if first else (NEW_POSITIVE, NEW_NEGATIVE)
        count = (positive if mode is GenerationMode.POSITIVE else negative) if has_body else 3

        @settings(max_examples=count, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode))
        def exchange(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=iris.url, session=session, timeout=30)
            checks = list(CHECKS)
            if mode is GenerationMode.POSITIVE and case.media_type != "application/octet-stream":
                checks.append(positive_data_acceptance)
            case.validate_response(response, checks=checks)

        exchange()
    assert calls >= 50
