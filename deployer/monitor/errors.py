"""What `metrics` and `logs` report to a user, under the deployer's one root (deployer/errors.py).

    DeployerError
    ├── ConfigError               --since / --period / --request-id that cannot be read (exit 2)
    └── MonitorError              reading the deployed stack's metrics or logs failed
        ├── StackNotFound         no such stack (or no function in it) where the verb looked
        ├── NoMetrics             the stack exists, nothing was measured in the window
        ├── NoLogs                no log group, or no line of the asked request
        └── OutputError           a --plot file or --tensorboard folder cannot be written;
                                  nothing was left behind

Each message says what, where, and what to do; the CLI prints it on one line and exits non-zero.
"""

from __future__ import annotations

from deployer.errors import DeployerError

__all__ = ["MonitorError", "StackNotFound", "NoMetrics", "NoLogs", "OutputError"]


class MonitorError(DeployerError):
    """Reading a deployed stack's metrics or logs failed."""


class StackNotFound(MonitorError):
    pass


class NoMetrics(MonitorError):
    pass


class NoLogs(MonitorError):
    pass


class OutputError(MonitorError):
    pass
