"""The deployer's exceptions: one root, a documented tree.

    DeployerError                 a user-facing failure: message says what, where, and the fix
    ├── ConfigError               bad option, config file or environment value
    ├── ModelError                the model file or folder is missing, unreadable or invalid
    ├── DependencyError           an optional extra is not installed (message carries the pip command)
    ├── LocalRuntimeError         the local runtime (emulator, gateway) could not start or answer;
    │                             the local cloud's JournalError (its state on disk is damaged) is one
    ├── ImageError                no image to push: no builder, no Docker image, unreadable files (deployer/image)
    ├── AwsError                  an AWS call failed: credentials, region, endpoint (deployer/aws/errors.py)
    └── DeployError               a push, plan, rollback or delete could not finish (deployer/deploy/errors.py)

The CLI prints `str(exc)` on one line and exits with `exc.exit_code`; anything that is not a
DeployerError is a bug and keeps its traceback. Raise with `from exc` so the cause is kept.
"""

from __future__ import annotations

__all__ = [
    "DeployerError",
    "ImageError",
    "ConfigError",
    "ModelError",
    "DependencyError",
    "LocalRuntimeError",
]


class DeployerError(Exception):
    """Root of every error the deployer reports to a user."""

    exit_code: int = 1


class ConfigError(DeployerError):
    exit_code = 2


class ModelError(DeployerError):
    pass


class DependencyError(DeployerError):
    pass


class LocalRuntimeError(DeployerError):
    pass


class ImageError(DeployerError):
    """The image could not be made or read (deployer/image); push reports it as a BuildError."""
