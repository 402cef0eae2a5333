"""The REST API: routes the handler serves, auth, throttling, binary bodies.

Routes are SAM `Api` events on the function (SAM then writes the OpenAPI body, the integration
to the `live` alias and one `AWS::Lambda::Permission` per route). Path parameters are plain
`{name}` / `{version}`; the handler checks the name and answers 404 for another model.

TF Serving's `POST /v1/models/{name}:predict`. API Gateway allows a path parameter only as a
whole path part (`{name}:predict` is rejected on import: "curly braces at the beginning and the
end"), and a literal `iris:predict` part ties the API to the model's name and depends on `:`
being accepted in resource paths. But `iris:predict` is one path segment, the same segment as
`{name}`: so the route is `POST /v1/models/{name}`, `name` captures `iris:predict`, and the
handler (functions/app.py `_v1`) splits the verb off at the colon and answers 404 for verbs it
does not serve (`:predict` and `:classify` are served). Same for `/v1/models/{name}/versions/{version}`
(`3:predict`). TorchServe's routes (`/ping`, `/predictions/...`, `/models/...`) are plain. No `{proxy+}`
catch-all is needed, so unknown paths are refused by API Gateway itself, before any invocation.

Auth. `iam` (default): `AWS_IAM` on every method, with `InvokeRole: NONE`: SAM's default for
AWS_IAM is to call Lambda *with the caller's credentials* (integration credentials
`arn:aws:iam::*:user/*`), which would make every caller need `lambda:InvokeFunction` too; NONE
makes API Gateway use the function's resource policy (SAM adds the permissions).
`api_key`: API keys with a per-API usage plan (throttle + optional quota). `none`: no auth,
only with `api.allow_unauthenticated` (config.py refuses it otherwise; the report warns).
Throttling applies to the stage in every mode (MethodSettings on `/*`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from deployer.config import DeployConfig
from deployer.template.names import API, ref, sub

__all__ = ["Route", "ROUTES", "BINARY_MEDIA_TYPES", "api_resource", "api_events"]


class Route(NamedTuple):
    event: str  # the SAM event's name (a logical-id fragment: letters and digits)
    method: str
    path: str


ROUTES: tuple[Route, ...] = (
    Route("HealthLive", "GET", "/v2/health/live"),
    Route("HealthReady", "GET", "/v2/health/ready"),
    Route("ServerMetadata", "GET", "/v2"),
    Route("ModelMetadata", "GET", "/v2/models/{name}"),
    Route("ModelReady", "GET", "/v2/models/{name}/ready"),
    Route("Infer", "POST", "/v2/models/{name}/infer"),
    Route("VersionMetadata", "GET", "/v2/models/{name}/versions/{version}"),
    Route("VersionReady", "GET", "/v2/models/{name}/versions/{version}/ready"),
    Route("VersionInfer", "POST", "/v2/models/{name}/versions/{version}/infer"),
    Route("TfStatus", "GET", "/v1/models/{name}"),
    Route("TfPredict", "POST", "/v1/models/{name}"),  # /v1/models/iris:predict
    Route("TfMetadata", "GET", "/v1/models/{name}/metadata"),
    Route("TfVersionStatus", "GET", "/v1/models/{name}/versions/{version}"),
    Route("TfVersionPredict", "POST", "/v1/models/{name}/versions/{version}"),  # .../versions/3:predict
    Route("TfVersionMetadata", "GET", "/v1/models/{name}/versions/{version}/metadata"),
    Route("TsPing", "GET", "/ping"),  # TorchServe's inference and management APIs (functions/torchserve.py)
    Route("TsPredict", "POST", "/predictions/{name}"),
    Route("TsVersionPredict", "POST", "/predictions/{name}/{version}"),
    Route("TsDescribe", "GET", "/models/{name}"),
    Route("TsVersionDescribe", "GET", "/models/{name}/{version}"),
    Route("OpenApi", "GET", "/openapi.json"),
)

# The KServe binary tensor extension's body type. SAM writes `~1` for `/` in this list (it
# is a JSON-pointer-escaped value in the OpenAPI body) and turns it back into `/`.
BINARY_MEDIA_TYPES = ("application~1octet-stream",)


def api_resource(config: DeployConfig) -> dict[str, Any]:
    api = config.api
    properties: dict[str, Any] = {
        "Name": sub("${AWS::StackName}"),
        "Description": f"KServe v2, TF Serving and TorchServe REST endpoint of the model {config.name}",
        "StageName": api.stage,
        # 3.x: SAM then creates only the named stage (with 2.0 it adds a stray "Stage" stage).
        "OpenApiVersion": "3.0.1",
        "EndpointConfiguration": {"Type": "REGIONAL"},
        "BinaryMediaTypes": list(BINARY_MEDIA_TYPES),
        "MethodSettings": [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": api.throttle.rate,
                "ThrottlingBurstLimit": api.throttle.burst,
            }
        ],
    }
    auth = _auth(config)
    if auth:
        properties["Auth"] = auth
    return {"Type": "AWS::Serverless::Api", "Properties": properties}


def _auth(config: DeployConfig) -> dict[str, Any] | None:
    api = config.api
    if api.auth == "iam":
        return {"DefaultAuthorizer": "AWS_IAM", "InvokeRole": "NONE"}
    if api.auth == "api_key":
        plan: dict[str, Any] = {
            "CreateUsagePlan": "PER_API",
            "Description": f"API keys for the model {config.name}",
            "Throttle": {"RateLimit": api.throttle.rate, "BurstLimit": api.throttle.burst},
        }
        if api.quota is not None:
            plan["Quota"] = {"Limit": api.quota.limit, "Period": api.quota.period}
        return {"ApiKeyRequired": True, "UsagePlan": plan}
    return None


def api_events(config: DeployConfig) -> dict[str, Any]:
    """The function's `Events`: one `Api` event per route, in ROUTES order."""
    return {
        route.event: {
            "Type": "Api",
            "Properties": {
                "RestApiId": ref(API),
                "Path": route.path,
                "Method": route.method,
                "TimeoutInMillis": config.gateway_timeout_ms,
            },
        }
        for route in ROUTES
    }
