"""bff.retry: which upstream failures are retried, how long it waits, and that it gives up."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import botocore.exceptions
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bff.exceptions import UpstreamBadGateway, UpstreamUnavailable
from bff.observability.metrics import Metrics
from bff.retry import RetryPolicy, error_class, is_retryable
from bff.settings import Settings
from bff.upstream import AgentCoreClient
from tests.e2e.servers import serve


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "nope"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "InvokeAgentRuntime",
    )


class Flaky:
    """A stub upstream call that fails `failures` times, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "headers"


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def policy(attempts: int = 4, **kwargs: Any) -> tuple[RetryPolicy, RecordingSleep]:
    sleep = RecordingSleep()
    return RetryPolicy(attempts=attempts, sleep=sleep, rng=random.Random(7), **kwargs), sleep


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException", 429),
        client_error("RetryableConflictException", 409),
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://upstream"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="http://upstream"),
        ConnectionResetError(),
    ],
    ids=["throttling", "retryable-conflict", "endpoint-connection", "connect-timeout", "connection-reset"],
)
async def test_retryable_failures_are_retried_until_the_call_succeeds(error: Exception) -> None:
    retry, sleep = policy(attempts=4)
    call = Flaky(3, error)
    assert await retry.run(call) == "headers"
    assert call.calls == 4
    assert len(sleep.delays) == 3


@pytest.mark.parametrize(
    "error",
    [
        client_error("ValidationException", 400),
        client_error("AccessDeniedException", 403),
        client_error("ResourceNotFoundException", 404),
        client_error("InternalServerException", 500),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://upstream"),
        ValueError("bug"),
    ],
    ids=["validation", "access-denied", "not-found", "internal", "read-timeout", "bug"],
)
async def test_other_failures_are_not_retried(error: Exception) -> None:
    retry, sleep = policy()
    call = Flaky(1, error)
    with pytest.raises(type(error)):
        await retry.run(call)
    assert call.calls == 1
    assert sleep.delays == []


async def test_gives_up_after_the_last_attempt_with_the_last_error() -> None:
    retry, sleep = policy(attempts=3)
    error = client_error("ThrottlingException", 429)
    call = Flaky(10, error)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        await retry.run(call)
    assert caught.value is error
    assert call.calls == 3
    assert len(sleep.delays) == 2


async def test_translated_errors_are_classified_through_their_cause() -> None:
    try:
        try:
            raise client_error("ThrottlingException", 429)
        except botocore.exceptions.ClientError as exc:
            raise UpstreamUnavailable("The agent is busy.") from exc
    except UpstreamUnavailable as translated:
        assert is_retryable(translated)
        assert error_class(translated) == "ThrottlingException"


def test_delays_are_full_jitter_under_an_exponential_cap() -> None:
    retry = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0, rng=random.Random(1))
    for attempt in range(8):
        cap = min(1.0, 0.1 * 2**attempt)
        samples = [retry.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in samples)
        assert max(samples) > cap * 0.8  # jitter spreads over the whole range
        assert min(samples) < cap * 0.2


async def test_on_retry_hears_each_retry() -> None:
    retry, _ = policy(attempts=4)
    heard: list[tuple[str, int]] = []
    await retry.run(
        Flaky(2, client_error("ThrottlingException", 429)),
        on_retry=lambda e, n: heard.append((error_class(e), n)),
    )
    assert heard == [("ThrottlingException", 1), ("ThrottlingException", 2)]


async def test_a_single_attempt_policy_never_retries() -> None:
    retry, sleep = policy(attempts=1)
    call = Flaky(1, client_error("ThrottlingException", 429))
    with pytest.raises(botocore.exceptions.ClientError):
        await retry.run(call)
    assert call.calls == 1
    assert sleep.delays == []


# --- through the real aioboto3 client, against a stub AgentCore endpoint that throttles -------


class ThrottlingEndpoint:
    """Answers InvokeAgentRuntime with `ThrottlingException` for the first `throttle` calls, then
    streams two events; with `break_after_first`, the stream breaks after its first event."""

    def __init__(self, throttle: int, *, break_after_first: bool = False) -> None:
        self.throttle = throttle
        self.break_after_first = break_after_first
        self.calls = 0
        self.app = Starlette(
            routes=[Route("/runtimes/{arn:path}/invocations", self.invoke, methods=["POST"])]
        )

    async def invoke(self, request: Request) -> Response:
        self.calls += 1
        if self.calls <= self.throttle:
            return JSONResponse(
                {"message": "Rate exceeded"},
                status_code=429,
                headers={"x-amzn-ErrorType": "ThrottlingException"},
            )

        async def body() -> AsyncIterator[bytes]:
            yield b'data: {"type": "TOKEN", "delta": "once", "message_id": "m"}\n\n'
            if self.break_after_first:
                raise RuntimeError("the runtime died mid-stream")
            yield b'data: {"type": "AGENT_END", "output": "once"}\n\n'

        return StreamingResponse(body(), media_type="text/event-stream")


def fast_retry(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay_s=0.001, max_delay_s=0.005)


async def test_throttled_invocations_are_retried_before_the_first_byte() -> None:
    endpoint = ThrottlingEndpoint(throttle=3)
    metrics = Metrics()
    async with serve(endpoint.app) as url:
        settings = Settings(agentcore_endpoint_url=url, auth_mode="local-dev")
        async with (
            AgentCoreClient(settings, metrics=metrics, retry=fast_retry(4)) as client,
            client.stream(payload={"prompt": "hi"}, session_id="s" * 40) as events,
        ):
            got = [event async for event in events]
    assert endpoint.calls == 4
    assert [e["type"] for e in got] == ["TOKEN", "AGENT_END"]  # every event exactly once
    assert (
        metrics.registry.get_sample_value(
            "bff_upstream_retries_total", {"error_class": "ThrottlingException"}
        )
        == 3
    )


async def test_throttling_past_the_last_attempt_is_a_503() -> None:
    endpoint = ThrottlingEndpoint(throttle=10)
    metrics = Metrics()
    async with serve(endpoint.app) as url:
        settings = Settings(agentcore_endpoint_url=url, auth_mode="local-dev")
        async with AgentCoreClient(settings, metrics=metrics, retry=fast_retry(3)) as client:
            with pytest.raises(UpstreamUnavailable):
                async with client.stream(payload={"prompt": "hi"}, session_id="s" * 40):
                    pass
    assert endpoint.calls == 3
    assert (
        metrics.registry.get_sample_value("bff_upstream_errors_total", {"error_class": "ThrottlingException"})
        == 1
    )


async def test_a_failure_after_the_first_byte_is_never_retried() -> None:
    endpoint = ThrottlingEndpoint(throttle=0, break_after_first=True)
    # a policy that would retry any failure it saw: the break after the first byte is never seen
    retry_anything = RetryPolicy(
        attempts=4, base_delay_s=0.001, max_delay_s=0.005, retryable=lambda _exc: True
    )
    async with serve(endpoint.app) as url:
        settings = Settings(agentcore_endpoint_url=url, auth_mode="local-dev")
        async with (
            AgentCoreClient(settings, retry=retry_anything) as client,
            client.stream(payload={"prompt": "hi"}, session_id="s" * 40) as events,
        ):
            got: list[dict[str, Any]] = []
            with pytest.raises(UpstreamBadGateway):
                async for event in events:
                    got.append(event)
    assert endpoint.calls == 1
    assert [e["delta"] for e in got] == ["once"]  # the token was delivered once, never replayed
