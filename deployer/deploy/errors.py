"""Errors of the deploy pipeline, under the project's one root (`deployer.errors.DeployerError`).

    DeployerError
    └── DeployError               push / plan / status / rollback / delete could not do its job
        ├── BuildError            no image to push (no builder, no Docker image, unreadable files)
        ├── DeployFailed          CloudFormation rolled the change back; message lists the failing events
        ├── StackStateError       the stack is in a state that needs a person (UPDATE_ROLLBACK_FAILED...)
        └── ConcurrentPushError   another push to the same stack is running

Messages are one line each: what, where, and the fix.
"""

from __future__ import annotations

from deployer.errors import DeployerError, ImageError

__all__ = ["DeployError", "BuildError", "DeployFailed", "StackStateError", "ConcurrentPushError"]


class DeployError(DeployerError):
    pass


class BuildError(DeployError, ImageError):
    """No image to push (no builder, a `--builder` that cannot work here). deployer.image raises its own
    ImageError (image/ does not import the pipeline); both print one line and exit non-zero."""


class DeployFailed(DeployError):
    exit_code = 5


class StackStateError(DeployError):
    exit_code = 6


class ConcurrentPushError(DeployError):
    exit_code = 7
