"""Every error the BFF raises on purpose, and how each reaches a client.

    BFFError                      code, message, status: the JSON error body before the first byte
    ├── ClientError (4xx)
    │   ├── ValidationFailed      422/400 bad input (empty message, bad session id, bad JSON)
    │   ├── PayloadTooLarge       413
    │   ├── NotFound              404 unknown run, session or approval (also: not yours)
    │   ├── Conflict              409 (e.g. an approval already answered)
    │   ├── Unauthorized          401
    │   └── RateLimited           429, with retry_after seconds
    └── UpstreamError (5xx)       the runtime or AgentCore failed
        ├── UpstreamUnavailable   503 connection refused, throttled, runtime not ready
        ├── UpstreamTimeout       504 no first byte / no event within the timeout
        └── UpstreamBadGateway    502 the runtime answered with an error or garbage

Third-party errors (botocore, aiohttp, redis) are translated into these once, at the boundary
that calls the library (`bff/upstream.py`, `bff/eventlog.py`), with `raise ... from exc`.
After the first byte of a stream nothing is raised to the client: the error becomes an `error`
event followed by `done` (see docs/events.md). `message` is always safe to show a user: no
stack trace, no internal address, no ARN.
"""

from __future__ import annotations

from typing import Any


class BFFError(Exception):
    status: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    def headers(self) -> dict[str, str]:
        return {}


class ClientError(BFFError):
    status = 400
    code = "bad_request"


class ValidationFailed(ClientError):
    status = 422
    code = "validation_error"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class Unauthorized(ClientError):
    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class RateLimited(ClientError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UpstreamError(BFFError):
    status = 502
    code = "upstream_error"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    status = 503
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamBadGateway(UpstreamError):
    status = 502
    code = "upstream_bad_gateway"


class EventLogUnavailable(UpstreamUnavailable):
    """The run event log (Redis) cannot be reached; raised by `bff/eventlog.py`."""

    code = "event_log_unavailable"


class RunNotFound(NotFound):
    """No such run, it expired, or it belongs to another principal."""

    code = "run_not_found"
