"""`create_app(settings)`: the FastAPI application, its lifespan and its error shape.

The lifespan owns the long-lived resources and closes them in reverse order: the AgentCore
client (`bff/upstream.py`), the event log (`bff/eventlog.py`, memory or Redis) and the run
manager (`bff/runs.py`), which cancels every run still going in this process on the way out.
Routes get them through the `Annotated` dependencies of `bff/deps.py`.

Every error a client sees before a stream starts has one shape, `{"error": {"code", "message"}}`:
ours (`BFFError`), FastAPI's request validation (422 `validation_error`, instead of its default
body), Starlette's HTTP errors (404, 405, ...) and anything unexpected (500, no details).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from bff import __version__
from bff.approvals import ApprovalDesk, ApprovalFlow, create_approval_store
from bff.auth import build_authenticator
from bff.eventlog import EventLog, create_event_log
from bff.exceptions import BFFError
from bff.limits import Limiter
from bff.observability.http import ObservabilityMiddleware
from bff.observability.metrics import Metrics
from bff.observability.metrics import router as metrics_router
from bff.observability.tracing import setup_tracing
from bff.routes import router
from bff.runs import Mapper, RunManager
from bff.security import install_security
from bff.settings import Settings

logger = logging.getLogger("bff.app")

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BFFError)
    async def bff_error(request: Request, exc: BFFError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status, headers=exc.headers() or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = (
            f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
        )
        return _error(422, "validation_error", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}) or None)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left while we read its request body: nothing to run and nobody to answer.
        logger.info("client disconnected during %s %s", request.method, request.url.path)
        return _error(400, "client_disconnected", "The client disconnected before sending its request.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "Something went wrong on our side.")


def create_app(
    settings: Settings,
    *,
    upstream: Any | None = None,
    event_log: EventLog | None = None,
    mapper_factory: Callable[[], Mapper] | None = None,
) -> FastAPI:
    """The BFF. `upstream`, `event_log` and `mapper_factory` replace the real ones (tests)."""
    # Guard rails (docs/security.md, docs/observability.md). Outside BFF_AUTH_MODE=local-dev this
    # refuses to build an app without authentication configured (AuthConfigError).
    authenticator = build_authenticator(settings)
    tracer_provider = setup_tracing(settings.otel_exporter)
    metrics = Metrics()
    limiter = Limiter.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            client = upstream
            if client is None:
                from bff.upstream import AgentCoreClient

                client = await stack.enter_async_context(AgentCoreClient(settings, metrics=metrics))
            stack.push_async_callback(limiter.aclose)  # after the runs below have given back their slots
            if tracer_provider is not None:
                stack.callback(tracer_provider.force_flush)  # spans of the last requests go out
            metrics.queue_depth.set_function(lambda: float(getattr(client, "queued_events", 0)))
            log = event_log or create_event_log(
                settings.redis_url, ttl_s=settings.run_ttl_s, max_runs=settings.memory_log_max_runs
            )
            stack.push_async_callback(log.aclose)
            factory, pace = _pipeline(settings, mapper_factory)
            runs = await stack.enter_async_context(
                RunManager(log, client, factory, pace=pace, limiter=limiter, metrics=metrics)
            )
            approvals = ApprovalFlow(  # human approval (docs/approvals.md)
                ApprovalDesk(
                    create_approval_store(settings.redis_url, retention_s=settings.run_ttl_s),
                    ttl_s=settings.approval_ttl_s,
                ),
                runs,
                client,
            )
            stack.push_async_callback(approvals.aclose)
            app.state.approvals = approvals
            app.state.settings = settings
            app.state.upstream = client
            app.state.event_log = log
            app.state.runs = runs
            yield

    app = FastAPI(title="AgentCore streaming BFF", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.authenticator = authenticator
    app.state.metrics = metrics
    app.state.limiter = limiter
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(metrics_router)
    install_security(app, settings)  # body limit, security headers, CORS
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)  # outermost: sees every request
    return app


def _pipeline(
    settings: Settings, mapper_factory: Callable[[], Mapper] | None
) -> tuple[Callable[[], Mapper], Any]:
    """The mapper of each leg, and token coalescing's timer when it is on (bff/coalesce.py)."""
    from bff.coalesce import coalescing_mapper_factory, paced
    from bff.normalize import RuntimeEventMapper

    base = mapper_factory or RuntimeEventMapper
    factory = coalescing_mapper_factory(settings, base)
    return factory, (paced if getattr(settings, "coalesce_tokens", False) else None)
