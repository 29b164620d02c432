"""The BFF's one way to the agent: aioboto3 `bedrock-agentcore` (InvokeAgentRuntime, StopRuntimeSession).

    async with AgentCoreClient(settings) as client:                 # app lifespan: one per process
        async with client.stream(payload=..., session_id=sid) as events:   # invoke happens here
            async for runtime_event in events:                         # dicts, as they arrive
                ...
        await client.stop_session(sid)
        answer = await client.invoke_json({"action": "history"}, sid)

Each stream is a producer task reading `response["response"].iter_chunks()`, decoding SSE
incrementally (`bff.sse`) and putting the decoded JSON dicts on a bounded queue; the consumer
iterates the queue with a timeout between events. Leaving the `async with` (normally, by an
exception, or by cancellation) cancels the producer, awaits it and closes the upstream body, so
the upstream connection is closed and nothing is left running.

Errors are translated here, once, into `bff.exceptions` (`raise ... from exc`) with messages safe
for users (no ARN, no host):

    before the first byte (entering `stream()`, `invoke_json`, `stop_session`):
        connection refused, endpoint unreachable, throttling, 5xx    -> UpstreamUnavailable (503)
        no answer within first_byte_timeout_s, connect/read timeout   -> UpstreamTimeout (504)
        RuntimeClientError (the runtime failed), not found, denied   -> UpstreamBadGateway (502)
        ValidationException / parameter validation (our input)       -> ClientError (400)
    while iterating:
        no event within event_timeout_s, socket read timeout          -> UpstreamTimeout
        the body broke (connection reset, truncated chunked body)     -> UpstreamBadGateway

A `data:` frame that is not a JSON object (the SDK double-encodes a yielded string) is logged
and skipped. A runtime that answers `application/json` instead of SSE yields that one object.

Client configuration (REFERENCE.md section 1): botocore's 60 s read timeout and 10-connection
pool would cut long silent streams and cap concurrency, so both come from settings; botocore
never retries (one attempt): `invoke_agent_runtime` is retried by `bff.retry.RetryPolicy` on
throttling and connection failures, until the response headers arrive and never after, within
`first_byte_timeout_s` in all. With a `user_id` (the principal), the runtime session id is
derived from it (`bff.auth.runtime_session_id`) and it is sent as `runtimeUserId`; the current
trace context goes as `traceParent` (bff/observability/tracing.py). `tcp_keepalive` is
set, but aiobotocore 2.25 does not apply socket options (a TODO in its httpsession); the runtime's
HEARTBEAT events keep the connection busy instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlparse

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore import exceptions as boto
from opentelemetry.trace import SpanKind

from bff.auth import runtime_session_id
from bff.events import loads_json
from bff.exceptions import (
    BFFError,
    ClientError,
    UpstreamBadGateway,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bff.observability.metrics import Metrics
from bff.observability.tracing import invoke_trace_kwargs, tracer
from bff.retry import RetryPolicy, error_class
from bff.settings import Settings
from bff.sse import SSEDecoder

log = logging.getLogger(__name__)

_END: Final = object()
_TIMED_OUT: Final = object()  # queued by the stream's timer: no event within event_timeout_s
_TIMER_SLACK_S: Final = 0.001  # a loop may run a timer this early (its clock resolution)
_CHUNK_SIZE: Final = 64 * 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_PROBE_TIMEOUT_S: Final = 1.0
_PROBE_CACHE_S: Final = 5.0

_UNAVAILABLE_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "ServiceQuotaExceededException",
        "RetryableConflictException",
        "ConflictException",
        "InternalServerException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
    }
)


# --- error translation (the one place botocore / aiohttp errors become ours) ---------------------


def translate(exc: BaseException) -> BFFError:
    """A botocore / aiohttp / timeout error as the BFF error a client may see."""
    if isinstance(exc, BFFError):
        return exc
    if isinstance(exc, boto.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "ValidationException":
            return ClientError("The agent runtime rejected the request as invalid.", code="invalid_request")
        if code in _UNAVAILABLE_CODES or status in (429, 500, 503):
            return UpstreamUnavailable("The agent is busy or unavailable. Please try again shortly.")
        if status == 504:
            return UpstreamTimeout("The agent did not answer in time.")
        return UpstreamBadGateway("The agent runtime answered with an error.")
    if isinstance(exc, boto.ParamValidationError):
        return ClientError("The request to the agent runtime is invalid.", code="invalid_request")
    if isinstance(exc, boto.ReadTimeoutError | boto.ConnectTimeoutError | TimeoutError):
        return UpstreamTimeout("The agent did not answer in time.")
    if isinstance(exc, boto.ResponseStreamingError | aiohttp.ClientPayloadError):
        return UpstreamBadGateway("The agent's answer broke off.")
    if isinstance(exc, boto.ConnectionError | boto.ConnectionClosedError | aiohttp.ClientConnectionError):
        return UpstreamUnavailable("The agent runtime cannot be reached.")
    if isinstance(exc, boto.NoCredentialsError | boto.BotoCoreError | aiohttp.ClientError | OSError):
        return UpstreamUnavailable("The agent runtime cannot be reached.")
    return UpstreamBadGateway("The agent runtime failed.")


def _decode(data: str) -> dict[str, Any] | None:
    try:
        value = loads_json(data)
    except ValueError:
        log.warning("upstream frame that is not JSON skipped (%d chars)", len(data))
        return None
    if not isinstance(value, dict):
        log.warning("upstream frame that is not a JSON object skipped (%s)", type(value).__name__)
        return None
    return value


# --- one stream ---------------------------------------------------------------------------------


class UpstreamStream:
    """One invocation: an async context manager and an async iterator of runtime event dicts."""

    def __init__(self, client: AgentCoreClient, kwargs: dict[str, Any]) -> None:
        self._client = client
        self._kwargs = kwargs
        self._settings = client.settings
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self._settings.queue_max_events)
        self._producer: asyncio.Task[None] | None = None
        self._body: Any = None
        self._finished = False
        self.content_type = ""
        # The event timeout: one timer per stream, re-armed only when it fires (not one
        # `asyncio.timeout` per awaited event, ~7% of the BFF's CPU at 200 paced streams).
        self._watchdog: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None  # loop time the consumer started waiting, if it is

    async def __aenter__(self) -> UpstreamStream:
        response = await self._client._invoke(self._kwargs)
        self._body = response["response"]
        self.content_type = response.get("contentType", "") or ""
        self._client._active += 1
        self._client._streams.add(self)
        self._producer = asyncio.create_task(self._produce(), name="agentcore-upstream-producer")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        self._finished = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        try:
            if producer is not None:
                producer.cancel()
                try:
                    await producer
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
        finally:
            if self._body is not None:
                body, self._body = self._body, None
                body.close()
                self._client._active -= 1
                self._client._streams.discard(self)

    def __aiter__(self) -> UpstreamStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._finished:
            raise StopAsyncIteration
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            item = await self._wait()
        if item is _TIMED_OUT:
            self._finished = True
            raise UpstreamTimeout("The agent stopped answering.")
        if item is _END:
            self._finished = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        return item  # type: ignore[no-any-return]

    async def _wait(self) -> Any:
        """The next item, waited for; `_TIMED_OUT` after `event_timeout_s` without one."""
        loop = asyncio.get_running_loop()
        self._waiting_since = since = loop.time()
        if self._watchdog is None:
            self._watchdog = loop.call_at(since + self._settings.event_timeout_s, self._watch, loop)
        try:
            return await self._queue.get()
        finally:
            self._waiting_since = None

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """The stream's timer fired: end a wait that has lasted `event_timeout_s`, re-arm for one
        that has not; while nobody waits it stays off (the next wait arms it)."""
        self._watchdog = None
        since = self._waiting_since
        if since is None or self._finished:
            return
        deadline = since + self._settings.event_timeout_s
        if loop.time() >= deadline - _TIMER_SLACK_S:
            if self._queue.empty():  # else an item is there and the consumer is about to take it
                self._queue.put_nowait(_TIMED_OUT)  # the consumer waits on an empty queue: it gets this
            return
        self._watchdog = loop.call_at(deadline, self._watch, loop)

    async def _produce(self) -> None:
        put = self._queue.put
        try:
            if "json" in self.content_type and "event-stream" not in self.content_type:
                value = _decode((await self._body.read()).decode("utf-8", errors="replace"))
                if value is not None:
                    await put(value)
            else:
                decoder = SSEDecoder()
                async for chunk in self._body.iter_chunks(_CHUNK_SIZE):
                    for event in decoder.feed(chunk):
                        value = _decode(event.data)
                        if value is not None:
                            await put(value)
                for event in decoder.flush():
                    value = _decode(event.data)
                    if value is not None:
                        await put(value)
            await put(_END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("upstream stream failed: %s", type(exc).__name__)
            error = translate(exc)
            error.__cause__ = exc
            await put(error)


# --- the client -----------------------------------------------------------------------------------


class AgentCoreClient:
    """One aioboto3 session and one `bedrock-agentcore` client for the whole process."""

    def __init__(
        self, settings: Settings, *, metrics: Metrics | None = None, retry: RetryPolicy | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.retry = retry or RetryPolicy()  # before the first byte only (bff/retry.py)
        self._session = aioboto3.Session(region_name=settings.aws_region)
        self._exit: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._active = 0
        self._streams: set[UpstreamStream] = set()
        self._probe: tuple[float, bool] | None = None  # (when, answer) of the last health probe
        self._probe_lock = asyncio.Lock()

    @property
    def active_streams(self) -> int:
        """Upstream streams open right now (each with its producer task and connection)."""
        return self._active

    @property
    def queued_events(self) -> int:
        """Events decoded but not yet consumed, over every open stream (the queue depth metric)."""
        return sum(stream._queue.qsize() for stream in self._streams)

    def _config(self) -> AioConfig:
        s = self.settings
        return AioConfig(
            connect_timeout=s.connect_timeout_s,
            read_timeout=s.read_timeout_s,
            max_pool_connections=s.max_pool_connections,
            retries={"mode": "standard", "total_max_attempts": 1},
            tcp_keepalive=True,
        )

    async def __aenter__(self) -> AgentCoreClient:
        kwargs: dict[str, Any] = {"config": self._config()}
        url = self.settings.agentcore_endpoint_url or None
        if url:
            kwargs["endpoint_url"] = url
            if urlparse(url).hostname in _LOOPBACK:
                # The local endpoint ignores signatures; skip the credential chain (and its IMDS probe).
                kwargs["aws_access_key_id"] = "local"
                kwargs["aws_secret_access_key"] = "local"
        self._exit = contextlib.AsyncExitStack()
        self._client = await self._exit.enter_async_context(
            self._session.client("bedrock-agentcore", **kwargs)
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._exit is not None:
            await self._exit.aclose()
        self._exit = None
        self._client = None

    # --- health -------------------------------------------------------------------------------

    async def ping(self) -> bool | None:
        """Whether the local AgentCore endpoint answers `GET /ping` (within 1 s; cached 5 s).

        None when there is nothing cheap to ask: the AWS data plane has no health path, so a
        non-loopback endpoint is "not checked" rather than guessed from a real invocation.
        """
        url = self.settings.agentcore_endpoint_url or ""
        if urlparse(url).hostname not in _LOOPBACK:
            return None
        async with self._probe_lock:  # many /healthz at once: one probe
            now = asyncio.get_running_loop().time()
            if self._probe is not None and now - self._probe[0] < _PROBE_CACHE_S:
                return self._probe[1]
            try:
                timeout = aiohttp.ClientTimeout(total=_PROBE_TIMEOUT_S)
                async with (
                    aiohttp.ClientSession(timeout=timeout) as http,
                    http.get(url.rstrip("/") + "/ping") as response,
                ):
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError, OSError):
                ok = False
            self._probe = (now, ok)
            return ok

    # --- operations -------------------------------------------------------------------------

    def _base(self, session_id: str, user_id: str | None = None) -> dict[str, Any]:
        # With a principal, the runtime session is derived from it (bff/auth.py): nobody reaches
        # another principal's microVM by sending their session id.
        kwargs: dict[str, Any] = {
            "agentRuntimeArn": self.settings.agent_runtime_arn,
            "runtimeSessionId": runtime_session_id(user_id, session_id) if user_id else session_id,
        }
        if self.settings.agent_runtime_qualifier:
            kwargs["qualifier"] = self.settings.agent_runtime_qualifier
        return kwargs

    def _invoke_kwargs(
        self,
        payload: dict[str, Any],
        session_id: str,
        user_id: str | None,
        trace_parent: str | None,
        accept: str,
    ) -> dict[str, Any]:
        kwargs = self._base(session_id, user_id)
        kwargs["payload"] = json.dumps(payload, ensure_ascii=False).encode()
        kwargs["contentType"] = "application/json"
        kwargs["accept"] = accept
        if user_id:
            kwargs["runtimeUserId"] = user_id
        if trace_parent:
            kwargs["traceParent"] = trace_parent
        return kwargs

    async def _invoke(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._client is None:
            raise RuntimeError("AgentCoreClient used outside its `async with` block")
        with tracer().start_as_current_span("agentcore.invoke", kind=SpanKind.CLIENT):
            if "traceParent" not in kwargs:
                kwargs = {**kwargs, **invoke_trace_kwargs()}  # the runtime's spans nest under this one
            try:
                async with asyncio.timeout(self.settings.first_byte_timeout_s):
                    return await self.retry.run(
                        lambda: self._client.invoke_agent_runtime(**kwargs), on_retry=self._on_retry
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("invoke_agent_runtime failed: %s", type(exc).__name__)
                if self.metrics is not None:
                    self.metrics.upstream_error(error_class(exc))
                raise translate(exc) from exc

    def _on_retry(self, exc: BaseException, attempt: int) -> None:
        log.info("invoke_agent_runtime retried after %s (attempt %d)", error_class(exc), attempt)
        if self.metrics is not None:
            self.metrics.upstream_retry(error_class(exc))

    def stream(
        self,
        *,
        payload: dict[str, Any],
        session_id: str,
        user_id: str | None = None,
        trace_parent: str | None = None,
    ) -> UpstreamStream:
        accept = "text/event-stream, application/json"
        return UpstreamStream(self, self._invoke_kwargs(payload, session_id, user_id, trace_parent, accept))

    async def invoke_json(
        self,
        payload: dict[str, Any],
        session_id: str,
        *,
        user_id: str | None = None,
        trace_parent: str | None = None,
    ) -> dict[str, Any]:
        """A non-streaming call (e.g. `{"action": "history"}`): the runtime's JSON answer.

        If the runtime streams anyway, the answer is `{"events": [every event dict]}`.
        """
        stream = UpstreamStream(
            self, self._invoke_kwargs(payload, session_id, user_id, trace_parent, "application/json")
        )
        async with stream:
            events = [event async for event in stream]
        if "event-stream" not in stream.content_type and len(events) == 1:
            return events[0]
        return {"events": events}

    async def stop_session(self, session_id: str, user_id: str | None = None) -> bool:
        """StopRuntimeSession. False when the service does not know the session (not an error)."""
        if self._client is None:
            raise RuntimeError("AgentCoreClient used outside its `async with` block")
        try:
            async with asyncio.timeout(self.settings.first_byte_timeout_s):
                await self._client.stop_runtime_session(**self._base(session_id, user_id))
        except boto.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise translate(exc) from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("stop_runtime_session failed: %s", type(exc).__name__)
            raise translate(exc) from exc
        return True
