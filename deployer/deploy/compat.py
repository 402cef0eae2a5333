"""What the endpoint can deploy: AWS, the deployer's own emulator, a bare moto server, or unknown.

Only asked when `AWS_ENDPOINT_URL` points somewhere else than AWS. One short GET, to that
endpoint only:

    GET /_onnx-lambda/emulator   200 → the local cloud's emulator (deployer/local/cloud/emulator/):
                                  moto plus the resource types it lacks; deploys the template as is
    GET /moto-api/config         200 → a bare moto server

moto's CloudFormation (5.x) has no model for some types SAM's translation holds (the function's
alias, the API stage, CodeDeploy, CloudWatch alarms): it skips them, and a resource that `Ref`s
one then gets no value and fails (the permissions name the alias). For a bare moto endpoint,
`adapt` therefore removes the resources that `Ref`/`GetAtt` a skipped one (transitively), and
returns what will not exist there; the push reports it (`left_out` in `--json`, one warning
line). Nothing is ever left out for AWS or the deployer's emulator:
there, what was translated is what is deployed.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer.template.refs import depends_on, template_refs

__all__ = ["EndpointKind", "probe_endpoint", "adapt", "MOTO_UNSUPPORTED", "MARKER_PATH"]

MARKER_PATH = "/_onnx-lambda/emulator"
# Types the deployer's templates use that moto 5.x's CloudFormation cannot create.
MOTO_UNSUPPORTED = frozenset(
    {
        "AWS::Lambda::Alias", "AWS::ApiGateway::Stage", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlan",
        "AWS::ApiGateway::UsagePlanKey", "AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup",
        "AWS::CloudWatch::Alarm",
    }
)  # fmt: skip

# Types moto has, but that fail on what SAM writes: removed for a bare moto endpoint, with why.
MOTO_FAILING = {
    "AWS::ApiGateway::Deployment": "moto's AWS::ApiGateway::RestApi ignores the OpenAPI Body, so the API has no "
    "method and moto refuses to deploy it",
}

Fetch = Callable[[str], tuple[int, bytes]]


@dataclass(frozen=True)
class EndpointKind:
    kind: str  # "aws" | "emulator" | "moto" | "unknown"
    url: str | None = None
    unsupported: frozenset[str] = frozenset()
    failing: Mapping[str, str] = field(default_factory=dict)

    @property
    def runs_functions(self) -> bool:
        """Whether a request to the stack's API URL would run the function (only on AWS)."""
        return self.kind == "aws"

    def describe(self) -> str:
        return {
            "aws": "AWS",
            "emulator": f"the deployer's AWS emulator at {self.url}",
            "moto": f"a moto server at {self.url}",
            "unknown": f"the custom endpoint {self.url}",
        }[self.kind]


def probe_endpoint(url: str | None, *, fetch: Fetch | None = None) -> EndpointKind:
    if not url:
        return EndpointKind("aws")
    get = fetch or _fetch
    base = url.rstrip("/")
    status, body = _safe(get, base + MARKER_PATH)
    if status == 200 and _json(body).get("emulator") == "onnx-lambda-deployer":
        return EndpointKind("emulator", url)
    status, body = _safe(get, base + "/moto-api/config")
    if status in (200, 201) and _json(body):
        return EndpointKind("moto", url, MOTO_UNSUPPORTED, MOTO_FAILING)
    return EndpointKind("unknown", url)


def adapt(
    template: Mapping[str, Any], unsupported: frozenset[str], failing: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """What a bare moto endpoint can deploy of `template`, and what of it will not exist there.

    Resources of `unsupported` types stay in the template (moto skips them, and `${X}` in an
    `Fn::Sub` that names one stays text); resources that `Ref`/`GetAtt` one (transitively) are
    removed, since they would get no value and fail; so are outputs that name a missing one.
    """
    result = copy.deepcopy(dict(template))
    resources: dict[str, Any] = result.get("Resources", {})
    skipped = {k: f"not created: moto has no {v['Type']}" for k, v in resources.items() if v.get("Type") in unsupported}
    removed = {k: f"removed: {failing[v['Type']]}" for k, v in resources.items() if v.get("Type") in (failing or {})}
    changed = bool(skipped) or bool(removed)
    while changed:
        changed = False
        for logical_id, resource in resources.items():
            if logical_id in skipped or logical_id in removed:
                continue
            needs = template_refs(resource.get("Properties", {}), sub_text=False) | depends_on(resource)
            lost = sorted(needs & (set(skipped) | set(removed)))
            if lost:
                removed[logical_id] = f"removed: refers to {', '.join(lost)}"
                changed = True
    gone = set(skipped) | set(removed)
    left_out = [{"logical_id": k, "type": resources[k]["Type"], "reason": why}
                for k, why in sorted({**skipped, **removed}.items())]  # fmt: skip
    for logical_id in removed:
        del resources[logical_id]
    outputs = result.get("Outputs", {})
    for name in [n for n, o in outputs.items() if template_refs(o) & gone]:
        del outputs[name]
    return result, left_out


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - the user's endpoint
            return response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _safe(get: Fetch, url: str) -> tuple[int, bytes]:
    try:
        return get(url)
    except (OSError, ValueError):
        return 0, b""


def _json(body: bytes) -> Any:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
