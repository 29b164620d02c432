"""One trace across processes: client -> BFF -> aioboto3 -> local AgentCore -> runtime.

The BFF runs in this process (an in-memory span exporter on the process-wide provider) against a
real local AgentCore endpoint and a real runtime process, whose spans go to a file
(AGENT_OTEL_EXPORTER=file, agent_runtime/tracing.py) that the test reads back. The runtime's
spans must carry the client's trace id and hang under the BFF's `agentcore.invoke` span, which
hangs under the BFF's server span of the request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bff.app import create_app
from bff.settings import Settings
from scripts.devstack import Ports, Stack, start_stack
from tests.e2e.client import FAST_TOOL_ENV
from tests.e2e.servers import serve
from tests.spans import captured_spans

TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"

pytestmark = pytest.mark.slow


@pytest.fixture
def bff_spans() -> Iterator[InMemorySpanExporter]:
    yield from captured_spans()


@pytest.fixture
def traced_stack(tmp_path: Path) -> Iterator[tuple[Stack, Path]]:
    spans_file = tmp_path / "runtime-spans.jsonl"
    env = {**FAST_TOOL_ENV, "AGENT_OTEL_EXPORTER": "file", "AGENT_OTEL_FILE": str(spans_file)}
    with start_stack(Ports.free(), env=env) as stack:
        yield stack, spans_file


async def runtime_spans(path: Path, until: str) -> list[dict[str, Any]]:
    """The runtime's exported spans, once the one named `until` is on disk (it ends last)."""
    async with asyncio.timeout(20):
        while True:
            if path.exists():
                spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                if any(span["name"] == until for span in spans):
                    return spans
            await asyncio.sleep(0.05)


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[int]:
    by_id = {s.context.span_id: s for s in spans}
    chain: list[int] = []
    parent = span.parent
    while parent is not None:
        chain.append(parent.span_id)
        parent = by_id[parent.span_id].parent if parent.span_id in by_id else None
    return chain


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_runtime_spans_nest_under_the_bffs_span(
    traced_stack: tuple[Stack, Path], bff_spans: InMemorySpanExporter
) -> None:
    stack, spans_file = traced_stack
    settings = Settings(auth_mode="local-dev", agentcore_endpoint_url=stack.url("agentcore"))
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.post(
            "/v1/chat",
            json={"message": "What is 5+5?"},
            headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"},
        )
    assert response.status_code == 200, response.text
    assert "10" in response.json()["output"]

    finished: list[ReadableSpan] = list(bff_spans.get_finished_spans())
    (server,) = [s for s in finished if s.kind == trace.SpanKind.SERVER and s.name.startswith("POST")]
    assert hex_id(server.context.trace_id, 32) == TRACE_ID
    assert server.parent is not None and hex_id(server.parent.span_id, 16) == CLIENT_SPAN
    (invoke,) = [s for s in finished if s.name == "agentcore.invoke"]
    assert invoke.kind == trace.SpanKind.CLIENT
    assert invoke.context.trace_id == server.context.trace_id
    assert server.context.span_id in ancestors(invoke, finished)  # (via FastAPI's endpoint span)

    spans = await runtime_spans(spans_file, until="agent.invoke")
    (root,) = [s for s in spans if s["name"] == "agent.invoke"]
    assert root["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert root["parent_id"] == f"0x{hex_id(invoke.context.span_id, 16)}"  # under the BFF's call
    children = [s for s in spans if s["name"] != "agent.invoke"]
    assert {s["name"] for s in children} >= {"agent.node agent", "agent.node tools", "agent.tool calculator"}
    for span in children:
        assert span["context"]["trace_id"] == f"0x{TRACE_ID}"
        assert span["parent_id"] == root["context"]["span_id"]
