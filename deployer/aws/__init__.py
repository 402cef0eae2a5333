"""deployer.aws: thin typed wrappers over injected boto3 clients.

    connect(AwsSettings(profile, region, endpoint_url)) → Aws (session + `client(service)`)
    Ecr(client)              repositories, layer availability, layer upload API, manifests
    CloudFormation(client)   stacks, change sets, events, waits (sleep and clock injected)
    Lambda(client)           versions, alias, moving the alias
    whoami(sts_client)       the account behind the credentials

Wrappers take a boto3 client and never build one, so tests pass clients bound to a moto
server (or a fake). Every botocore error becomes a one-line `AwsError` (errors.py, _call.py).
boto3 is imported only when a session or a client is made.
"""

from __future__ import annotations

from deployer.aws.cloudformation import ChangeSet, CloudFormation, ResourceChange, Stack, StackEvent, is_in_progress
from deployer.aws.ecr import Ecr, Repository
from deployer.aws.errors import AwsError, CredentialsError, EndpointError, RegionError
from deployer.aws.lambda_ import Alias, FunctionInfo, Lambda
from deployer.aws.session import Aws, AwsSettings, connect, endpoint_from_env, has_credentials
from deployer.aws.sts import Identity, whoami

__all__ = [
    "Alias",
    "Aws",
    "AwsError",
    "AwsSettings",
    "ChangeSet",
    "CloudFormation",
    "CredentialsError",
    "Ecr",
    "EndpointError",
    "FunctionInfo",
    "Identity",
    "Lambda",
    "RegionError",
    "Repository",
    "ResourceChange",
    "Stack",
    "StackEvent",
    "connect",
    "endpoint_from_env",
    "has_credentials",
    "is_in_progress",
    "whoami",
]
