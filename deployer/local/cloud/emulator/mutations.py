"""Which requests change the cloud (and are journaled), and what of a request the journal keeps.

An AWS request names its operation in one of four ways, by protocol:

    query        `Action=CreateStack` in the form body (or the query string)      CloudFormation, IAM, STS
    JSON         `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.PutImage`    ECR, CloudWatch Logs
    RPC v2 CBOR  POST /service/<service>/operation/<Operation>                     CloudWatch (newer SDKs)
    REST         the method and path: GET/HEAD read, anything else writes         Lambda, API Gateway

A named operation reads when its name starts with Describe, Get, List, BatchCheck, BatchGet or
Head; every other one is a mutation. Not journaled at all: moto's own `/moto-api/` (reset, seed,
state manager) and ours `/_onnx-lambda/`, and Lambda's Invoke (it changes no state, and replaying
it would run the function again).

The journal keeps the method, path, query, body and the headers moto reads to dispatch and
parse (Host, Content-Type, X-Amz-Target, the Authorization header's credential scope, which
names the service, region and access key id, so the account). It drops what is noise on a
replay or a secret: the signature (the Authorization header is kept up to its Signature),
the session token, dates, SDK retry and invocation ids, the user agent, lengths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qs

__all__ = ["READ_PREFIXES", "operation", "is_mutation", "journal_headers"]

READ_PREFIXES = ("Describe", "Get", "List", "BatchCheck", "BatchGet", "Head")
UNJOURNALED_PATHS = ("/moto-api/", "/_onnx-lambda/")
_INVOKE = re.compile(r"^/[0-9-]+/functions/[^/]+/invocations$|^/[0-9-]+/functions/[^/]+/invoke-async/?$")
_RPC_V2 = re.compile(r"^/service/[^/]+/operation/([^/]+)$")
_DROPPED = frozenset(
    {
        "content-length", "connection", "accept", "accept-encoding", "user-agent", "x-amz-user-agent", "expect",
        "transfer-encoding", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "amz-sdk-invocation-id",
        "amz-sdk-request", "date",
    }
)  # fmt: skip


def operation(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> str | None:
    """The operation's name for query, JSON and RPC v2 requests; None for a REST request."""
    target = _header(headers, "x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    match = _RPC_V2.match(path)
    if match:
        return match.group(1)
    content_type = _header(headers, "content-type") or ""
    if body and "x-www-form-urlencoded" in content_type:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    action = parse_qs(query).get("Action")
    return action[0] if action else None


def is_mutation(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the request may change state and is journaled (see module doc)."""
    if path.startswith(UNJOURNALED_PATHS) or _INVOKE.match(path):
        return False
    name = operation(method, path, query, headers, body)
    if name is not None:
        return not name.startswith(READ_PREFIXES)
    return method.upper() not in ("GET", "HEAD", "OPTIONS")


def journal_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a replay needs (lower-case names), without signatures, tokens and noise."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _DROPPED:
            continue
        if key == "authorization":
            value = value.split(", Signature=", 1)[0].split(",Signature=", 1)[0]
        kept[key] = value
    return kept


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
