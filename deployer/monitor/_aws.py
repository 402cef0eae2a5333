"""AWS calls of the monitor room, through deployer.aws's one error translation (`call`).

    call(client, "describe_stacks", StackName=...)        one call
    pages(client, "list_metrics", Namespace=...)           every page of boto3's paginator

Both raise the deployer's AwsError family (with the service's `code`), never botocore's.
"""

from __future__ import annotations

from typing import Any

from deployer.aws._call import call

__all__ = ["call", "pages"]


class _Paged:
    """A client whose operations return every page of their paginator (so `call` can wrap them)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.meta = client.meta

    def __getattr__(self, operation: str) -> Any:
        paginator = self._client.get_paginator(operation)
        return lambda **params: list(paginator.paginate(**params))


def pages(client: Any, operation: str, **params: Any) -> list[dict[str, Any]]:
    return list(call(_Paged(client), operation, **params))
