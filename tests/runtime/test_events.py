"""The mapping from LangGraph stream chunks to runtime events (sans-IO, with a fake clock)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langgraph.types import Interrupt

from agent_runtime.events import EventMapper, node_start_chunk, split_content


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _mapper() -> tuple[EventMapper, FakeClock]:
    clock = FakeClock()
    return EventMapper("s-1", "offline-rules", clock=clock, monotonic=clock), clock


def _strip(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        assert event["session_id"] == "s-1"
        assert isinstance(event["timestamp"], float)
    return [{k: v for k, v in e.items() if k not in ("timestamp", "session_id")} for e in events]


def test_a_tool_turn_maps_to_the_contract_events() -> None:
    mapper, clock = _mapper()
    call = {"name": "calculator", "args": {"expression": "5+5"}, "id": "call_1", "type": "tool_call"}
    usage = {"input_tokens": 4, "output_tokens": 6, "total_tokens": 10}
    out = mapper.start("What is 5+5?")
    out += mapper.feed("custom", node_start_chunk("agent"))
    out += mapper.feed(
        "messages",
        (
            AIMessageChunk(content="", additional_kwargs={"reasoning_content": "Rule: arithmetic"}, id="m1"),
            {"langgraph_node": "agent"},
        ),
    )
    clock.now += 0.25
    out += mapper.feed(
        "updates", {"agent": {"messages": [AIMessage("", id="m1", tool_calls=[call], usage_metadata=usage)]}}
    )
    out += mapper.feed("custom", node_start_chunk("tools"))
    out += mapper.feed(
        "custom",
        {
            "event": "tool_progress",
            "tool": "calculator",
            "call_id": "call_1",
            "progress": 0.5,
            "message": "half",
        },
    )
    clock.now += 0.5
    out += mapper.feed(
        "updates", {"tools": {"messages": [ToolMessage("10", name="calculator", tool_call_id="call_1")]}}
    )
    out += mapper.feed("custom", node_start_chunk("agent"))
    out += mapper.feed("messages", (AIMessageChunk(content="5+5", id="m2"), {"langgraph_node": "agent"}))
    out += mapper.feed("messages", (AIMessageChunk(content=" = 10.", id="m2"), {"langgraph_node": "agent"}))
    clock.now += 0.125
    out += mapper.feed(
        "updates", {"agent": {"messages": [AIMessage("5+5 = 10.", id="m2", usage_metadata=usage)]}}
    )
    out.append(mapper.end())

    assert _strip(out) == [
        {"type": "AGENT_START", "model": "offline-rules", "input": "What is 5+5?"},
        {"type": "NODE_START", "node": "agent"},
        {"type": "THINKING", "delta": "Rule: arithmetic"},
        {
            "type": "LLM_RESPONSE",
            "message": {
                "id": "m1",
                "content": "",
                "tool_calls": [{"id": "call_1", "name": "calculator", "args": {"expression": "5+5"}}],
                "usage": usage,
            },
        },
        {"type": "TOOL_CALL", "tool": "calculator", "call_id": "call_1", "args": {"expression": "5+5"}},
        {"type": "NODE_END", "node": "agent", "duration_ms": 250.0},
        {"type": "NODE_START", "node": "tools"},
        {
            "type": "TOOL_PROGRESS",
            "tool": "calculator",
            "call_id": "call_1",
            "progress": 0.5,
            "message": "half",
        },
        {
            "type": "TOOL_RESULT",
            "tool": "calculator",
            "call_id": "call_1",
            "result": "10",
            "status": "success",
        },
        {"type": "NODE_END", "node": "tools", "duration_ms": 500.0},
        {"type": "NODE_START", "node": "agent"},
        {"type": "TOKEN", "delta": "5+5", "message_id": "m2"},
        {"type": "TOKEN", "delta": " = 10.", "message_id": "m2"},
        {
            "type": "LLM_RESPONSE",
            "message": {"id": "m2", "content": "5+5 = 10.", "tool_calls": [], "usage": usage},
        },
        {"type": "NODE_END", "node": "agent", "duration_ms": 125.0},
        {
            "type": "AGENT_END",
            "output": "5+5 = 10.",
            "node_timings_ms": {"agent": 375.0, "tools": 500.0},
            "usage": {"input_tokens": 8, "output_tokens": 12, "total_tokens": 20},
            "duration_ms": 875.0,
            "status": "complete",
        },
    ]


def test_tool_results_carry_status_and_artifacts() -> None:
    mapper, _ = _mapper()
    artifact = {"id": "t", "kind": "table", "title": "x", "status": "final", "columns": ["a"], "rows": [[1]]}
    events = mapper.feed(
        "updates",
        {
            "tools": {
                "messages": [
                    ToolMessage("table", name="analyze_dataset", tool_call_id="c1", artifact=artifact),
                    ToolMessage(
                        "Error: bad",
                        name="calculator",
                        tool_call_id="c2",
                        status="error",
                        artifact="not a dict",
                    ),
                ]
            }
        },
    )
    assert [(e["tool"], e["status"], e.get("artifact")) for e in events] == [
        ("analyze_dataset", "success", artifact),
        ("calculator", "error", None),
    ]


def test_progress_with_an_artifact_keeps_it() -> None:
    mapper, _ = _mapper()
    artifact = {
        "id": "c",
        "kind": "chart",
        "title": "h",
        "status": "final",
        "columns": ["bin", "count"],
        "rows": [],
        "x": "bin",
        "y": "count",
    }
    chunk = {
        "event": "tool_progress",
        "tool": "analyze_dataset",
        "call_id": "c1",
        "progress": None,
        "message": "m",
        "artifact": artifact,
    }
    (event,) = mapper.feed("custom", chunk)
    assert event["type"] == "TOOL_PROGRESS" and event["artifact"] == artifact and event["progress"] is None


def test_an_interrupt_asks_for_approval_closes_open_nodes_and_ends_interrupted() -> None:
    mapper, clock = _mapper()
    mapper.start("save it")
    mapper.feed("custom", node_start_chunk("tools"))
    clock.now += 0.01
    value = {
        "type": "approval",
        "tool": "save_note",
        "call_id": "c9",
        "args": {"title": "t", "text": "x"},
        "choices": ["approve", "reject", "edit"],
    }
    events = _strip(mapper.feed("updates", {"__interrupt__": (Interrupt(value=value, id="int-1"),)}))
    assert events == [
        {"type": "NODE_END", "node": "tools", "duration_ms": 10.0},
        {
            "type": "APPROVAL_REQUIRED",
            "approval_id": "int-1",
            "tool": "save_note",
            "call_id": "c9",
            "args": {"title": "t", "text": "x"},
            "choices": ["approve", "reject", "edit"],
        },
    ]
    assert mapper.end()["status"] == "interrupted"


def test_ignores_chunks_that_are_not_the_agent_model_speaking() -> None:
    mapper, _ = _mapper()
    assert mapper.feed("messages", (ToolMessage("10", tool_call_id="c"), {"langgraph_node": "tools"})) == []
    assert mapper.feed("messages", (AIMessageChunk(content="x"), {"langgraph_node": "other"})) == []
    assert mapper.feed("custom", "not a dict") == []
    assert mapper.feed("custom", {"event": "unknown"}) == []
    assert mapper.feed("updates", {"agent": None}) == []
    assert mapper.feed("values", {}) == []


def test_error_and_heartbeat_events() -> None:
    mapper, _ = _mapper()
    assert _strip([mapper.error("model_error", "The model failed to answer."), mapper.heartbeat()]) == [
        {"type": "ERROR", "code": "model_error", "message": "The model failed to answer."},
        {"type": "HEARTBEAT"},
    ]


def test_split_content_understands_every_provider_format() -> None:
    converse = AIMessageChunk(
        content=[
            {"type": "reasoning_content", "reasoning_content": {"text": "hmm"}, "index": 0},
            {"type": "text", "text": "Hi", "index": 1},
        ]
    )
    standard = AIMessageChunk(
        content=[{"type": "reasoning", "reasoning": "so"}, {"type": "thinking", "thinking": "!"}, "plain"]
    )
    kwargs = AIMessageChunk(content="text", additional_kwargs={"reasoning_content": "why"})
    assert split_content(converse) == ("hmm", "Hi")
    assert split_content(standard) == ("so!", "plain")
    assert split_content(kwargs) == ("why", "text")
