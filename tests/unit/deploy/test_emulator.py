"""The emulator's own logic: the order a change set runs in (the models are exercised by tests/functional)."""

from __future__ import annotations

from deployer.deploy.emulator import _dependency_order


def test_resources_come_after_what_they_refer_to_and_keep_template_order_otherwise() -> None:
    resources = {
        "Alias": {"Properties": {"FunctionName": {"Ref": "Function"}, "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]}}},
        "Version": {"Properties": {"FunctionName": {"Ref": "Function"}}},
        "Dashboard": {"Properties": {"Body": {"Fn::Sub": "${AWS::StackName} ${Function}"}}},
        "Function": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Role": {"Properties": {}},
        "Waiter": {"DependsOn": "Alias", "Properties": {}},
    }
    order = _dependency_order(resources)
    assert order == ["Role", "Function", "Version", "Alias", "Dashboard", "Waiter"]


def test_a_cycle_does_not_loop() -> None:
    resources = {"A": {"Properties": {"x": {"Ref": "B"}}}, "B": {"Properties": {"x": {"Ref": "A"}}}}
    assert sorted(_dependency_order(resources)) == ["A", "B"]
