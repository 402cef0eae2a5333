"""install(): our models are the ones moto's CloudFormation uses; what replay relies on in moto holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deployer.local.cloud import emulator
from deployer.local.cloud.emulator import MODELLED_TYPES, install


def test_install_registers_every_model_by_type_and_is_idempotent() -> None:
    from moto.cloudformation import parsing

    from deployer.local.cloud.emulator.apigateway import RestApiModel, StageModel

    install()
    install()
    models = parsing.get_model_map()
    for resource_type in MODELLED_TYPES:
        assert models[resource_type].__module__.startswith("deployer.local.cloud.emulator."), resource_type
    assert models["AWS::ApiGateway::RestApi"] is RestApiModel  # a subclass of moto's RestAPI: registered by type
    assert models["AWS::ApiGateway::Stage"] is StageModel
    assert parsing.get_name_type_map()["AWS::Lambda::Alias"] == "Name"


def test_the_package_exports_what_the_daemon_uses() -> None:
    assert sorted(emulator.__all__) == ["ACCOUNT_ID", "EmulatorServer", "MODELLED_TYPES", "install"]


def test_moto_is_the_pinned_version() -> None:
    """The package doc lists the moto internals each module relies on: read against this version."""
    from importlib.metadata import version

    assert version("moto") == "5.2.5"


def _backends() -> list[tuple[str, Callable[[], Any]]]:
    from moto.apigateway.models import apigateway_backends
    from moto.awslambda.models import lambda_backends
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.codedeploy.models import codedeploy_backends
    from moto.ecr.models import ecr_backends
    from moto.iam.models import iam_backends
    from moto.logs.models import logs_backends
    from moto.sts.models import sts_backends

    account = "210987654321"  # an account no other test touches, so each backend is created here
    return [
        ("cloudformation", lambda: cloudformation_backends[account]["eu-central-1"]),
        ("lambda", lambda: lambda_backends[account]["eu-central-1"]),
        ("ecr", lambda: ecr_backends[account]["eu-central-1"]),
        ("apigateway", lambda: apigateway_backends[account]["eu-central-1"]),
        ("codedeploy", lambda: codedeploy_backends[account]["eu-central-1"]),
        ("cloudwatch", lambda: cloudwatch_backends[account]["eu-central-1"]),
        ("logs", lambda: logs_backends[account]["eu-central-1"]),
        ("iam", lambda: iam_backends[account]["aws"]),
        ("sts", lambda: sts_backends[account]["aws"]),
    ]


@pytest.mark.parametrize("service", ["cloudformation", "lambda", "ecr", "apigateway", "codedeploy", "cloudwatch", "logs", "iam", "sts"])
def test_the_backends_a_push_uses_draw_no_ids_when_created(service: str) -> None:
    """Replay relies on it: a backend first created by a read (live) or by a mutation (replay) draws the same ids."""
    from moto.moto_api._internal import mock_random

    create = dict(_backends())[service]
    mock_random.seed(7)
    before = mock_random.getstate()
    create()
    assert mock_random.getstate() == before
