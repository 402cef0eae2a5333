"""HTTP errors of the handler, each a class mapped to its status code.

    HTTPError                      status 500 unless a subclass says otherwise
    ├── BadRequest           400   malformed body, invalid tensor, missing/unknown input
    ├── NotFound             404   unknown route, model or version
    ├── MethodNotAllowed     405   known route, wrong method (carries the allowed methods)
    ├── PayloadTooLarge      413   body over Lambda's 6 MB, batch over the cap
    │   └── ResponseTooLarge 413   the answer would be over Lambda's 6 MB response payload
    ├── UnsupportedMediaType 415   a content type the route does not read
    ├── ModelFailure         500   onnxruntime failed on valid input (no traceback in the body)
    ├── ModelUnavailable     503   the model could not be loaded at cold start
    └── GatewayTimeout       504   the work cannot finish within the invocation's remaining time

`kind` names the error in metrics (`Errors` by kind) and logs.
"""

from __future__ import annotations

__all__ = [
    "HTTPError",
    "BadRequest",
    "NotFound",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "ResponseTooLarge",
    "UnsupportedMediaType",
    "ModelFailure",
    "ModelUnavailable",
    "GatewayTimeout",
]


class HTTPError(Exception):
    status = 500
    kind = "Internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):
    status = 400
    kind = "BadRequest"


class NotFound(HTTPError):
    status = 404
    kind = "NotFound"


class MethodNotAllowed(HTTPError):
    status = 405
    kind = "MethodNotAllowed"

    def __init__(self, message: str, allow: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allow = allow


class PayloadTooLarge(HTTPError):
    status = 413
    kind = "PayloadTooLarge"


class ResponseTooLarge(PayloadTooLarge):
    """413 for the answer, not the request: its own kind, so the metrics tell them apart."""

    kind = "ResponseTooLarge"


class UnsupportedMediaType(HTTPError):
    status = 415
    kind = "UnsupportedMediaType"


class ModelFailure(HTTPError):
    status = 500
    kind = "ModelFailure"


class ModelUnavailable(HTTPError):
    status = 503
    kind = "ModelUnavailable"


class GatewayTimeout(HTTPError):
    """The handler's own deadline (functions/inference.py): answered before Lambda's timeout kills
    the environment, which would cost the next request a cold start and the client an opaque 502/504."""

    status = 504
    kind = "GatewayTimeout"
