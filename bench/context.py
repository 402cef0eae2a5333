"""A fake Lambda context (standard library only, so cold-start children can import it cheaply)."""

from __future__ import annotations

import time
import uuid

__all__ = ["FakeContext"]


class FakeContext:
    """The attributes of awslambdaric's LambdaContext that handlers and Powertools read."""

    def __init__(self, function_name: str = "bench-fn", memory_mb: int = 3008,
                 timeout_s: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2024/01/01/[$LATEST]bench"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
