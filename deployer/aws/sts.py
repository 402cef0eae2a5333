"""STS: who the credentials are. The first call of every deploy, so a wrong credential, region or
endpoint fails at once, in one line, before anything is built or uploaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.aws._call import call

__all__ = ["Identity", "whoami"]


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str


def whoami(client: Any) -> Identity:
    answer = call(client, "get_caller_identity")
    return Identity(account=str(answer["Account"]), arn=str(answer.get("Arn", "")))
