"""What a user gets wrong about AWS settings becomes one line that names the fix."""

from __future__ import annotations

import socket
import time

import boto3
import pytest

from deployer.aws import AwsSettings, CredentialsError, EndpointError, RegionError, connect
from deployer.aws._call import call
from deployer.aws.cloudformation import CloudFormation


def test_an_unknown_profile_names_the_fix() -> None:
    with pytest.raises(CredentialsError, match=r"AWS profile 'nope' not found .*aws configure --profile nope"):
        connect(AwsSettings(profile="nope", region="us-east-1"))


def test_no_region_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(RegionError, match="--region"):
        connect(AwsSettings())


def test_an_unknown_region_is_refused_before_any_call() -> None:
    with pytest.raises(RegionError, match="unknown AWS region 'xx-nowhere-1'"):
        connect(AwsSettings(region="xx-nowhere-1"))


def test_no_credentials_says_what_push_does_without(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CredentialsError, match="without any, push deploys to the local target"):
        connect(AwsSettings(region="eu-west-1"))


def test_credentials_and_region_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    aws = connect(AwsSettings(region="eu-west-1"))
    assert (aws.region, aws.endpoint_url, aws.custom_endpoint) == ("eu-west-1", "http://127.0.0.1:9", True)


def test_an_endpoint_that_refuses_fails_fast_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        aws = connect(AwsSettings(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"))
        started = time.monotonic()
        with pytest.raises(EndpointError, match=rf"cannot reach the cloudformation endpoint http://127.0.0.1:{port}.*refused"):
            CloudFormation(aws.client("cloudformation")).describe_stack("x")
    assert time.monotonic() - started < 10


def test_a_service_error_keeps_its_code() -> None:
    client = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b").client("sts", region_name="us-east-1")
    from botocore.stub import Stubber

    with Stubber(client) as stub:
        stub.add_client_error("get_caller_identity", service_error_code="InvalidClientTokenId", service_message="bad")
        with pytest.raises(CredentialsError, match="AWS rejected the credentials .InvalidClientTokenId: bad") as info:
            call(client, "get_caller_identity")
    assert info.value.code == "InvalidClientTokenId"
