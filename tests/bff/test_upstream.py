"""AgentCoreClient through the real aioboto3 client, the local AgentCore endpoint and a stub runtime."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from agentcore_local.app import create_app
from agentcore_local.settings import LocalSettings
from bff.auth import runtime_session_id
from bff.exceptions import ClientError, UpstreamBadGateway, UpstreamTimeout, UpstreamUnavailable
from bff.retry import NO_RETRY
from bff.settings import Settings
from bff.upstream import AgentCoreClient
from tests.e2e.servers import StubRuntime, serve, wait_for

SID = "session-" + "a" * 40


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    return {"event": {"type": type_, "timestamp": 1.0, "session_id": SID, **fields}}


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    runtime: StubRuntime
    endpoint_url: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"agentcore_endpoint_url": self.endpoint_url, "auth_mode": "local-dev"}
        return Settings(**(values | overrides))


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    runtime = StubRuntime()
    async with (
        serve(runtime.app) as runtime_url,
        serve(create_app(LocalSettings(runtime_url))) as endpoint_url,
    ):
        yield Stack(runtime, endpoint_url)


def producer_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "agentcore-upstream-producer" and not t.done()]


async def test_events_arrive_one_by_one_while_the_runtime_is_still_working(stack: Stack) -> None:
    script = [ev("AGENT_START", model="m"), {"gate": "g1"}, ev("TOKEN", delta="hi", message_id="m1"), {"gate": "g2"}, ev("AGENT_END", output="hi")]  # fmt: skip
    async with (
        AgentCoreClient(stack.settings()) as client,
        client.stream(payload={"script": script}, session_id=SID) as events,
    ):
        first = await anext(events)
        assert first["type"] == "AGENT_START"  # the runtime is now blocked on gate g1
        stack.runtime.gate("g1").set()
        assert (await anext(events))["type"] == "TOKEN"
        stack.runtime.gate("g2").set()
        rest = [e async for e in events]
    assert [e["type"] for e in rest] == ["AGENT_END"]
    assert client.active_streams == 0 and producer_tasks() == []


async def test_frames_split_and_merged_across_chunks_decode_the_same(stack: Stack) -> None:
    script = [{"raw": 'data: {"type": "TOK'}, {"gate": "g"}, {"raw": 'EN", "delta": "é"}\n\ndata: {"type": "AGENT_END"}\n\ndata: "a string"\n\n'}]  # fmt: skip
    async with (
        AgentCoreClient(stack.settings()) as client,
        client.stream(payload={"script": script}, session_id=SID) as events,
    ):
        stack.runtime.gate("g").set()
        got = [e async for e in events]
    assert got == [{"type": "TOKEN", "delta": "é"}, {"type": "AGENT_END"}]  # the non-object frame is skipped


async def test_session_user_and_trace_headers_reach_the_runtime(stack: Stack) -> None:
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with (
        AgentCoreClient(stack.settings()) as client,
        client.stream(payload={"script": []}, session_id=SID, user_id="alice", trace_parent=trace) as events,
    ):
        assert [e async for e in events] == []
    runtime_sid = runtime_session_id("alice", SID)  # derived from the principal (bff/auth.py)
    (headers,) = stack.runtime.sessions[runtime_sid].headers
    assert headers["x-amzn-bedrock-agentcore-runtime-session-id"] == runtime_sid
    assert headers["x-amzn-bedrock-agentcore-runtime-user-id"] == "alice"
    assert headers["traceparent"] == trace
    assert "authorization" not in headers  # the SigV4 signature stays at the endpoint


async def test_breaking_out_early_leaves_nothing_running_and_the_runtime_sees_the_disconnect(
    stack: Stack,
) -> None:
    async with AgentCoreClient(stack.settings()) as client:
        async with client.stream(
            payload={"script": [ev("AGENT_START", model="m"), {"hold": True}]}, session_id=SID
        ) as events:
            async for _ in events:
                assert client.active_streams == 1 and len(producer_tasks()) == 1
                break
        assert client.active_streams == 0
        assert producer_tasks() == []
        await wait_for(stack.runtime.sessions[SID].disconnected)
        assert stack.runtime.open_streams == 0


async def test_cancelling_the_consumer_mid_stream_cleans_up(stack: Stack) -> None:
    async with AgentCoreClient(stack.settings()) as client:
        started = asyncio.Event()

        async def consume() -> None:
            async with client.stream(
                payload={"script": [ev("AGENT_START", model="m"), {"hold": True}]}, session_id=SID
            ) as events:
                async for _ in events:
                    started.set()

        task = asyncio.create_task(consume())
        await wait_for(started)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.active_streams == 0 and producer_tasks() == []
        await wait_for(stack.runtime.sessions[SID].disconnected)


async def test_silence_longer_than_the_event_timeout_is_an_upstream_timeout(stack: Stack) -> None:
    async with (
        AgentCoreClient(stack.settings(event_timeout_s=0.3)) as client,
        client.stream(
            payload={"script": [ev("AGENT_START", model="m"), {"hold": True}]}, session_id=SID
        ) as events,
    ):
        assert (await anext(events))["type"] == "AGENT_START"
        with pytest.raises(UpstreamTimeout) as caught:
            await anext(events)
        with pytest.raises(StopAsyncIteration):
            await anext(events)
    assert caught.value.status == 504 and caught.value.code == "upstream_timeout"
    await wait_for(stack.runtime.sessions[SID].disconnected)


async def test_a_slow_but_steady_stream_never_times_out_even_when_it_outlasts_the_timeout(
    stack: Stack,
) -> None:
    """The event timeout is a limit on each gap, not on the whole stream: gaps of 0.15 s under a
    0.4 s timeout, for about 1.5 s in all, must all arrive (the timer is re-armed per event)."""
    script: list[dict[str, Any]] = [ev("AGENT_START", model="m")]
    for i in range(10):
        script += [{"sleep": 0.15}, ev("TOKEN", delta=f"t{i}", message_id="m1")]
    script.append(ev("AGENT_END", output="done"))
    async with (
        AgentCoreClient(stack.settings(event_timeout_s=0.4)) as client,
        client.stream(payload={"script": script}, session_id=SID) as events,
    ):
        received = [e async for e in events]
    assert [e["type"] for e in received] == ["AGENT_START"] + ["TOKEN"] * 10 + ["AGENT_END"]


async def test_no_answer_within_the_first_byte_timeout_is_an_upstream_timeout(stack: Stack) -> None:
    async with AgentCoreClient(stack.settings(first_byte_timeout_s=0.3)) as client:
        with pytest.raises(UpstreamTimeout):
            async with client.stream(payload={"delay_headers": 5}, session_id=SID):
                pass  # pragma: no cover
        assert client.active_streams == 0


async def test_a_stream_that_breaks_mid_way_is_a_bad_gateway(stack: Stack) -> None:
    async with (
        AgentCoreClient(stack.settings()) as client,
        client.stream(
            payload={"script": [ev("AGENT_START", model="m"), {"fail": True}]}, session_id=SID
        ) as events,
    ):
        assert (await anext(events))["type"] == "AGENT_START"
        with pytest.raises(UpstreamBadGateway) as caught:
            await anext(events)
    assert "127.0.0.1" not in caught.value.message and "arn:" not in caught.value.message


async def test_runtime_error_status_is_a_bad_gateway_with_a_safe_message(stack: Stack) -> None:
    async with AgentCoreClient(stack.settings()) as client:
        with pytest.raises(UpstreamBadGateway) as caught:
            async with client.stream(payload={"status": 500}, session_id=SID):
                pass  # pragma: no cover
    assert caught.value.status == 502
    assert "arn:" not in caught.value.message and "127.0.0.1" not in caught.value.message
    assert caught.value.__cause__ is not None  # translated once, from the botocore error


async def test_unknown_runtime_arn_is_a_bad_gateway(stack: Stack) -> None:
    arn = "arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/other-0000000000"
    async with AgentCoreClient(stack.settings(agent_runtime_arn=arn)) as client:
        with pytest.raises(UpstreamBadGateway) as caught:
            async with client.stream(payload={"script": []}, session_id=SID):
                pass  # pragma: no cover
    assert "other-0000000000" not in caught.value.message


async def test_runtime_down_behind_the_endpoint_fails_before_the_first_byte() -> None:
    async with serve(create_app(LocalSettings(runtime_url=f"http://127.0.0.1:{unused_port()}"))) as url:
        settings = Settings(agentcore_endpoint_url=url, auth_mode="local-dev")
        async with AgentCoreClient(settings) as client:
            with pytest.raises(UpstreamBadGateway):
                async with client.stream(payload={"script": []}, session_id=SID):
                    pass  # pragma: no cover


async def test_endpoint_unreachable_is_unavailable() -> None:
    settings = Settings(agentcore_endpoint_url=f"http://127.0.0.1:{unused_port()}", auth_mode="local-dev")
    async with AgentCoreClient(settings) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            async with client.stream(payload={"script": []}, session_id=SID):
                pass  # pragma: no cover
        assert caught.value.status == 503 and "127.0.0.1" not in caught.value.message
        with pytest.raises(UpstreamUnavailable):
            await client.stop_session(SID)


async def test_throttling_is_unavailable() -> None:
    runtime = StubRuntime()
    async with serve(runtime.app) as runtime_url:
        local = LocalSettings(runtime_url=runtime_url, max_invocations_per_s=1)
        async with (
            serve(create_app(local)) as url,
            AgentCoreClient(
                Settings(agentcore_endpoint_url=url, auth_mode="local-dev"), retry=NO_RETRY
            ) as client,
        ):

            async def one() -> list[dict[str, Any]]:
                async with client.stream(payload={"script": []}, session_id=SID) as events:
                    return [e async for e in events]

            # two at once against a rate of one per second: one is answered, one is throttled
            results = await asyncio.gather(one(), one(), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["UpstreamUnavailable", "list"]
    (error,) = [r for r in results if isinstance(r, UpstreamUnavailable)]
    assert error.status == 503 and error.code == "upstream_unavailable"


async def test_a_session_id_the_service_refuses_is_a_client_error(stack: Stack) -> None:
    async with AgentCoreClient(stack.settings()) as client:
        with pytest.raises(ClientError) as caught:
            async with client.stream(payload={"script": []}, session_id="short"):
                pass  # pragma: no cover
    assert 400 <= caught.value.status < 500


async def test_a_json_answer_is_one_event_and_invoke_json_returns_it(stack: Stack) -> None:
    answer = {"session_id": SID, "messages": [{"role": "user", "content": "hi"}]}
    async with AgentCoreClient(stack.settings()) as client:
        async with client.stream(payload={"json": answer}, session_id=SID) as events:
            assert [e async for e in events] == [answer]
        assert await client.invoke_json({"json": answer}, SID) == answer
        streamed = await client.invoke_json({"script": [ev("AGENT_END", output="x")]}, SID)
        assert [e["type"] for e in streamed["events"]] == ["AGENT_END"]


async def test_stop_session_closes_the_running_invocation(stack: Stack) -> None:
    async with AgentCoreClient(stack.settings()) as client:
        async with client.stream(
            payload={"script": [ev("AGENT_START", model="m"), {"hold": True}]}, session_id=SID
        ) as events:
            assert (await anext(events))["type"] == "AGENT_START"
            assert await client.stop_session(SID) is True
            await wait_for(stack.runtime.sessions[SID].disconnected)
            assert [e async for e in events] == []  # the stream ends
        assert await client.stop_session("unknown-" + "b" * 40) is False


async def test_many_streams_at_once_share_one_client(stack: Stack) -> None:
    async with AgentCoreClient(stack.settings()) as client:

        async def one(i: int) -> list[str]:
            sid = f"session-{i:04d}-" + "c" * 30
            script = [ev("AGENT_START", model="m"), {"gate": "all"}, ev("AGENT_END", output=str(i))]
            async with client.stream(payload={"script": script}, session_id=sid) as events:
                return [e["output"] async for e in events if e["type"] == "AGENT_END"]

        tasks = [asyncio.create_task(one(i)) for i in range(30)]
        # all 30 are open at once, each blocked on the gate (polling: nothing to wait on in between)
        async with asyncio.timeout(10):
            while stack.runtime.open_streams < 30 or client.active_streams < 30:
                await asyncio.sleep(0.01)
        stack.runtime.gate("all").set()
        results = await asyncio.gather(*tasks)
    assert sorted(r[0] for r in results) == sorted(str(i) for i in range(30))


async def test_ping_probes_the_local_endpoint_cheaply_and_caches_the_answer() -> None:
    runtime = StubRuntime()
    async with serve(runtime.app) as runtime_url, contextlib.AsyncExitStack() as endpoint:
        endpoint_url = await endpoint.enter_async_context(serve(create_app(LocalSettings(runtime_url))))
        settings = Settings(agentcore_endpoint_url=endpoint_url, auth_mode="local-dev")
        async with AgentCoreClient(settings) as client:
            assert await client.ping() is True
            await endpoint.aclose()  # the local endpoint goes away
            assert await client.ping() is True  # cached: not one probe per health check
            client._probe = None  # the cache expired
            assert await client.ping() is False
    assert dict(runtime.sessions) == {}  # no invocation spent on health


async def test_ping_of_the_aws_endpoint_is_not_checked() -> None:
    settings = Settings(agentcore_endpoint_url="", auth_mode="local-dev")
    async with AgentCoreClient(settings) as client:
        assert await client.ping() is None
