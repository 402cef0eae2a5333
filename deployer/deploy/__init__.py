"""deployer.deploy: model → image in ECR → CloudFormation change set → smoke-tested endpoint.

Plan, then execute (as chalice does): planners make describe calls only and return frozen
`APICall` records (plan.py); an executor runs them (executor.py). `push` (push.py) strings the
steps together; `plan`, `status`, `rollback`, `delete` live in manage.py; api.py builds every
object and is what the CLI calls.

    api.py           run_push / run_plan / run_status / run_rollback / run_delete, target choice
                     (aws, or the project's local cloud: deployer.local.cloud)
    push.py          plan_push (every record of a push, describe calls only), push (executes them)
    plan.py          APICall, plan_image, plan_stack (and the recovery rules of every stack state)
    executor.py      execute(calls, targets): ImageSteps, StackSteps, LambdaSteps; PreviewSteps for plan
    artifact.py      blobs, the manifest, the content digest and tag, the blob cache
    sources.py       where the blobs come from: a Docker image, or the model and code files
    model_input.py   step 1: a converted folder as it is, a model file converted (cached by content)
    context.py       Services (typed AWS wrappers), PushOptions, Progress, choose_builder
    state.py         the per-stack lock and journal under <project>/.deployer/
    smoke.py         the smoke test (sample in, expected outputs compared); remote.py for AWS
    golden.py        push --golden: the golden set checked and carried in the image
    compat.py        what an endpoint can deploy (AWS, the local cloud's emulator, bare moto) and `adapt`
    errors.py        DeployError and its subclasses

Imports stay light: boto3, moto and docker are imported when a command needs them.
"""

from __future__ import annotations

from deployer.deploy.api import run_delete, run_plan, run_push, run_rollback, run_status
from deployer.deploy.context import NullProgress, Progress, PushOptions
from deployer.deploy.errors import BuildError, ConcurrentPushError, DeployError, DeployFailed, StackStateError
from deployer.deploy.manage import PlanResult
from deployer.deploy.push import PushResult

__all__ = [
    "BuildError",
    "ConcurrentPushError",
    "DeployError",
    "DeployFailed",
    "NullProgress",
    "PlanResult",
    "Progress",
    "PushOptions",
    "PushResult",
    "StackStateError",
    "run_delete",
    "run_plan",
    "run_push",
    "run_rollback",
    "run_status",
]
