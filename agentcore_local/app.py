"""The local AgentCore data plane: InvokeAgentRuntime and StopRuntimeSession, as botocore calls them.

    POST /runtimes/{agentRuntimeArn}/invocations[?qualifier=..]        -> the runtime's POST /invocations
    POST /runtimes/{agentRuntimeArn}/stopruntimesession[?qualifier=..] -> closes the session's streams
    GET  /ping                                                          -> {"status": "Healthy"} (dev stack)

Invocations are forwarded with the session header and the other headers the service passes on
(user id, trace headers, MCP headers, `X-Amzn-Bedrock-AgentCore-Runtime-Custom-*`); the runtime's
body comes back untouched, chunk by chunk as it arrives, with its content type and status and the
`X-Amzn-Bedrock-AgentCore-Runtime-Session-Id` header.

What the service checks, this checks, and it answers errors in the service's restJson1 shape
(`x-amzn-ErrorType` header, `{"message": ...}` body) so botocore raises the modelled exceptions:

    ValidationException        400  session id missing or not 33-256 characters
    ResourceNotFoundException  404  unknown runtime ARN; StopRuntimeSession of an unknown session
    RuntimeClientError         424  the runtime answered an error status, or could not be reached
                                    (the service reports a failing container this way too)
    ThrottlingException        429  more than AGENTCORE_LOCAL_MAX_INVOCATIONS_PER_S (off by default)

Stopping a session closes every forwarded upstream connection of that session: the runtime sees
the client go away, and the AgentCore SDK then cancels the agent's async generator, which stops
the agent's work. The caller's stream ends cleanly. If the runtime's stream breaks (the process
died), the caller's stream is cut without its terminating chunk, so the client sees a broken body,
as it would through the real service.

Known divergences: no SigV4 verification (any credentials are accepted), any `qualifier` is
accepted, sessions are not isolated in microVMs (one runtime process serves them all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from urllib.parse import unquote

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentcore_local.settings import LocalSettings

log = logging.getLogger("agentcore_local")

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
_FORWARDED = (
    "content-type",
    "accept",
    SESSION_HEADER.lower(),
    "x-amzn-bedrock-agentcore-runtime-user-id",
    "x-amzn-trace-id",
    "traceparent",
    "tracestate",
    "baggage",
    "mcp-session-id",
    "mcp-protocol-version",
)
_CUSTOM_PREFIX = "x-amzn-bedrock-agentcore-runtime-custom-"


def service_error(error_type: str, status: int, message: str) -> JSONResponse:
    """An error as the service sends it (restJson1): botocore maps the header to the exception class."""
    return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": error_type})


class Forward:
    """One invocation being streamed back: an ASGI response that relays the runtime's body.

    It owns the upstream response and closes it on every way out: the runtime finished, the
    caller went away (`http.disconnect`), or `stop()` (StopRuntimeSession).
    """

    def __init__(self, upstream: httpx.Response, session_id: str, registry: Sessions) -> None:
        self.upstream = upstream
        self.session_id = session_id
        self._registry = registry
        self._scope: anyio.CancelScope | None = None
        self._stopped = False
        registry.add(self)  # from now on StopRuntimeSession finds it, even before the body starts

    def stop(self) -> None:
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", self.upstream.headers.get("content-type", "application/json").encode()),
            (SESSION_HEADER.lower().encode(), self.session_id.encode()),
            (b"x-amzn-requestid", self.upstream.headers.get("x-amzn-requestid", "local").encode()),
        ]
        complete = False
        try:
            await send(
                {"type": "http.response.start", "status": self.upstream.status_code, "headers": headers}
            )
            complete = await self._relay(receive, send)
        finally:
            self._registry.discard(self)
            with anyio.CancelScope(shield=True):
                await self.upstream.aclose()
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _relay(self, receive: Receive, send: Send) -> bool:
        """Copy chunks until the runtime ends (True), the caller leaves or the stream breaks (False)."""
        outcome = {"complete": False}
        async with anyio.create_task_group() as tasks:
            self._scope = tasks.cancel_scope
            if self._stopped:
                tasks.cancel_scope.cancel()

            async def pump() -> None:
                try:
                    async for chunk in self.upstream.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    outcome["complete"] = True
                except httpx.HTTPError as exc:
                    log.warning(
                        "runtime stream broke for session %s: %s", self.session_id, type(exc).__name__
                    )
                except OSError:
                    pass  # the caller went away mid-send
                tasks.cancel_scope.cancel()

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                log.info("caller left session %s: closing the runtime stream", self.session_id)
                tasks.cancel_scope.cancel()

            tasks.start_soon(pump)
            tasks.start_soon(watch_disconnect)
        if self._stopped:
            log.info("session %s stopped: runtime stream closed", self.session_id)
            return True
        return outcome["complete"]


class Sessions:
    """Known sessions (for StopRuntimeSession) and the invocations each is streaming now."""

    def __init__(self, max_known: int) -> None:
        self._known: OrderedDict[str, None] = OrderedDict()
        self._max_known = max_known
        self._active: dict[str, set[Forward]] = {}

    def seen(self, session_id: str) -> None:
        self._known[session_id] = None
        self._known.move_to_end(session_id)
        while len(self._known) > self._max_known:
            self._known.popitem(last=False)

    def add(self, forward: Forward) -> None:
        self._active.setdefault(forward.session_id, set()).add(forward)

    def discard(self, forward: Forward) -> None:
        streams = self._active.get(forward.session_id)
        if streams is not None:
            streams.discard(forward)
            if not streams:
                del self._active[forward.session_id]

    def active(self, session_id: str | None = None) -> int:
        if session_id is not None:
            return len(self._active.get(session_id, ()))
        return sum(len(s) for s in self._active.values())

    def stop(self, session_id: str) -> bool:
        """Close the session's streams and forget it; False if the session is unknown."""
        if session_id not in self._known and session_id not in self._active:
            return False
        self._known.pop(session_id, None)
        for forward in list(self._active.get(session_id, ())):
            forward.stop()
        return True


class Throttle:
    """At most `per_second` invocations in any one-second window (0: unlimited)."""

    def __init__(self, per_second: int) -> None:
        self._per_second = per_second
        self._recent: deque[float] = deque()

    def allow(self) -> bool:
        if self._per_second <= 0:
            return True
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        if len(self._recent) >= self._per_second:
            return False
        self._recent.append(now)
        return True


def _check(request: Request, settings: LocalSettings) -> tuple[str, Response | None]:
    """The session id, or the error the service would answer for this request."""
    arn = unquote(request.path_params["arn"])
    session_id = request.headers.get(SESSION_HEADER, "")
    if not 33 <= len(session_id) <= 256:
        return session_id, service_error(
            "ValidationException", 400, "runtimeSessionId must be between 33 and 256 characters long"
        )
    if arn not in settings.runtime_arns:
        return session_id, service_error(
            "ResourceNotFoundException", 404, "No agent runtime found for this ARN"
        )
    return session_id, None


def create_app(settings: LocalSettings | None = None) -> Starlette:
    settings = settings or LocalSettings.from_env()
    sessions = Sessions(settings.known_sessions_max)
    throttle = Throttle(settings.max_invocations_per_s)
    http: dict[str, httpx.AsyncClient] = {}

    async def invoke(request: Request) -> Response:
        session_id, error = _check(request, settings)
        if error is not None:
            return error
        if not throttle.allow():
            return service_error("ThrottlingException", 429, "Rate exceeded")
        body = await request.body()
        headers = {
            k: v for k, v in request.headers.items() if k in _FORWARDED or k.startswith(_CUSTOM_PREFIX)
        }
        sessions.seen(session_id)
        upstream_request = http["client"].build_request(
            "POST", f"{settings.runtime_url}/invocations", content=body, headers=headers
        )
        try:
            upstream = await http["client"].send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("runtime unreachable for session %s: %s", session_id, type(exc).__name__)
            return service_error("RuntimeClientError", 424, "The agent runtime could not be reached.")
        if upstream.status_code >= 400:
            await upstream.aclose()
            return service_error(
                "RuntimeClientError",
                424,
                f"Received error ({upstream.status_code}) from runtime. Please check your logs for more information.",
            )
        return Forward(upstream, session_id, sessions)

    async def stop_session(request: Request) -> Response:
        session_id, error = _check(request, settings)
        if error is not None:
            return error
        if not sessions.stop(session_id):
            return service_error("ResourceNotFoundException", 404, "Session not found")
        return JSONResponse({}, headers={SESSION_HEADER: session_id})

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "Healthy", "active_streams": sessions.active()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(connect=settings.connect_timeout_s, read=None, write=60.0, pool=None)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            http["client"] = client
            yield
            for session_id in list(sessions._active):
                sessions.stop(session_id)
            await asyncio.sleep(0)

    app = Starlette(
        routes=[
            Route("/runtimes/{arn:path}/invocations", invoke, methods=["POST"]),
            Route("/runtimes/{arn:path}/stopruntimesession", stop_session, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sessions = sessions
    return app
