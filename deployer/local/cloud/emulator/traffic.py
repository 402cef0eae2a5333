"""CodeDeploy's Lambda deployments: an alias update under a `CodeDeployLambdaAliasUpdate` policy.

On AWS, when a stack update changes the version of an alias that carries this update policy
(what SAM writes for a DeploymentPreference), CloudFormation does not move the alias: CodeDeploy
runs a deployment (hooks, traffic shifting by the deployment group's configuration, alarms) and
the stack update succeeds or fails with it. moto moves the alias at once. Here:

    move_alias(...)   called by the alias model before it updates the alias; when a shifter is
                      installed (the local cloud's daemon: deployer/local/cloud/shift.py) and the
                      policy applies, the deployment runs inside the update and a failure raises
                      ShiftFailed, which fails the resource and so rolls the stack back
    remember_group    the deployment group's configuration and alarm names (codedeploy.py)
    remember_alarm    each alarm's resolved properties, metric math included (cloudwatch_alarm.py)

Without a shifter (a bare EmulatorServer, or a journal replay before the daemon installs one) the
alias moves at once, unless the outcome of the original deployment was journaled: a replay then
reaches the same end (`replayed`), so a stack whose deployment failed stays rolled back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ShiftRequest", "ShiftFailed", "set_shifter", "move_alias", "remember_group", "remember_alarm",
           "forget_alarm", "alarms", "replayed", "clear", "REPLAY_KIND"]

REPLAY_KIND = "codedeploy-deployment"


class ShiftFailed(Exception):
    """The deployment failed: the alias stays on (or went back to) the old version."""


@dataclass(frozen=True)
class ShiftRequest:
    function: str
    alias: str
    from_version: str
    to_version: str
    config_name: str  # CodeDeployDefault.LambdaLinear10PercentEvery1Minute, ...
    alarms: tuple[dict[str, Any], ...] = ()  # resolved properties of the deployment group's alarms
    account: str = ""
    region: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}/{self.function}:{self.alias}/{self.from_version}->{self.to_version}"


Shifter = Callable[[ShiftRequest], dict[str, Any]]

_lock = threading.Lock()
_shifter: Shifter | None = None
_groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
_alarms: dict[tuple[str, str, str], dict[str, Any]] = {}
_outcomes: dict[str, dict[str, Any]] = {}


def set_shifter(shifter: Shifter | None) -> None:
    global _shifter
    with _lock:
        _shifter = shifter


def remember_group(account: str, region: str, application: str, group: str, props: dict[str, Any]) -> None:
    with _lock:
        _groups[(account, region, application, group)] = dict(props)


def remember_alarm(account: str, region: str, name: str, props: dict[str, Any]) -> None:
    with _lock:
        _alarms[(account, region, name)] = {**props, "AlarmName": name}


def forget_alarm(account: str, region: str, name: str) -> None:
    with _lock:
        _alarms.pop((account, region, name), None)


def alarms(account: str, region: str) -> list[dict[str, Any]]:
    """Every alarm the stacks made here, with its resolved properties (the daemon evaluates them)."""
    with _lock:
        return [dict(props) for (a, r, _), props in _alarms.items() if (a, r) == (account, region)]


def clear() -> None:
    """Forget groups, alarms and journaled outcomes (with moto's own state, on reset and before a replay)."""
    with _lock:
        _groups.clear()
        _alarms.clear()
        _outcomes.clear()


def replayed(data: dict[str, Any]) -> None:
    """A journaled outcome (see module doc), consumed by the next matching move_alias."""
    with _lock:
        _outcomes[str(data["key"])] = dict(data)


def move_alias(account: str, region: str, function: str, alias: str, from_version: str, to_version: str,
               resource: dict[str, Any]) -> dict[str, Any] | None:  # fmt: skip
    """Run the deployment for this alias update, if there is one (module doc); None: move at once."""
    policy = (resource.get("UpdatePolicy") or {}).get("CodeDeployLambdaAliasUpdate")
    if not policy or from_version == to_version:
        return None
    with _lock:
        group = _groups.get((account, region, str(policy.get("ApplicationName")), str(policy.get("DeploymentGroupName"))), {})
        alarm_config = group.get("AlarmConfiguration") or {}
        names = [str(a.get("Name")) for a in alarm_config.get("Alarms", [])] if alarm_config.get("Enabled", True) else []
        alarms = tuple(_alarms[(account, region, n)] for n in names if (account, region, n) in _alarms)
        shifter = _shifter
    request = ShiftRequest(function, alias, from_version, to_version,
                           str(group.get("DeploymentConfigName") or "CodeDeployDefault.LambdaAllAtOnce"), alarms,
                           account, region)  # fmt: skip
    with _lock:
        earlier = _outcomes.pop(request.key, None)
    if earlier is not None:
        outcome = earlier
    elif shifter is None:
        return None
    else:
        outcome = shifter(request)
    if outcome.get("outcome") != "succeeded":
        raise ShiftFailed(str(outcome.get("reason") or "the deployment failed"))
    return outcome
