"""Traffic shifting as CodeDeploy does it for a SAM DeploymentPreference, on a scaled clock.

When a stack update moves an alias that carries a `CodeDeployLambdaAliasUpdate` update policy,
the emulator (emulator/traffic.py) hands the move to the daemon's `Shifter` instead of moving the
alias at once. The shifter, inside that stack update (which therefore stays UPDATE_IN_PROGRESS):

    1 golden set   the new version's answers on its golden set (functions/golden.py: golden.json
                   in its image, else the manifest's sample), compared with the expected outputs
                   or with the live version's; on a difference no traffic moves and the update
                   fails, naming the rows and by how much (the PreTraffic hook's job on AWS)
    2 shift        the deployment configuration's steps (Canary10Percent5Minutes: 10 %, then all;
                   Linear10PercentEvery1Minute: 10 %, 20 %, ... each step one interval), each
                   interval divided by the time scale; the alias carries the new version's weight
                   (AdditionalVersionWeights) and the gateway splits requests by it
    3 alarms       between steps the deployment group's alarms are evaluated on the local metrics
                   (metrics.py); one in ALARM moves all traffic back to the old version and the
                   update fails naming the alarm, so CloudFormation rolls the stack back
    4 done         the alias moves to the new version with no weights

The outcome is journaled (EmulatorServer.record) so a replay after a restart reaches the same state
without shifting again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from deployer.local.cloud.emulator.traffic import ShiftFailed, ShiftRequest
from deployer.local.cloud.metrics import MetricStore, evaluate_alarm

__all__ = ["ShiftRequest", "ShiftFailed", "Shifter", "steps_of", "DEFAULT_TIME_SCALE"]

DEFAULT_TIME_SCALE = 60.0  # one minute of a deployment lasts one second
_CHECK_EVERY_S = 0.1


def steps_of(config_name: str) -> list[tuple[float, float]]:
    """(share of traffic on the new version, seconds it stays there) for a CodeDeploy Lambda config."""
    name = config_name.rsplit(".", 1)[-1].removeprefix("Lambda")
    if name in ("AllAtOnce", ""):
        return []
    canary = re.fullmatch(r"Canary(\d+)Percent(\d+)Minutes?", name)
    if canary:
        return [(int(canary.group(1)) / 100.0, int(canary.group(2)) * 60.0)]
    linear = re.fullmatch(r"Linear(\d+)PercentEvery(\d+)Minutes?", name)
    if linear:
        share, minutes = int(linear.group(1)), int(linear.group(2))
        return [(p / 100.0, minutes * 60.0) for p in range(share, 100, share)]
    raise ShiftFailed(f"deployment configuration {config_name!r} is not one the local cloud knows; use AllAtOnce, "
                      "CanaryNPercentMMinutes or LinearNPercentEveryMMinutes")  # fmt: skip


class Shifter:
    """Runs one deployment (module doc). Every side effect comes in through the constructor."""

    def __init__(
        self,
        *,
        golden: Callable[[ShiftRequest], str],  # runs the golden check; raises ShiftFailed; returns a verdict line
        set_weights: Callable[[ShiftRequest, dict[str, float]], None],
        metrics: MetricStore,
        time_scale: float = DEFAULT_TIME_SCALE,
        say: Callable[[str], None] = lambda line: None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.golden, self.set_weights, self.metrics = golden, set_weights, metrics
        self.time_scale, self.say, self.sleep, self.clock = time_scale, say, sleep, clock

    def __call__(self, request: ShiftRequest) -> dict[str, Any]:
        name = f"{request.function}:{request.alias}"
        verdict = self.golden(request)
        self.say(f"[deploy] {name}: golden set of version {request.to_version}: {verdict}")
        steps = steps_of(request.config_name)
        if not steps:
            self.say(f"[deploy] {name}: all traffic to version {request.to_version} at once ({request.config_name})")
            return {"outcome": "succeeded", "golden": verdict, "steps": 0}
        total = sum(seconds for _, seconds in steps) / self.time_scale
        self.say(f"[deploy] {name}: {request.config_name} from version {request.from_version} to "
                 f"{request.to_version}, time scale {self.time_scale:g}x: {total:.1f} s instead of "
                 f"{total * self.time_scale / 60:.0f} min")  # fmt: skip
        for share, seconds in steps:
            self.set_weights(request, {request.to_version: share})
            self.say(f"[deploy] {name}: {share:.0%} of traffic on version {request.to_version}")
            deadline = self.clock() + seconds / self.time_scale
            while True:
                firing = self._firing(request)
                if firing is not None:
                    self.set_weights(request, {})
                    raise ShiftFailed(
                        f"alarm {firing[0]} went into ALARM during the traffic shift to version {request.to_version} "
                        f"({firing[1]}): all traffic is back on version {request.from_version}"
                    )
                left = deadline - self.clock()
                if left <= 0:
                    break
                self.sleep(min(_CHECK_EVERY_S, left))
        return {"outcome": "succeeded", "golden": verdict, "steps": len(steps)}

    def _firing(self, request: ShiftRequest) -> tuple[str, str] | None:
        for props in request.alarms:
            state = evaluate_alarm(props, self.metrics, time_scale=self.time_scale)
            if state.state == "ALARM":
                return state.name, state.reason
        return None
