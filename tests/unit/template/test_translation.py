"""The translation (aws-sam-translator, offline) and cfn-lint on both templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from deployer.template import IGNORED_RULES
from tests.unit.template.conftest import Case


def test_lint_finds_nothing_on_template_and_translation(case: Case) -> None:
    assert [str(f) for f in case.findings] == []


def test_ignored_rules_are_never_errors_and_have_reasons() -> None:
    for rule, ignored in IGNORED_RULES.items():
        assert rule[0] in "WI", f"{rule}: errors are never ignored"
        assert len(ignored.reason) > 40 and ignored.templates


def test_translation_holds_the_deployment(case: Case) -> None:
    functions = case.translated("AWS::Lambda::Function")
    assert set(functions) == {"ModelFunction", "GoldenSetHook"}
    fn = functions["ModelFunction"]["Properties"]
    assert fn["PackageType"] == "Image"
    assert "ImageUri" in fn["Code"]
    assert fn["Architectures"] == [case.config.architecture]
    alias = case.one("AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["ApplicationName"] == {"Ref": "ServerlessDeploymentApplication"}
    assert update["BeforeAllowTrafficHook"] == {"Ref": "GoldenSetHook"}  # the golden set before any traffic
    hook = functions["GoldenSetHook"]["Properties"]
    assert hook["ImageConfig"]["Command"] == ["functions.golden.handler"]
    assert hook["Code"]["ImageUri"] in ({"Ref": "ImageUri"}, fn["Code"]["ImageUri"])  # the new version's own image
    assert case.one("AWS::CodeDeploy::Application")
    group = case.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    assert group["AlarmConfiguration"] == {
        "Enabled": True,
        "Alarms": [{"Name": {"Ref": "ErrorRateAlarm"}}, {"Name": {"Ref": "LatencyAlarm"}}],
    }
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": case.config.deployment.type}
    assert group["ServiceRoleArn"] == {"Fn::GetAtt": ["DeploymentRole", "Arn"]}
    # the drift alarm is the template's too, but not the deployment's (alarms.py)
    assert set(case.translated("AWS::CloudWatch::Alarm")) == {"ErrorRateAlarm", "LatencyAlarm", "DriftAlarm"}
    assert case.one("AWS::CloudWatch::Dashboard")
    assert case.one("AWS::ApiGateway::RestApi")
    assert case.one("AWS::ApiGateway::Stage")["Properties"]["StageName"] == "live"
    assert set(case.translated("AWS::IAM::Role")) == {"ModelFunctionRole", "DeploymentRole", "GoldenSetHookRole"}
    assert case.translated("AWS::Logs::LogGroup")["ModelFunctionLogGroup"]["Properties"]["RetentionInDays"] == case.config.log_retention_days


def test_alarms_point_at_the_version_this_deploy_publishes(case: Case) -> None:
    (version_id,) = case.translated("AWS::Lambda::Version")
    group = case.one("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    watched = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    alarms = case.translated("AWS::CloudWatch::Alarm")
    assert watched == {"ErrorRateAlarm", "LatencyAlarm"}
    for alarm in (alarms[name] for name in watched):
        props = alarm["Properties"]
        dimension_sets = [props["Dimensions"]] if "Dimensions" in props else [
            m["MetricStat"]["Metric"]["Dimensions"] for m in props["Metrics"]
            if m.get("MetricStat", {}).get("Metric", {}).get("Namespace") == "AWS/Lambda"
        ]
        assert dimension_sets
        for dims in dimension_sets:
            assert {"Name": "ExecutedVersion", "Value": {"Fn::GetAtt": [version_id, "Version"]}} in dims


def test_api_invokes_the_alias_with_its_own_permission(case: Case) -> None:
    api = case.one("AWS::ApiGateway::RestApi")["Properties"]
    body = api["Body"]
    assert body["x-amazon-apigateway-binary-media-types"] == ["application/octet-stream"]
    methods = [(path, verb, op) for path, item in body["paths"].items() for verb, op in item.items()]
    assert len(methods) == len(case.function["Events"])
    for path, verb, op in methods:
        integration = op["x-amazon-apigateway-integration"]
        assert "ModelFunctionAliaslive" in integration["uri"]["Fn::Sub"], path
        assert "credentials" not in integration, "API Gateway must not invoke with the caller's credentials"
        if case.config.api.auth == "iam":
            assert op["security"] == [{"AWS_IAM": []}]
        else:
            assert op["security"] == [{"api_key": []}]
    permissions = case.translated("AWS::Lambda::Permission")
    assert len(permissions) == len(methods)
    for permission in permissions.values():
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        assert permission["Properties"]["FunctionName"] == {"Ref": "ModelFunctionAliaslive"}


def test_churn_translation_has_usage_plan_and_concurrency(churn: Case) -> None:
    plan = churn.one("AWS::ApiGateway::UsagePlan")["Properties"]
    assert plan["Quota"] == {"Limit": 10000, "Period": "DAY"}
    assert churn.one("AWS::ApiGateway::ApiKey") and churn.one("AWS::ApiGateway::UsagePlanKey")
    alias = churn.one("AWS::Lambda::Alias")["Properties"]
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert churn.translated("AWS::Lambda::Function")["ModelFunction"]["Properties"]["ReservedConcurrentExecutions"] == 5


def _statements(translation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in translation["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_role_has_a_wildcard_action_or_resource(case: Case) -> None:
    statements = list(_statements(case.translation))
    assert statements
    for logical_id, statement in statements:
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in _listed(statement["Action"]):
            assert "*" not in action, f"{logical_id}: {action}"
        for resource in _listed(statement["Resource"]):
            assert resource != "*", f"{logical_id}: Resource '*'"
    for logical_id, resource in case.translation["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            # no managed policy either: everything a role may do is written in this template
            assert "ManagedPolicyArns" not in resource["Properties"], logical_id


def test_sams_refusal_is_a_finding_not_a_crash(iris: Case) -> None:
    from deployer.template.checks import check

    broken = json.loads(json.dumps(iris.template))
    broken["Resources"]["ModelFunction"]["Properties"]["DeploymentPreference"]["Type"] = {"Bad": 1}
    del broken["Resources"]["ModelFunction"]["Properties"]["AutoPublishAlias"]
    translation, findings = check(broken)
    assert translation is None
    assert [f.rule for f in findings if f.template == "translated"] == ["SAM"]
    assert "AutoPublishAlias" in findings[-1].message


def test_translate_equals_samtranslators_own_transform(iris: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """`translate` is SAM's `transform` minus the environment's region and the IAM policy loader."""
    from samtranslator.translator.transform import transform

    class NoIam:
        def load(self) -> dict[str, str]:
            raise AssertionError("the template names no managed policy; IAM must not be asked")

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    official = transform(json.loads(json.dumps(iris.template)), {}, NoIam())  # type: ignore[arg-type]
    assert json.loads(json.dumps(official)) == iris.translation
