"""A tiny Lambda handler that reports on the sandbox it runs in.

Copied into a test-only image built FROM the stand-in base image, the way a real function
image adds its code: `COPY app.py ${LAMBDA_TASK_ROOT}/` and `CMD ["app.handler"]`.
It answers with a value computed from the event (so the test knows the handler really ran)
and with what it could and could not write.
"""

from __future__ import annotations

import errno
import os
import platform
import sys
from typing import Any


def _try_write(path: str) -> str:
    """Write a small file at `path`; return "ok" or the errno name of the failure."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("probe")
        with open(path, encoding="utf-8") as handle:
            return "ok" if handle.read() == "probe" else "mismatch"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "")
    return {
        "sum": sum(event["numbers"]),
        "request_id": context.aws_request_id,
        "python": platform.python_version(),
        "executable": sys.executable,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cwd": os.getcwd(),
        "task_root": task_root,
        "runtime_dir": os.environ.get("LAMBDA_RUNTIME_DIR", ""),
        "handler_file": os.path.abspath(__file__),
        "write_tmp": _try_write("/tmp/probe.txt"),
        "write_task_root": _try_write(os.path.join(task_root or "/var/task", "probe.txt")),
    }
