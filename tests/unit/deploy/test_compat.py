"""What a bare moto endpoint gets of a translation, and how endpoints are told apart."""

from __future__ import annotations

import json
from pathlib import Path

from deployer.config import DeployConfig
from deployer.deploy.compat import MOTO_FAILING, MOTO_UNSUPPORTED, adapt, probe_endpoint
from deployer.template import generate, load_model_manifest, translate

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "iris" / "model"


def test_resources_that_ref_an_unsupported_type_are_removed_and_reported() -> None:
    translation = translate(generate(load_model_manifest(EXAMPLE), DeployConfig()), parameters={"ImageUri": "x:y"})
    adapted, left_out = adapt(translation, MOTO_UNSUPPORTED, MOTO_FAILING)
    kept = adapted["Resources"]
    assert "ModelFunctionAliaslive" in kept  # moto skips it itself; ${...} of it in a Sub stays text
    assert not [k for k, v in kept.items() if v["Type"] == "AWS::Lambda::Permission"]  # they Ref the alias
    assert {"ModelFunction", "ModelApi", "ModelFunctionRole", "Dashboard"} <= set(kept)
    reasons = {item["logical_id"]: item["reason"] for item in left_out}
    assert reasons["ModelFunctionAliaslive"].startswith("not created")
    assert reasons["ModelFunctionInferPermissionlive"] == "removed: refers to ModelFunctionAliaslive"
    assert "AliasArn" not in adapted["Outputs"] and "ApiUrl" in adapted["Outputs"]
    assert translation["Resources"].keys() > adapted["Resources"].keys()  # the input is not changed


def test_nothing_is_left_out_without_unsupported_types() -> None:
    translation = translate(generate(load_model_manifest(EXAMPLE), DeployConfig()))
    adapted, left_out = adapt(translation, frozenset())
    assert adapted == json.loads(json.dumps(translation)) and left_out == []


def test_endpoints_are_told_apart_by_one_get() -> None:
    answers = {
        "http://e/_onnx-lambda/emulator": (200, b'{"emulator": "onnx-lambda-deployer"}'),
        "http://m/moto-api/config": (201, b'{"lambda": {"use_docker": true}}'),
    }

    def fetch(url: str) -> tuple[int, bytes]:
        return answers.get(url, (404, b""))

    assert probe_endpoint(None).kind == "aws"
    assert probe_endpoint("http://e", fetch=fetch).kind == "emulator"
    moto = probe_endpoint("http://m", fetch=fetch)
    assert moto.kind == "moto" and "AWS::Lambda::Alias" in moto.unsupported and not moto.runs_functions
    assert probe_endpoint("http://u", fetch=fetch).kind == "unknown"
