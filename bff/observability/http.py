"""Per-request observability as one pure ASGI middleware (no task hops, streams untouched).

For every HTTP request and WebSocket: a request id (the client's `X-Request-Id` when it is a
sane token, else a new one; echoed in the response header), bound for structured logs together
with a clean context; and, for HTTP, the request counter and the time to the response headers,
labelled by route template (never by raw path, so ids cannot blow up the label set). One access
log line per request when it ends.

The SERVER span of each request is FastAPI's own (native OpenTelemetry since 0.16x: it extracts
the client's `traceparent` and keeps the span current while the app runs), so this middleware
does not open a second one; see bff/observability/tracing.py.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Final

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.observability.logs import get_logger
from bff.observability.metrics import Metrics

REQUEST_ID_HEADER: Final = "x-request-id"
_SAFE_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUIET_ROUTES: Final = frozenset({"/metrics", "/health", "/healthz", "/ready", "/readyz"})

log = get_logger("bff.http")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        method = scope.get("method", "WS")
        started = time.perf_counter()
        status = {"code": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
                if self.metrics is not None:
                    self.metrics.http_duration.labels(method=method, route=_route_template(scope)).observe(
                        time.perf_counter() - started
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            status["code"] = status["code"] or 500
            raise
        finally:
            route = _route_template(scope)
            if self.metrics is not None and scope["type"] == "http":
                self.metrics.http_requests.labels(
                    method=method, route=route, status=str(status["code"])
                ).inc()
            if route not in QUIET_ROUTES:
                log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status["code"],
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
