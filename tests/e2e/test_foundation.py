"""The foundation, end to end: a client of the BFF, the BFF, the local AgentCore endpoint and the
runtime, as real processes on free ports (scripts/devstack.py). Nothing here is faked."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from scripts.devstack import Ports, Stack, start_stack
from tests.e2e.client import FAST_TOOL_ENV, EventReader, StreamResult, chat_stream, wait_until

pytestmark = pytest.mark.slow

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{33,256}$")


def assert_well_formed(result: StreamResult) -> None:
    """docs/events.md guarantees: start first, done last, once each; ids 1, 2, 3, ... ; one run."""
    assert result.status == 200, result.body
    types = result.types()
    assert types[0] == "start" and types[-1] == "done"
    assert types.count("start") == 1 and types.count("done") == 1
    ids = [e.id for e in result.events]
    assert ids == list(range(1, len(ids) + 1)), "ids strictly increasing by one"
    run_id, session_id = result.headers["x-run-id"], result.headers["x-session-id"]
    for event in result.events:
        assert event.data["type"] == event.type and event.data["seq"] == event.id
        assert event.data["run_id"] == run_id and event.data["session_id"] == session_id


def answer_text(result: StreamResult) -> str:
    return "".join(e.data["delta"] for e in result.of("token"))


def test_five_plus_five_streams_the_calculator_and_the_answer(stack: Stack) -> None:
    result = chat_stream(stack.url("bff"), {"message": "What is 5+5?"})
    assert_well_formed(result)
    tool_start, tool_end = result.first("tool_start"), result.first("tool_end")
    assert tool_start.data["tool"] == "calculator"
    assert "5+5" in json.dumps(tool_start.data["args"]).replace(" ", "")
    assert tool_end.data["call_id"] == tool_start.data["call_id"]
    assert tool_end.data["result"].strip() == "10" and tool_end.data["status"] == "success"
    assert tool_start.id < tool_end.id < result.first("token").id
    assert "10" in answer_text(result)
    done = result.first("done").data
    assert done["status"] == "complete" and "10" in done["output"]
    assert set(done["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}


def test_a_second_turn_in_the_same_session_builds_on_the_first(stack: Stack) -> None:
    first = chat_stream(stack.url("bff"), {"message": "What is 5+5?"})
    session_id = first.headers["x-session-id"]
    second = chat_stream(stack.url("bff"), {"message": "Multiply that by 3", "session_id": session_id})
    assert_well_formed(second)
    assert second.headers["x-session-id"] == session_id
    assert second.first("tool_end").data["result"].strip() == "30"
    assert "30" in second.first("done").data["output"]


def test_long_tool_progress_arrives_while_the_tool_runs(stack: Stack) -> None:
    result = chat_stream(stack.url("bff"), {"message": "Analyse the data set"})
    assert_well_formed(result)
    progress, tool_end = result.of("tool_progress"), result.first("tool_end")
    assert len(progress) >= 3
    assert all(p.id < tool_end.id for p in progress)
    # Incremental delivery, measured at the client: the first progress event was in hand well
    # before the result arrived (5 steps of 0.4 s), not flushed together with it at the end.
    assert tool_end.at - progress[0].at >= 0.8
    assert [p.at for p in progress] == sorted(p.at for p in progress)
    assert progress[-1].at - progress[0].at >= 0.4


def test_non_streaming_chat_answers_the_final_result_as_json(stack: Stack) -> None:
    response = httpx.post(stack.url("bff") + "/v1/chat", json={"message": "What is 5+5?"}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    assert "10" in body["output"] and body["status"] == "complete"
    assert SESSION_ID.match(body["session_id"]) and body["run_id"]
    assert [c["tool"] for c in body["tool_calls"]] == ["calculator"]


def test_a_session_id_is_created_when_the_client_sends_none(stack: Stack) -> None:
    result = chat_stream(stack.url("bff"), {"message": "hello"})
    assert_well_formed(result)
    session_id = result.headers["x-session-id"]
    assert SESSION_ID.match(session_id)
    assert result.first("start").data["session_id"] == session_id


BAD_INPUTS = [
    pytest.param(b'{"message": ""}', 422, "empty_message", id="empty"),
    pytest.param(b'{"message": "   \\n "}', 422, "empty_message", id="whitespace"),
    pytest.param(b"{}", 422, "empty_message", id="missing"),
    pytest.param(json.dumps({"message": "x" * 16_001}).encode(), 413, "message_too_long", id="too-long"),
    pytest.param(b'{"message": "hi"', 400, "invalid_json", id="malformed-json"),
    pytest.param(b'{"message": "hi", "session_id": "short"}', 422, "invalid_session_id", id="short-session"),
    pytest.param(b'{"message": "hi", "session_id": "' + b"a/" * 20 + b'"}', 422, "invalid_session_id", id="bad-chars"),
    pytest.param(json.dumps({"message": "hi", "pad": "x" * 300_000}).encode(), 413, "payload_too_large", id="body-too-large"),
]  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/chat/stream", "/v1/chat"])
@pytest.mark.parametrize(("body", "status", "code"), BAD_INPUTS)
def test_bad_input_is_a_4xx_json_error_with_a_stable_code(
    stack: Stack, path: str, body: bytes, status: int, code: str
) -> None:
    response = httpx.post(
        stack.url("bff") + path, content=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_a_client_that_leaves_with_on_disconnect_cancel_leaves_nothing_running(stack: Stack) -> None:
    agentcore = stack.url("agentcore")
    result = chat_stream(
        stack.url("bff"),
        {"message": "Analyse the data set"},
        params={"on_disconnect": "cancel"},
        stop_after="tool_progress",
    )
    call_id = result.first("tool_progress").data["call_id"]
    run_id = result.headers["x-run-id"]
    # The BFF closed its upstream stream: the local AgentCore endpoint forwards nothing any more ...
    wait_until(lambda: httpx.get(agentcore + "/ping").json()["active_streams"] == 0)
    # ... the runtime saw the disconnect and the tool itself stopped, before finishing its steps ...
    wait_until(lambda: f"call_id={call_id} cancelled" in stack.output("runtime"))
    assert f"call_id={call_id} completed" not in stack.output("runtime")
    # ... and the run is over, with no response stream left open in the BFF.
    wait_until(lambda: httpx.get(f"{stack.url('bff')}/v1/runs/{run_id}").json()["status"] == "cancelled")
    wait_until(lambda: gauge(stack, "bff_streams_active") == 0)


def gauge(stack: Stack, name: str) -> float:
    """A gauge from the BFF's Prometheus exposition."""
    text = httpx.get(stack.url("bff") + "/metrics").text
    (value,) = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def test_runtime_killed_mid_stream_ends_the_stream_with_error_then_done() -> None:
    env = FAST_TOOL_ENV | {"AGENT_DATASET_STEPS": "30", "AGENT_DATASET_STEP_S": "0.5"}
    with start_stack(Ports.free(), env=env) as own:
        with (
            httpx.Client(base_url=own.url("bff"), timeout=30) as client,
            client.stream("POST", "/v1/chat/stream", json={"message": "Analyse the data set"}) as response,
        ):
            assert response.status_code == 200, response.read()
            result = StreamResult(response.status_code, response.headers)
            reader = EventReader(response, result)
            reader.read(stop_after="tool_progress")
            assert result.types()[-1] == "tool_progress", result.types()
            own.kill("runtime")
            killed_at = result.events[-1].at
            reader.read()
        assert_well_formed(result)
        assert result.types()[-2:] == ["error", "done"]
        error = result.events[-2].data
        assert error["code"].startswith("upstream_") and error["message"]
        assert "127.0.0.1" not in error["message"] and "arn:" not in error["message"]
        assert result.events[-1].data["status"] == "error"
        assert result.events[-1].at - killed_at < 10

        # With the runtime down, a new request fails before the first byte, as JSON with a code.
        response = httpx.post(own.url("bff") + "/v1/chat/stream", json={"message": "hi"}, timeout=30)
        assert response.status_code in (502, 503, 504)
        assert response.json()["error"]["code"].startswith("upstream_")
