"""agent_runtime.tracing: spans built from the event stream, parented on the caller's traceparent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agent_runtime import tracing
from agent_runtime.exceptions import ConfigurationError

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


async def agent_events(*events: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    for event in events:
        yield event


RUN = (
    {"type": "AGENT_START", "model": "offline-rules"},
    {"type": "NODE_START", "node": "agent"},
    {"type": "NODE_END", "node": "agent"},
    {"type": "NODE_START", "node": "tools"},
    {"type": "TOOL_CALL", "tool": "calculator", "call_id": "c1", "args": {}},
    {"type": "TOOL_RESULT", "tool": "calculator", "call_id": "c1", "status": "error", "result": "x"},
    {"type": "NODE_END", "node": "tools"},
    {"type": "AGENT_END", "status": "complete", "output": "10"},
)


async def test_spans_nest_under_the_callers_traceparent(exporter: InMemorySpanExporter, tracer: Any) -> None:
    context = SimpleNamespace(session_id="s" * 40, request_headers={"traceparent": TRACEPARENT})
    seen = [event async for event in tracing.traced(agent_events(*RUN), context, tracer=tracer)]
    assert seen == list(RUN)  # the events pass through unchanged
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"agent.invoke", "agent.node agent", "agent.node tools", "agent.tool calculator"}
    root = spans["agent.invoke"]
    assert root.kind == SpanKind.SERVER
    assert format(root.context.trace_id, "032x") == TRACE_ID
    assert root.parent is not None and format(root.parent.span_id, "016x") == PARENT_ID
    assert root.attributes is not None and root.attributes["agent.model"] == "offline-rules"
    for name in ("agent.node agent", "agent.node tools", "agent.tool calculator"):
        assert spans[name].parent is not None and spans[name].parent.span_id == root.context.span_id
        assert spans[name].context.trace_id == root.context.trace_id
    assert spans["agent.tool calculator"].status.status_code == StatusCode.ERROR


async def test_header_casing_does_not_matter(exporter: InMemorySpanExporter, tracer: Any) -> None:
    context = SimpleNamespace(request_headers={"Traceparent": TRACEPARENT})
    [_ async for _ in tracing.traced(agent_events(*RUN[:1]), context, tracer=tracer)]
    (root,) = exporter.get_finished_spans()
    assert format(root.context.trace_id, "032x") == TRACE_ID


async def test_without_a_traceparent_the_invocation_is_a_new_trace(
    exporter: InMemorySpanExporter, tracer: Any
) -> None:
    context = SimpleNamespace(request_headers=None)
    [_ async for _ in tracing.traced(agent_events(*RUN[:1]), context, tracer=tracer)]
    (root,) = exporter.get_finished_spans()
    assert root.parent is None


async def test_an_abandoned_stream_still_ends_every_span(exporter: InMemorySpanExporter, tracer: Any) -> None:
    context = SimpleNamespace(request_headers={"traceparent": TRACEPARENT})
    stream = tracing.traced(agent_events(*RUN), context, tracer=tracer)
    async for event in stream:
        if event["type"] == "TOOL_CALL":
            break
    await stream.aclose()  # what a client disconnect does
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == ["agent.invoke", "agent.node agent", "agent.node tools", "agent.tool calculator"]


async def test_an_error_event_marks_the_invocation(exporter: InMemorySpanExporter, tracer: Any) -> None:
    context = SimpleNamespace(request_headers={})
    events = agent_events({"type": "ERROR", "code": "model_error", "message": "m"})
    [_ async for _ in tracing.traced(events, context, tracer=tracer)]
    (root,) = exporter.get_finished_spans()
    assert root.status.status_code == StatusCode.ERROR


def test_exporter_is_off_by_default_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    assert tracing.span_processor("none") is None
    assert tracing.span_processor("") is None
    with pytest.raises(ConfigurationError, match="AGENT_OTEL_EXPORTER"):
        tracing.span_processor("jaeger")
    with pytest.raises(ConfigurationError, match="AGENT_OTEL_FILE"):
        tracing.span_processor("file")


async def test_file_exporter_writes_one_json_span_per_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    processor = tracing.span_processor("file", path=str(path))
    assert processor is not None
    provider = TracerProvider()
    provider.add_span_processor(processor)
    context = SimpleNamespace(request_headers={"traceparent": TRACEPARENT})
    [_ async for _ in tracing.traced(agent_events(*RUN[:3]), context, tracer=provider.get_tracer("t"))]
    provider.shutdown()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["name"] for line in lines} == {"agent.invoke", "agent.node agent"}
    assert all(line["context"]["trace_id"] == f"0x{TRACE_ID}" for line in lines)
