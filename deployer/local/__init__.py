"""The local runtime loop: a model served on 127.0.0.1 exactly as Lambda would run it.

    HTTP client ──> local API Gateway (REST API proxy events, Lambda's limits)   _gateway, _events,
                      │                                                          _encoding
                      │ one event: an idle environment, a new one up to the
                      │ concurrency, else 429                                    _pool
                      ▼
                    Runtime Interface Emulator (aws-sam-cli's binary)            _emulator
                      │ Runtime API on a second loopback port
                      ▼
                    python -c <bootstrap> functions.app.handler (awslambdaric)   _lambda_env, _process
                      held to the memory size, its peak in REPORT              _memory

Nothing listens beyond 127.0.0.1, no AWS credential reaches the function, and every process is
stopped on close, or killed by the kernel when the process that started it dies. Each instance
picks its own ports, so several can run side by side (tests).

    with LocalEndpoint(Path("examples/iris/model"), concurrency=2, memory_mb=512) as endpoint:
        endpoint.request("POST", "/v2/models/iris/infer", body, {"Content-Type": "application/json"})

`serve(model, port=8080)` does the same until Ctrl-C or SIGTERM.

Beside it: `container.py` runs a function image in Docker under the image's own RIE (what the
local cloud does with a version pushed as a container image), and `cloud/` is the project's
local cloud (AWS emulated, every pushed stack served from its own images).
"""

from __future__ import annotations

from deployer.local._emulator import find_code_root, find_emulator_binary
from deployer.local._endpoint import LocalEndpoint, LocalResponse, serve, validate_model
from deployer.local._events import MAX_INVOKE_PAYLOAD
from deployer.local._gateway import Gateway
from deployer.local._pool import Throttled

__all__ = [
    "Gateway",
    "LocalEndpoint",
    "LocalResponse",
    "serve",
    "validate_model",
    "find_emulator_binary",
    "find_code_root",
    "MAX_INVOKE_PAYLOAD",
    "Throttled",
]
