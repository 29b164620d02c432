"""The agent service runs the real graph with the offline model and streams contract events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from langgraph.checkpoint.memory import InMemorySaver

from agent_runtime.disconnect import Disconnect
from agent_runtime.graph import build_graph
from agent_runtime.offline_model import OfflineRulesModel
from agent_runtime.payloads import Turn
from agent_runtime.service import AgentService
from agent_runtime.settings import Settings
from agent_runtime.tools import build_tools

FAST = Settings(offline_token_delay_s=0, dataset_step_s=0.01, heartbeat_interval_s=10)


async def _turn(service: AgentService, prompt: str, session_id: str = "s-1") -> list[dict[str, Any]]:
    return [event async for event in service.events(Turn(prompt, None, True), session_id)]


@pytest.fixture
async def service() -> AsyncIterator[AgentService]:
    agent = await AgentService.open(FAST)
    yield agent
    await agent.aclose()


async def test_a_calculator_turn_streams_the_contract_events_in_order(service: AgentService) -> None:
    events = await _turn(service, "What is 5+5?")
    assert [e["type"] for e in events] == [
        "AGENT_START",
        "NODE_START",
        "THINKING",
        "LLM_RESPONSE",
        "TOOL_CALL",
        "NODE_END",
        "NODE_START",
        "TOOL_RESULT",
        "NODE_END",
        "NODE_START",
        "THINKING",
        "TOKEN",
        "TOKEN",
        "TOKEN",
        "LLM_RESPONSE",
        "NODE_END",
        "AGENT_END",
    ]
    assert all(e["session_id"] == "s-1" and isinstance(e["timestamp"], float) for e in events)
    call = next(e for e in events if e["type"] == "TOOL_CALL")
    result = next(e for e in events if e["type"] == "TOOL_RESULT")
    assert call["args"] == {"expression": "5+5"}
    assert (result["call_id"], result["result"], result["status"]) == (call["call_id"], "10", "success")
    tokens = [e for e in events if e["type"] == "TOKEN"]
    final = [e for e in events if e["type"] == "LLM_RESPONSE"][-1]
    assert "".join(t["delta"] for t in tokens) == final["message"]["content"] == "5+5 = 10."
    assert {t["message_id"] for t in tokens} == {final["message"]["id"]}
    end = events[-1]
    assert end["output"] == "5+5 = 10." and end["status"] == "complete"
    assert set(end["node_timings_ms"]) == {"agent", "tools"}
    assert end["usage"]["total_tokens"] == end["usage"]["input_tokens"] + end["usage"]["output_tokens"] > 0


async def test_one_session_is_one_conversation(service: AgentService) -> None:
    await _turn(service, "What is 5+5?", "session-a")
    follow_up = await _turn(service, "Multiply that by 3", "session-a")
    assert next(e for e in follow_up if e["type"] == "TOOL_CALL")["args"] == {"expression": "10*3"}
    assert follow_up[-1]["output"] == "10*3 = 30."
    elsewhere = await _turn(service, "Multiply that by 3", "session-b")
    assert not any(e["type"] == "TOOL_CALL" for e in elsewhere)
    assert "offline rules model" in elsewhere[-1]["output"]


async def test_the_long_tool_reports_progress_and_artifacts(service: AgentService) -> None:
    events = await _turn(service, "Analyse a sample data set and report its statistics.")
    progress = [e for e in events if e["type"] == "TOOL_PROGRESS"]
    assert len(progress) >= 5
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)
    assert progress[-1]["progress"] == 1.0
    call_id = next(e for e in events if e["type"] == "TOOL_CALL")["call_id"]
    assert {p["call_id"] for p in progress} == {call_id} and {p["tool"] for p in progress} == {
        "analyze_dataset"
    }
    tables = [p["artifact"] for p in progress if p.get("artifact", {}).get("kind") == "table"]
    assert tables and all(t["status"] == "in_progress" for t in tables)
    assert [len(t["rows"]) for t in tables] == [1, 2, 3]  # a row per column, as each is computed
    (chart,) = [p["artifact"] for p in progress if p.get("artifact", {}).get("kind") == "chart"]
    assert (chart["x"], chart["y"], chart["columns"]) == ("bin", "count", ["bin", "count"])
    assert sum(row[1] for row in chart["rows"]) == FAST.dataset_rows
    result = next(e for e in events if e["type"] == "TOOL_RESULT")
    table = result["artifact"]
    assert (table["kind"], table["status"], table["id"]) == ("table", "final", tables[0]["id"])
    assert table["columns"] == ["column", "count", "mean", "std", "min", "max"]
    assert [row[0] for row in table["rows"]] == ["latency_ms", "tokens", "score"]
    assert all(row[1] == FAST.dataset_rows and row[4] <= row[2] <= row[5] for row in table["rows"])
    assert "latency_ms has mean" in events[-1]["output"]


async def test_heartbeats_keep_a_silent_tool_alive() -> None:
    settings = replace(FAST, dataset_step_s=0.4, heartbeat_interval_s=0.05)
    agent = await AgentService.open(settings)
    try:
        events = await _turn(agent, "Analyse a sample data set")
    finally:
        await agent.aclose()
    types = [e["type"] for e in events]
    first_progress = types.index("TOOL_PROGRESS")
    tools_start = max(i for i, t in enumerate(types[:first_progress]) if t == "NODE_START")
    assert "HEARTBEAT" in types[tools_start:first_progress]  # while the tool was silent
    heartbeat = events[types.index("HEARTBEAT")]
    assert set(heartbeat) == {"type", "timestamp", "session_id"}


async def test_closing_the_stream_cancels_the_long_tool_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent_runtime.tools")
    agent = await AgentService.open(replace(FAST, dataset_step_s=0.2, dataset_steps=20))
    try:
        events = agent.events(Turn("Analyse a sample data set", None, True), "s-cancel")
        async for event in events:
            if event["type"] == "TOOL_PROGRESS":
                break
        await events.aclose()  # what the SDK does when the client goes away
        steps_at_close = sum("step" in r.message for r in caplog.records)
        assert any("cancelled after step" in r.message for r in caplog.records)
        await asyncio.sleep(0.5)  # long enough for two more steps, had it kept going
        assert sum("step" in r.message for r in caplog.records) == steps_at_close
        assert not any("completed" in r.message for r in caplog.records)
    finally:
        await agent.aclose()


async def test_a_disconnect_signal_ends_the_stream_and_cancels_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent_runtime")
    agent = await AgentService.open(replace(FAST, dataset_step_s=0.2, dataset_steps=20))
    stop = Disconnect()
    seen: list[str] = []
    try:
        async for event in agent.events(Turn("Analyse a sample data set", None, True), "s-stop", stop=stop):
            seen.append(event["type"])
            if event["type"] == "TOOL_PROGRESS":
                stop.fire()
    finally:
        await agent.aclose()
    assert seen.count("TOOL_PROGRESS") == 1 and "AGENT_END" not in seen
    assert any("cancelled after step 1/" in r.message for r in caplog.records)


class FailingModel(OfflineRulesModel):
    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        raise ConnectionError(
            "connect to http://10.1.2.3:8080 failed for arn:aws:bedrock:us-east-1:123:model/x"
        )
        yield  # pragma: no cover


async def test_a_model_failure_is_an_error_event_that_leaks_nothing() -> None:
    graph = build_graph(FailingModel(), build_tools(FAST), InMemorySaver())
    agent = AgentService(FAST, graph, AsyncExitStack())
    events = await _turn(agent, "What is 5+5?")
    assert [e["type"] for e in events] == ["AGENT_START", "NODE_START", "ERROR"]
    assert events[-1]["code"] == "model_error"
    assert events[-1]["message"] == "The model failed to answer."


async def test_two_invocations_on_one_session_run_one_after_the_other() -> None:
    agent = await AgentService.open(replace(FAST, dataset_step_s=0.05))
    try:
        first, second = await asyncio.gather(
            _turn(agent, "Analyse a sample data set", "s-same"), _turn(agent, "What is 5+5?", "s-same")
        )
        history = await agent.history("s-same")
    finally:
        await agent.aclose()
    first_end = first[-1]["timestamp"]
    second_work = [e["timestamp"] for e in second if e["type"] not in ("AGENT_START", "HEARTBEAT")]
    assert first[-1]["type"] == second[-1]["type"] == "AGENT_END"
    assert min(second_work) >= first_end  # the second waited for the first to finish
    roles = [m["role"] for m in history["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"] * 2  # not interleaved
