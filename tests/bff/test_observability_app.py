"""Observability through the running app: /metrics after real streams, request ids on responses,
and the app's trace context handed to the upstream call."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.observability.logs import configure_logging
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream, serve
from tests.spans import captured_spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@dataclass
class Stack:
    client: httpx.AsyncClient
    upstream: FakeUpstream

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    upstream = FakeUpstream()
    app = create_app(Settings(auth_mode="local-dev"), upstream=upstream, event_log=MemoryEventLog(ttl_s=60))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield Stack(client, upstream)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield from captured_spans()


def value(metrics: dict[Any, float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_streamed_run_shows_in_the_metrics(stack: Stack) -> None:
    response = await stack.client.post("/v1/chat/stream", json={"message": "tool"})
    assert response.status_code == 200
    metrics = await stack.metrics()
    assert value(metrics, "bff_streams_started_total", protocol="native") == 1
    assert value(metrics, "bff_streams_active") == 0
    assert value(metrics, "bff_streams_finished_total", outcome="complete") == 1
    assert value(metrics, "bff_events_sent_total", type="start") == 1
    assert value(metrics, "bff_events_sent_total", type="tool_start") == 2
    assert value(metrics, "bff_events_sent_total", type="done") == 1
    assert value(metrics, "bff_time_to_first_event_seconds_count") == 1
    assert value(metrics, "bff_event_gap_seconds_count") > 5
    assert value(metrics, "bff_queue_depth") == 0
    assert (
        value(metrics, "bff_http_requests_total", method="POST", route="/v1/chat/stream", status="200") == 1
    )


async def test_resumes_cancels_and_disconnects_are_counted(stack: Stack) -> None:
    async with stack.client.stream("POST", "/v1/chat/stream", json={"message": "hold"}) as response:
        run_id = response.headers["x-run-id"]
        async for _ in response.aiter_bytes():
            break  # the client leaves after the first bytes
    async with asyncio.timeout(5):
        while value(await stack.metrics(), "bff_streams_finished_total", outcome="disconnected") != 1:
            await asyncio.sleep(0.01)
    await stack.client.post(f"/v1/runs/{run_id}/cancel")
    resumed = await stack.client.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": "1"})
    assert resumed.status_code == 200
    metrics = await stack.metrics()
    assert value(metrics, "bff_cancels_total") == 1
    assert value(metrics, "bff_resumes_total") == 1
    assert value(metrics, "bff_streams_finished_total", outcome="cancelled") == 1


async def test_upstream_failures_before_the_first_byte_answer_json_and_carry_a_request_id(
    stack: Stack,
) -> None:
    response = await stack.client.post("/v1/chat/stream", json={"message": "fail open upstream_unavailable"})
    assert response.status_code == 503
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_request_trace_reaches_the_upstream_call(stack: Stack, spans: InMemorySpanExporter) -> None:
    """The run's leg task inherits the request's context: what it sends upstream is in the trace."""
    seen: list[str | None] = []
    original = stack.upstream.stream

    def recording(payload: dict[str, Any], session_id: str, user_id: str | None = None, **kw: Any) -> Any:
        seen.append(
            trace.get_current_span().get_span_context().trace_id
            and format(trace.get_current_span().get_span_context().trace_id, "032x")
        )
        return original(payload, session_id, user_id, **kw)

    stack.upstream.stream = recording  # type: ignore[method-assign]
    response = await stack.client.post(
        "/v1/chat", json={"message": "hello"}, headers={"traceparent": TRACEPARENT}
    )
    assert response.status_code == 200
    assert seen == [TRACE_ID]
    server = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert any(format(s.context.trace_id, "032x") == TRACE_ID for s in server)


async def test_request_logs_carry_run_session_and_principal_but_no_content(stack: Stack) -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    try:
        response = await stack.client.post(
            "/v1/chat", json={"message": "hello"}, headers={"X-Request-Id": "req-log-1"}
        )
        await stack.client.get(f"/v1/runs/{response.json()['run_id']}", headers={"X-Request-Id": "req-log-2"})
    finally:
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if h.get_name() != "bff-json"]
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    by_request = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    for request_id in ("req-log-1", "req-log-2"):
        line = by_request[request_id]
        assert line["run_id"] == response.json()["run_id"]
        assert line["session_id"] == response.json()["session_id"]
        assert line["principal"] == "local"
    assert "Hello there friend" not in out.getvalue()  # the answer's text is never logged


@pytest.mark.parametrize("log_content", [False, True])
async def test_a_chats_prompt_is_logged_only_with_content_logging_on(stack: Stack, log_content: bool) -> None:
    prompt = "my locker code is 4417 and my cat is called Biscuit"
    out = io.StringIO()
    configure_logging("info", log_content=log_content, stream=out)
    try:
        response = await stack.client.post(
            "/v1/chat", json={"message": prompt}, headers={"X-Request-Id": "r-c"}
        )
    finally:
        configure_logging("info", stream=io.StringIO())  # content logging off again
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if h.get_name() != "bff-json"]
    assert response.status_code == 200
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    (started,) = [line for line in lines if line.get("event") == "run_started"]
    assert started["request_id"] == "r-c" and started["principal"] == "local"
    assert (started["run_id"], started["session_id"]) == (
        response.json()["run_id"],
        response.json()["session_id"],
    )
    if log_content:
        assert started["prompt"] == prompt
    else:
        assert started["prompt"] == {"redacted": True, "chars": len(prompt)}
        assert "4417" not in out.getvalue() and "Biscuit" not in out.getvalue()


async def test_queue_depth_counts_events_the_real_client_holds_unread() -> None:
    """bff_queue_depth reads the app's own AgentCoreClient: events decoded from the runtime's
    stream but not yet consumed."""
    release = asyncio.Event()

    async def invoke(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(5):
                yield f'data: {{"type": "TOKEN", "delta": "t{i}", "message_id": "m"}}\n\n'.encode()
            await release.wait()
            yield b'data: {"type": "AGENT_END", "output": "", "status": "complete"}\n\n'

        return StreamingResponse(body(), media_type="text/event-stream")

    runtime = Starlette(routes=[Route("/runtimes/{arn:path}/invocations", invoke, methods=["POST"])])
    async with serve(runtime) as url:
        app = create_app(Settings(auth_mode="local-dev", agentcore_endpoint_url=url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bff") as http:

                async def depth() -> float:
                    families = text_string_to_metric_families((await http.get("/metrics")).text)
                    return next(s.value for f in families for s in f.samples if s.name == "bff_queue_depth")

                assert await depth() == 0
                async with app.state.upstream.stream(payload={"prompt": "hi"}, session_id="s" * 40) as events:
                    async with asyncio.timeout(10):
                        while await depth() != 5:
                            await asyncio.sleep(0.01)
                    await anext(events)
                    assert await depth() == 4
                    release.set()
                    assert [e["type"] async for e in events] == ["TOKEN"] * 4 + ["AGENT_END"]
                assert await depth() == 0
