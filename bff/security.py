"""HTTP hardening: CORS from an allowlist, a request body size limit, security headers.

`install_security(app, settings)` adds, outermost first:

    CORS            Starlette's `CORSMiddleware` with BFF_CORS_ORIGINS (comma-separated exact
                    origins; empty means no cross-origin browser access; "*" is refused outside
                    local-dev). Exposes the headers a streaming client needs (`X-Run-Id`,
                    `X-Session-Id`, `X-Request-Id`, `Retry-After`).
    BodySizeLimit   413 `payload_too_large` for a body over BFF_MAX_BODY_BYTES, by
                    `Content-Length` before anything is read, and by counting for chunked bodies.
    SecurityHeaders `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
                    `Referrer-Policy: no-referrer`, a deny-all `Content-Security-Policy` (not on
                    the interactive docs pages, which need their scripts), `Cache-Control:
                    no-store` unless the route set one, and HSTS when the request came over TLS.
"""

from __future__ import annotations

import json
from typing import Final

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.exceptions import PayloadTooLarge
from bff.settings import Settings

EXPOSED_HEADERS: Final = ("X-Run-Id", "X-Session-Id", "X-Request-Id", "Retry-After")
ALLOWED_HEADERS: Final = (
    "Authorization",
    "Content-Type",
    "Last-Event-ID",
    "X-API-Key",
    "X-Request-Id",
    "traceparent",
    "tracestate",
)
DOCS_PATHS: Final = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
CSP: Final = b"default-src 'none'; frame-ancestors 'none'"
HSTS: Final = b"max-age=31536000; includeSubDomains"


class SecurityConfigError(RuntimeError):
    pass


def cors_origins(settings: Settings) -> list[str]:
    origins = [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]
    if "*" in origins and settings.auth_mode != "local-dev":
        raise SecurityConfigError("BFF_CORS_ORIGINS='*' is only allowed with BFF_AUTH_MODE=local-dev")
    return origins


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so that FastAPI's body parsing lets it through."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_body_bytes <= 0:
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._reject(send)
            return
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers after the limit tripped is replaced by one 413.
            nonlocal started
            if too_large:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._reject(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        error = PayloadTooLarge(f"The request body is larger than {self.max_body_bytes} bytes.")
        body = json.dumps(error.to_body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https" or Headers(scope=scope).get("x-forwarded-proto") == "https"
        docs = scope.get("path", "") in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.raw.append((name, value))
                if not docs:
                    headers.raw.append((b"content-security-policy", CSP))
                if "cache-control" not in headers:
                    headers.raw.append((b"cache-control", b"no-store"))
                if secure:
                    headers.raw.append((b"strict-transport-security", HSTS))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the middlewares (call before the app starts; later calls wrap earlier ones)."""
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    origins = cors_origins(settings)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=600,
        )
