"""What the function process sees: Lambda's environment, and nothing that reaches a real account.

Lambda starts the runtime with a small, fixed environment; a handler that leans on a variable of
the developer's shell would work here and fail in the cloud. So the child gets an allow-list of
the host's variables (what a process needs to run at all), then the variables Lambda sets, then
the caller's `env` on top.

No real AWS account can be reached from the child: no credential variable is passed through,
the shared config and credentials files point at the null device, and the instance metadata
service (which hands out credentials on EC2 hosts) is disabled. A caller who wants the function
to talk to a local fake (moto) passes fake credentials and the endpoint in `env` explicitly.

Lambda's timeout is a whole number of seconds (the emulator parses it as an integer and panics
on anything else), memory is 128-10240 MB, and reserved concurrency 1-10000 (the config's
range); all are checked here, before anything starts.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from deployer.errors import ConfigError

__all__ = ["lambda_environment", "check_limits", "check_concurrency", "CREDENTIAL_VARS", "DEFAULT_FUNCTION_NAME"]

DEFAULT_FUNCTION_NAME = "onnx-lambda-local"
DEFAULT_REGION = "us-east-1"
MAX_CONCURRENCY = 10_000  # as deployer.config bounds reserved_concurrency

# Passed through from the host: the process needs them, and they carry no AWS identity.
_HOST_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "LD_LIBRARY_PATH", "SYSTEMROOT")

CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def check_limits(timeout_s: float, memory_mb: int) -> int:
    """The timeout as Lambda's whole seconds; ConfigError when either is outside Lambda's range."""
    if not (1 <= timeout_s <= 900) or not math.isclose(timeout_s, round(timeout_s)):
        raise ConfigError(
            f"timeout {timeout_s} s is not a Lambda timeout: use a whole number of seconds from 1 to 900"
        )
    if not (128 <= memory_mb <= 10240):
        raise ConfigError(f"memory {memory_mb} MB is not a Lambda memory size: use 128 to 10240 MB")
    return int(round(timeout_s))


def check_concurrency(concurrency: int | None) -> int:
    """How many execution environments to allow: the reserved concurrency, 1 when none is given."""
    if concurrency is None:
        return 1
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ConfigError(
            f"concurrency {concurrency!r} is not a reserved concurrency: use a whole number from 1 to {MAX_CONCURRENCY}"
        )
    return concurrency


def lambda_environment(
    *,
    model: Path,
    handler: str,
    code_root: Path,
    timeout_s: int,
    memory_mb: int,
    extra: Mapping[str, str] | None = None,
    host: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of the emulator and, through it, of the function."""
    source = os.environ if host is None else host
    env = {name: source[name] for name in _HOST_VARS if name in source}
    name = (extra or {}).get("AWS_LAMBDA_FUNCTION_NAME", DEFAULT_FUNCTION_NAME)
    region = (extra or {}).get("AWS_REGION", DEFAULT_REGION)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": str(code_root),
            "_HANDLER": handler,
            "TZ": ":UTC",
            "PYTHONPATH": str(code_root),
            "PYTHONUNBUFFERED": "1",  # logs and EMF lines reach the caller as they are written
            # No PYTHONDONTWRITEBYTECODE: the image's code is byte-compiled at build, and so should the
            # host's be. With it, a functions/ changed since its last compile (a fresh clone, an edit)
            # was compiled again at every cold start: +~50 ms of init for the iris function, measured.
            "MODEL_PATH": str(model),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env.update(extra or {})
    return env
