"""The SAM template's contents: function, alias + deployment preference, API, alarms, outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from deployer.config import DeployConfig
from deployer.errors import ModelError
from deployer.template import generate
from deployer.template.alarms import SERVER_ERROR_KINDS
from deployer.template.api import ROUTES
from functions import errors as handler_errors
from functions.metrics import UNITS
from tests.unit.template.conftest import Case, iris_manifest

SPEC_ROUTES = {
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("GET", "/v1/models/{name}"),
    ("GET", "/v1/models/{name}/metadata"),
    ("POST", "/v1/models/{name}"),  # POST /v1/models/{name}:predict, see deployer/template/api.py
    ("GET", "/openapi.json"),
}


def test_iris_function(iris: Case) -> None:
    fn = iris.function
    assert iris.template["Transform"] == "AWS::Serverless-2016-10-31"
    assert fn["PackageType"] == "Image"
    assert fn["ImageUri"] == {"Ref": "ImageUri"}
    assert "Handler" not in fn and "Runtime" not in fn and "CodeUri" not in fn
    assert fn["Architectures"] == ["x86_64"]
    assert (fn["MemorySize"], fn["Timeout"], fn["EphemeralStorage"]) == (1024, 29, {"Size": 512})
    assert fn["Environment"]["Variables"] == {
        "MODEL_PATH": "/opt/model",
        "MODEL_THREADS": "0",
        "MAX_BATCH_SIZE": "1024",
        "POWERTOOLS_SERVICE_NAME": "iris",
        "POWERTOOLS_METRICS_NAMESPACE": "OnnxLambda",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "DRIFT_EVERY_N": "4000",
        "DRIFT_EVERY_S": "60",
        "DRIFT_MIN_ROWS": "200",
        "DRIFT_SAMPLE_ROWS": "500",
        "DRIFT_MAX_FEATURES": "100",
    }
    assert "ProvisionedConcurrencyConfig" not in fn and "ReservedConcurrentExecutions" not in fn
    assert fn["AutoPublishAlias"] == "live"
    assert fn["AutoPublishAliasAllProperties"] is True
    assert fn["DeploymentPreference"]["Type"] == "Canary10Percent5Minutes"
    assert fn["DeploymentPreference"]["Alarms"] == [{"Ref": "ErrorRateAlarm"}, {"Ref": "LatencyAlarm"}]
    assert iris.template["Parameters"]["ImageUri"] == {
        "Type": "String",
        "Description": "The function's container image (an ECR URI when deployed)",
        "Default": f"iris:{iris_manifest()['version']}-x86_64",  # the tag `build` gives an x86_64 image
    }


def test_churn_function_follows_its_config(churn: Case) -> None:
    fn = churn.function
    assert fn["Architectures"] == ["arm64"]
    assert (fn["MemorySize"], fn["Timeout"], fn["EphemeralStorage"]) == (3008, 60, {"Size": 2048})
    assert fn["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert fn["ReservedConcurrentExecutions"] == 5
    assert fn["DeploymentPreference"]["Type"] == "Linear10PercentEvery1Minute"
    env = fn["Environment"]["Variables"]
    assert (env["MODEL_THREADS"], env["MAX_BATCH_SIZE"], env["POWERTOOLS_LOG_LEVEL"]) == ("2", "64", "DEBUG")
    assert (env["POWERTOOLS_SERVICE_NAME"], env["POWERTOOLS_METRICS_NAMESPACE"]) == ("churn_v2.small", "Team/Models")
    assert churn.template["Parameters"]["ImageUri"]["Default"] == "churn-v2-small:0123456789ab-arm64"
    assert churn.resources["ModelFunctionLogGroup"]["Properties"]["RetentionInDays"] == 90


def test_routes_cover_the_issue_and_the_handler(case: Case) -> None:
    events = case.function["Events"]
    got = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert SPEC_ROUTES <= got
    assert len(got) == len(events) == len(ROUTES), "one event per route, no duplicates"
    for event in events.values():
        props = event["Properties"]
        assert event["Type"] == "Api" and props["RestApiId"] == {"Ref": "ModelApi"}
        # API Gateway: a path parameter is a whole path part; no ':' in resource paths
        for part in props["Path"].strip("/").split("/"):
            assert re.fullmatch(r"[A-Za-z0-9._-]+|\{[A-Za-z0-9_]+\}", part), props["Path"]
        assert props["TimeoutInMillis"] == case.config.gateway_timeout_ms
    assert not any("proxy+" in path for _, path in got)


def test_iris_api_uses_iam_without_caller_credentials(iris: Case) -> None:
    api = iris.resources["ModelApi"]
    assert api["Type"] == "AWS::Serverless::Api"
    props = api["Properties"]
    assert props["Auth"] == {"DefaultAuthorizer": "AWS_IAM", "InvokeRole": "NONE"}
    assert props["BinaryMediaTypes"] == ["application~1octet-stream"]
    assert props["StageName"] == "live"
    assert props["MethodSettings"] == [
        {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 100.0, "ThrottlingBurstLimit": 200}
    ]


def test_churn_api_uses_keys_with_a_usage_plan(churn: Case) -> None:
    auth = churn.resources["ModelApi"]["Properties"]["Auth"]
    assert auth["ApiKeyRequired"] is True
    plan = auth["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert plan["Throttle"] == {"RateLimit": 20.0, "BurstLimit": 40}
    assert plan["Quota"] == {"Limit": 10000, "Period": "DAY"}
    assert churn.template["Outputs"]["ApiKeyId"]["Value"] == {"Ref": "ModelApi.ApiKey"}


def test_no_auth_only_when_allowed() -> None:
    config = DeployConfig.model_validate({"api": {"auth": "none", "allow_unauthenticated": True}})
    template = generate(iris_manifest(), config)
    assert "Auth" not in template["Resources"]["ModelApi"]["Properties"]


def test_outputs(case: Case) -> None:
    outputs = case.template["Outputs"]
    assert {"ApiUrl", "FunctionArn", "AliasArn", "ImageUri"} <= set(outputs)
    assert outputs["FunctionArn"]["Value"] == {"Fn::GetAtt": ["ModelFunction", "Arn"]}
    assert outputs["AliasArn"]["Value"] == {"Ref": "ModelFunction.Alias"}
    assert outputs["ImageUri"]["Value"] == {"Ref": "ImageUri"}
    assert "${ModelApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live/" in outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert outputs["ModelName"]["Value"] == case.manifest["name"]


def test_alarms_watch_the_new_version_and_the_handlers_5xx(case: Case) -> None:
    error = case.resources["ErrorRateAlarm"]["Properties"]
    assert error["Threshold"] == case.config.deployment.alarms.error_rate_percent
    assert error["TreatMissingData"] == "notBreaching"
    metrics = {m["Id"]: m for m in error["Metrics"]}
    assert [m["Id"] for m in error["Metrics"] if m["ReturnData"]] == ["errorrate"]
    version = {"Name": "ExecutedVersion", "Value": {"Fn::GetAtt": ["ModelFunction.Version", "Version"]}}
    assert version in metrics["invocations"]["MetricStat"]["Metric"]["Dimensions"]
    assert version in metrics["lambdaerrors"]["MetricStat"]["Metric"]["Dimensions"]
    handler_metrics = [m["MetricStat"]["Metric"] for m in error["Metrics"] if "MetricStat" in m][2:]
    kinds = set()
    for metric in handler_metrics:
        assert metric["Namespace"] == case.config.metrics_namespace
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert (dims["model"], dims["version"], dims["service"]) == (
            case.manifest["name"], case.manifest["version"], case.manifest["name"],
        )
        kinds.add(dims.get("kind"))
    assert kinds == {None, *SERVER_ERROR_KINDS}
    assert len([m for m in error["Metrics"] if "MetricStat" in m]) <= 10  # CloudWatch's limit
    latency = case.resources["LatencyAlarm"]["Properties"]
    assert (latency["Namespace"], latency["MetricName"], latency["ExtendedStatistic"]) == ("AWS/Lambda", "Duration", "p99")
    assert latency["Threshold"] == case.config.deployment.alarms.p99_latency_ms
    assert version in latency["Dimensions"]


def test_the_handler_still_emits_what_alarms_and_dashboard_read() -> None:
    assert {"RequestMs", "InferenceMs", "ColdStart", "ModelLoadMs", "Errors", "BatchSize", "PayloadBytes"} <= set(UNITS)
    five_hundreds = {
        cls.kind for cls in vars(handler_errors).values()
        if isinstance(cls, type) and issubclass(cls, handler_errors.HTTPError) and cls.status >= 500
    }
    assert five_hundreds == set(SERVER_ERROR_KINDS)


def test_dashboard_shows_the_handler_and_lambda_metrics(case: Case) -> None:
    body_sub = case.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    variables = set(re.findall(r"\$\{([^}]*)\}", body_sub))
    literal = {v for v in variables if v.startswith("!PROP(")}  # dynamic labels, escaped for Fn::Sub
    assert variables - literal <= {"AWS::Region", "AWS::StackName"}
    body = json.loads(body_sub)
    text = json.dumps(body)
    for metric in ("RequestMs", "InferenceMs", "ColdStart", "ModelLoadMs", "BatchSize", "PayloadBytes", "Errors",
                   "DriftPSI", "DriftPSIMax", "PredictionClassShare"):
        assert f'MetricName=\\"{metric}\\"' in text, metric
    for metric in ("Invocations", "Throttles", "ConcurrentExecutions"):
        assert f'"{metric}"' in text, metric
    assert "'p50'" in text and "'p99'" in text  # percentiles of SEARCH expressions
    assert "SEARCH(" in text and "kind" in text
    for widget in body["widgets"]:
        assert widget["x"] + widget["width"] <= 24


def test_roles_in_the_sam_template_are_scoped(case: Case) -> None:
    execution = case.resources["ModelFunctionRole"]["Properties"]
    (statement,) = execution["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == {"Fn::GetAtt": ["ModelFunctionLogGroup", "Arn"]}
    assert case.function["Role"] == {"Fn::GetAtt": ["ModelFunctionRole", "Arn"]}
    assert case.function["DeploymentPreference"]["Role"] == {"Fn::GetAtt": ["DeploymentRole", "Arn"]}


def test_a_change_of_config_publishes_a_new_version() -> None:
    def version_of(config: DeployConfig) -> str:
        from deployer.template import translate

        translation = translate(generate(iris_manifest(), config))
        (logical_id,) = [k for k, v in translation["Resources"].items() if v["Type"] == "AWS::Lambda::Version"]
        return logical_id

    assert version_of(DeployConfig()) != version_of(DeployConfig(memory_mb=2048))


@pytest.mark.parametrize("broken", [{"name": 3}, {"inputs": "x"}, {}])
def test_a_bad_manifest_is_a_model_error(broken: dict[str, Any]) -> None:
    manifest = iris_manifest() if broken else {}
    manifest.update(broken)
    with pytest.raises(ModelError):
        generate(manifest, DeployConfig())


def test_handler_series_uses_the_manifest_name_and_the_configured_service() -> None:
    """The handler writes model = the manifest's name and service = POWERTOOLS_SERVICE_NAME."""
    template = generate(iris_manifest(), DeployConfig(name="flowers"))
    resources = template["Resources"]
    env = resources["ModelFunction"]["Properties"]["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "flowers"
    for metric in resources["ErrorRateAlarm"]["Properties"]["Metrics"][2:6]:
        dims = {d["Name"]: d["Value"] for d in metric["MetricStat"]["Metric"]["Dimensions"]}
        assert (dims["model"], dims["service"]) == ("iris", "flowers")
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert 'model=\\"iris\\" service=\\"flowers\\"' in body
    assert resources["DriftAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "model", "Value": "iris"}, {"Name": "version", "Value": iris_manifest()["version"]},
        {"Name": "service", "Value": "flowers"}]


def test_names_cannot_inject_into_the_dashboards_fn_sub() -> None:
    manifest = iris_manifest()
    manifest["name"] = "x${AWS::AccountId}"
    body = generate(manifest, DeployConfig())["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    variables = {v for v in re.findall(r"\$\{([^}]*)\}", body) if not v.startswith("!PROP(")}  # dynamic labels
    assert variables == {"AWS::Region", "AWS::StackName", "!AWS::AccountId"}


def test_build_metadata_goes_on_the_function() -> None:
    metadata = {"Dockerfile": "Dockerfile", "DockerContext": "build/iris", "DockerTag": "453065607bb8"}
    template = generate(iris_manifest(), DeployConfig(), build_metadata=metadata)
    assert template["Resources"]["ModelFunction"]["Metadata"] == metadata
    assert "Metadata" not in generate(iris_manifest(), DeployConfig())["Resources"]["ModelFunction"]


def test_local_names_are_by_architecture_and_the_metadata_names_builds() -> None:
    """`build`'s tag and context, and the `sam build` Metadata: one pair per architecture, pure."""
    from deployer.template import build_metadata, local_build_context, local_image_tag

    manifest, version = iris_manifest(), iris_manifest()["version"]
    arm = DeployConfig(architecture="arm64")
    assert local_image_tag(manifest, DeployConfig()) == f"iris:{version}-x86_64"
    assert local_image_tag(manifest, arm) == local_image_tag(manifest, DeployConfig(), "arm64") == f"iris:{version}-arm64"
    assert local_build_context(manifest, arm) == Path("build/iris-arm64")
    assert build_metadata(manifest, arm) == {"DockerContext": "build/iris-arm64", "Dockerfile": "Dockerfile",
                                             "DockerTag": f"{version}-arm64", "DockerImage": "iris"}  # fmt: skip
    # relative to the template's folder: sam build resolves DockerContext from there
    assert build_metadata(manifest, arm, template_dir=Path("build"))["DockerContext"] == "iris-arm64"
    assert build_metadata(manifest, arm, template_dir=Path("out/t"))["DockerContext"] == "../../build/iris-arm64"
