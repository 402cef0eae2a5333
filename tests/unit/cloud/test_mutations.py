"""Which requests the journal keeps, and what of them (one table per protocol)."""

from __future__ import annotations

import pytest

from deployer.local.cloud.emulator.mutations import is_mutation, journal_headers, operation

FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
ECR = "AmazonEC2ContainerRegistry_V20150921"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body", "mutates"),
    [
        ("POST", "/", "", FORM, b"Action=CreateChangeSet&StackName=s", True),
        ("POST", "/", "", FORM, b"Action=ExecuteChangeSet&ChangeSetName=c", True),
        ("POST", "/", "", FORM, b"Action=DescribeStacks&StackName=s", False),
        ("POST", "/", "", FORM, b"Action=ListStackResources", False),
        ("POST", "/", "", FORM, b"Action=GetTemplate", False),
        ("GET", "/", "Action=DeleteStack&StackName=s", {}, b"", True),
        ("POST", "/", "", {"x-amz-target": f"{ECR}.PutImage"}, b"{}", True),
        ("POST", "/", "", {"X-Amz-Target": f"{ECR}.UploadLayerPart"}, b"{}", True),
        ("POST", "/", "", {"x-amz-target": f"{ECR}.BatchCheckLayerAvailability"}, b"{}", False),
        ("POST", "/", "", {"x-amz-target": f"{ECR}.BatchGetImage"}, b"{}", False),
        ("POST", "/", "", {"x-amz-target": f"{ECR}.DescribeImages"}, b"{}", False),
        ("POST", "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm", "", {}, b"", True),
        ("POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", "", {}, b"", False),
        ("GET", "/2015-03-31/functions/f/aliases/live", "", {}, b"", False),
        ("HEAD", "/restapis", "", {}, b"", False),
        ("PUT", "/2015-03-31/functions/f/aliases/live", "", {}, b"{}", True),
        ("POST", "/2015-03-31/functions/f/versions", "", {}, b"{}", True),
        ("DELETE", "/restapis/abc", "", {}, b"", True),
        ("PATCH", "/restapis/abc/stages/live", "", {}, b"{}", True),
        ("POST", "/2015-03-31/functions/f/invocations", "", {}, b"{}", False),
        ("POST", "/moto-api/reset", "", {}, b"", False),
        ("POST", "/moto-api/seed", "a=42", {}, b"", False),
        ("GET", "/_onnx-lambda/emulator", "", {}, b"", False),
    ],
)
def test_mutations_by_protocol(method: str, path: str, query: str, headers: dict[str, str], body: bytes,
                               mutates: bool) -> None:  # fmt: skip
    assert is_mutation(method, path, query, headers, body) is mutates


def test_the_operation_is_named_for_named_protocols_only() -> None:
    assert operation("POST", "/", "", FORM, b"Action=CreateStack&Version=2010-05-15") == "CreateStack"
    assert operation("POST", "/", "", {"x-amz-target": f"{ECR}.CompleteLayerUpload"}, b"{}") == "CompleteLayerUpload"
    assert operation("PUT", "/2015-03-31/functions/f/aliases/live", "", {}, b"{}") is None


def test_journaled_headers_keep_what_moto_dispatches_on_and_no_signature_or_token() -> None:
    headers = {
        "host": "127.0.0.1:5000",
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": f"{ECR}.PutImage",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/ecr/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123abcd",
        "x-amz-security-token": "secret-session-token",
        "x-amz-date": "20250101T000000Z",
        "user-agent": "Boto3/1.35",
        "amz-sdk-invocation-id": "d3b0",
        "content-length": "42",
        "x-amz-invocation-type": "Event",
    }
    kept = journal_headers(headers)
    assert kept == {
        "host": "127.0.0.1:5000",
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": f"{ECR}.PutImage",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/ecr/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-target",
        "x-amz-invocation-type": "Event",
    }
