"""The smoke test of an AWS deployment: the sample, signed as the API's auth wants, to the API URL.

Only sent when the endpoint is AWS. An emulator endpoint (a moto server, the deployer's own
emulator reached through AWS_ENDPOINT_URL) creates the API but cannot run a Lambda function,
and its API URL names execute-api.amazonaws.com, which is not that emulator: the result is
`skipped`, with that reason, and nothing is sent anywhere.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from deployer.config import DeployConfig
from deployer.deploy.context import Services
from deployer.deploy.push import SmokeContext
from deployer.deploy.smoke import SmokeResult, skipped, smoke_test

__all__ = ["aws_smoke"]

ATTEMPTS = 3


def aws_smoke(
    context: SmokeContext,
    *,
    opener: Callable[..., Any] = urllib.request.urlopen,
    sleep: Callable[[float], None] = time.sleep,
) -> SmokeResult:
    manifest, config, outputs, services = context.manifest, context.config, context.outputs, context.services
    url = outputs.get("ApiUrl", "")
    if not services.endpoint.runs_functions:
        return skipped(
            f"{services.endpoint.describe()} deploys the stack but cannot run Lambda functions, and the API URL "
            f"it reports ({url or 'none'}) is not served by it: no request was sent"
        )
    if not url:
        return skipped("the stack has no ApiUrl output: no request was sent")
    return smoke_test(_sender(url, config, outputs, services, opener, sleep), manifest)


def _sender(
    base: str,
    config: DeployConfig,
    outputs: Mapping[str, str],
    services: Services,
    opener: Callable[..., Any],
    sleep: Callable[[float], None],
) -> Callable[[str, str, bytes, Mapping[str, str]], tuple[int, bytes]]:
    def send(method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        url = base.rstrip("/") + path
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(url, data=body, headers=_auth_headers(method, url, body, headers, config,
                                                                                   outputs, services), method=method)  # fmt: skip
            try:
                with opener(request, timeout=30) as response:
                    return int(response.status), response.read()
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == ATTEMPTS:
                    return int(exc.code), exc.read()
            sleep(2.0 * attempt)  # a fresh stage can answer 5xx for its first seconds
        raise AssertionError("unreachable")

    return send


def _auth_headers(
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    config: DeployConfig,
    outputs: Mapping[str, str],
    services: Services,
) -> dict[str, str]:
    out = dict(headers)
    if config.api.auth == "iam" and services.aws is not None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = services.aws.credentials().get_frozen_credentials()
        request = AWSRequest(method=method, url=url, data=body, headers=out)
        SigV4Auth(credentials, "execute-api", services.region).add_auth(request)
        return dict(request.headers.items())
    if config.api.auth == "api_key" and services.apigateway is not None and outputs.get("ApiKeyId"):
        key = services.apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)
        out["x-api-key"] = key["value"]
    return out
