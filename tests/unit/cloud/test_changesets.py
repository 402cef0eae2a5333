"""The order a change set runs in (the models themselves are exercised by tests/functional/cloud)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deployer.local.cloud.emulator.changesets import dependency_order

ROOT = Path(__file__).resolve().parents[3]


def test_resources_come_after_what_they_refer_to_and_keep_template_order_otherwise() -> None:
    resources = {
        "Alias": {"Properties": {"FunctionName": {"Ref": "Function"}, "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]}}},
        "Version": {"Properties": {"FunctionName": {"Ref": "Function"}}},
        "Dashboard": {"Properties": {"Body": {"Fn::Sub": "${AWS::StackName} ${Function}"}}},
        "Function": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Role": {"Properties": {}},
        "Waiter": {"DependsOn": "Alias", "Properties": {}},
    }
    order = dependency_order(resources)
    assert order == ["Role", "Function", "Version", "Alias", "Dashboard", "Waiter"]


def test_a_cycle_does_not_loop() -> None:
    resources = {"A": {"Properties": {"x": {"Ref": "B"}}}, "B": {"Properties": {"x": {"Ref": "A"}}}}
    assert sorted(dependency_order(resources)) == ["A", "B"]


def test_the_order_depends_on_the_template_only_not_on_the_hash_seed() -> None:
    """What makes a journal replay create resources, and draw their ids, in the order of the first run."""
    resources = {f"R{i}": {"Properties": {"x": [{"Ref": f"R{j}"} for j in range(i + 1, 30, 7)]}} for i in range(30)}
    code = (
        "import json, sys; from deployer.local.cloud.emulator.changesets import dependency_order; "
        "print(json.dumps(dependency_order(json.loads(sys.stdin.read()))))"
    )
    orders = [
        subprocess.run([sys.executable, "-c", code], input=json.dumps(resources), capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed}, cwd=ROOT).stdout  # fmt: skip
        for seed in ("1", "2")
    ]
    assert orders[0] == orders[1] and json.loads(orders[0]) == dependency_order(resources)


def test_a_json_template_is_read_as_json_and_yaml_as_moto_reads_it() -> None:
    from deployer.local.cloud.emulator.changesets import parse_template

    text = '{"Resources": {"A": {"Type": "T", "Properties": {"Threshold": 1e3, "Name": "yes", "Path": "a\\/b"}}}}'
    assert parse_template(text) == json.loads(text)
    yaml_text = "Resources:\n  A:\n    Type: T\n    Properties:\n      Name: !Ref B\n"
    assert parse_template(yaml_text) == {"Resources": {"A": {"Type": "T", "Properties": {"Name": {"Ref": "B"}}}}}
