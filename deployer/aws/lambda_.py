"""Lambda: the function's versions, its alias, and moving the alias (rollback)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.aws._call import call
from deployer.aws.errors import AwsError

__all__ = ["Alias", "FunctionInfo", "Lambda"]


@dataclass(frozen=True)
class Alias:
    name: str
    function_version: str
    arn: str
    description: str = ""
    weights: tuple[tuple[str, float], ...] = ()  # additional versions and their share (a traffic shift)


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    arn: str
    image_uri: str
    state: str
    last_modified: str


class Lambda:
    def __init__(self, client: Any) -> None:
        self._client = client

    def get_function(self, name: str) -> FunctionInfo | None:
        try:
            answer = call(self._client, "get_function", FunctionName=name)
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise
        config = answer.get("Configuration", {})
        return FunctionInfo(
            name=config.get("FunctionName", name),
            arn=config.get("FunctionArn", ""),
            image_uri=str(answer.get("Code", {}).get("ImageUri", "")),
            state=str(config.get("State", "")),
            last_modified=str(config.get("LastModified", "")),
        )

    def get_alias(self, function: str, name: str) -> Alias | None:
        try:
            answer = call(self._client, "get_alias", FunctionName=function, Name=name)
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return None
            raise
        weights = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return Alias(name=answer["Name"], function_version=str(answer["FunctionVersion"]), arn=answer.get("AliasArn", ""),
                     description=answer.get("Description", "") or "",
                     weights=tuple(sorted((str(k), float(v)) for k, v in weights.items())))  # fmt: skip

    def versions(self, function: str) -> list[str]:
        """Published versions, oldest first ($LATEST left out)."""
        found: list[str] = []
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"FunctionName": function}
            if marker:
                params["Marker"] = marker
            answer = call(self._client, "list_versions_by_function", **params)
            found += [str(v["Version"]) for v in answer.get("Versions", []) if v.get("Version") != "$LATEST"]
            marker = answer.get("NextMarker")
            if not marker:
                return sorted(found, key=lambda v: int(v) if v.isdigit() else -1)

    def version_image(self, function: str, version: str) -> str:
        """The image a published version runs."""
        try:
            answer = call(self._client, "get_function", FunctionName=function, Qualifier=version)
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return ""
            raise
        return str(answer.get("Code", {}).get("ImageUri", ""))

    def point_alias(self, function: str, name: str, version: str, description: str) -> Alias:
        """Move the alias to `version`, all traffic (any weighted routing is removed)."""
        answer = call(
            self._client, "update_alias", FunctionName=function, Name=name, FunctionVersion=version,
            Description=description, RoutingConfig={"AdditionalVersionWeights": {}},
        )  # fmt: skip
        return Alias(name=answer["Name"], function_version=str(answer["FunctionVersion"]), arn=answer.get("AliasArn", ""))
