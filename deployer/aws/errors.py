"""Errors of the AWS layer, under the project's one root (`deployer.errors.DeployerError`).

    DeployerError
    └── AwsError                  an AWS call failed: the message names the call and the fix
        ├── CredentialsError      no credentials, unknown profile, rejected or expired keys
        ├── RegionError           no region configured, or a region AWS does not know
        └── EndpointError         the endpoint did not answer (refused, timed out, DNS)

Every message is one line: what failed, where (service, operation, endpoint), and what to do.
"""

from __future__ import annotations

from deployer.errors import DeployerError

__all__ = ["AwsError", "CredentialsError", "RegionError", "EndpointError"]


class AwsError(DeployerError):
    """An AWS API call failed; `code` is the service's error code when it answered."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class CredentialsError(AwsError):
    exit_code = 3


class RegionError(AwsError):
    exit_code = 3


class EndpointError(AwsError):
    exit_code = 4
