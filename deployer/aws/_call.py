"""One place that turns botocore's exceptions into the deployer's one-line errors.

Every wrapper calls AWS through `call(client, "operation_name", **params)`. Errors a user can
fix (credentials, endpoint, region) become their own classes; any other service error becomes
an `AwsError` carrying the service's code, so callers can branch on `exc.code` without
importing botocore. Retries are botocore's (bounded, see session.py); nothing retries here.
"""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import AwsError, CredentialsError, EndpointError

__all__ = ["call", "error_code"]

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
        "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId", "AuthFailure",
        "IncompleteSignature", "MissingAuthenticationToken",
    }
)  # fmt: skip


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def call(client: Any, operation: str, **params: Any) -> Any:
    """`client.<operation>(**params)`, with botocore's errors translated (see module doc)."""
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    service = client.meta.service_model.service_name
    try:
        return getattr(client, operation)(**params)
    except bx.NoCredentialsError as exc:
        raise CredentialsError(
            "no AWS credentials found: configure a profile (aws configure, then --profile NAME) or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; without any, push deploys to the local target"
        ) from exc
    except bx.ProfileNotFound as exc:
        raise CredentialsError(f"{exc}: create it with `aws configure --profile NAME` or pass another --profile") from exc
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or client.meta.endpoint_url
        raise EndpointError(
            f"cannot reach the {service} endpoint {url} ({_short(exc)}); check AWS_ENDPOINT_URL, the region "
            f"and the network"
        ) from exc
    except bx.ClientError as exc:
        code = error_code(exc) or "Error"
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        if code in _CREDENTIAL_CODES:
            raise CredentialsError(
                f"AWS rejected the credentials ({code}: {message}); refresh them (aws sso login, or new keys) "
                f"or pick another --profile",
                code=code,
            ) from exc
        raise AwsError(f"{service} {_api_name(client, operation)}: {code}: {message}", code=code) from exc
    except ResponseParserError as exc:
        raise AwsError(
            f"{service} {_api_name(client, operation)}: the endpoint {client.meta.endpoint_url} answered with "
            f"something that is not an AWS response ({str(exc).splitlines()[0][:160]})",
            code="InternalFailure",
        ) from exc
    except bx.BotoCoreError as exc:
        raise AwsError(f"{service} {_api_name(client, operation)}: {exc}") from exc


def _api_name(client: Any, operation: str) -> str:
    try:
        return str(client.meta.method_to_api_mapping.get(operation, operation))
    except AttributeError:
        return operation


def _short(exc: BaseException) -> str:
    cause = getattr(exc, "kwargs", {}).get("error")
    text = f"{exc} {cause}" if cause is not None else str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    return str(exc).split(": ", 1)[-1][:160]
