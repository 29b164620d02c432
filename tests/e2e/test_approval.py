"""Human approval end to end: the real runtime (save_note, `interrupt()`), the local AgentCore
endpoint and the BFF as processes on free ports. The note file in the runtime's workspace shows
whether the tool really ran."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.devstack import Stack
from tests.e2e.test_approval_support import (
    PROMPT,
    Stream,
    answer,
    approval_stack,
    chat,
    clear,
    follow,
    notes,
    open_stream,
    pause,
    read,
)

pytestmark = pytest.mark.slow

TTL_S = 6.0  # long enough to answer at once, short enough to watch one expire


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def stack(workspace: Path) -> Iterator[Stack]:
    yield from approval_stack(workspace, BFF_APPROVAL_TTL_S=str(TTL_S))


def test_approve_runs_the_tool_and_the_run_continues_with_the_next_ids(stack: Stack, workspace: Path) -> None:
    bff = stack.url("bff")
    clear(workspace)
    first = pause(bff)
    run_id = first.headers["x-run-id"]
    required = first.first("approval_required").data
    assert required["tool"] == "save_note" and required["choices"] == ["approve", "reject", "edit"]
    assert required["args"] == {"title": "groceries", "text": "milk and eggs"}
    assert required["expires_at"] > time.time()
    tool_start = first.first("tool_start")
    assert tool_start.data["call_id"] == required["call_id"]
    assert "done" not in first.types() and notes(workspace) == {}
    assert httpx.get(f"{bff}/v1/runs/{run_id}").json()["status"] == "awaiting_approval"

    response = answer(bff, run_id, {"approval_id": required["approval_id"], "decision": "approve"})
    assert response.status_code == 202, response.text
    rest = follow(bff, run_id, first.last_id)
    ids = [e.id for e in first.events + rest.events]
    assert ids == list(range(1, len(ids) + 1)), "one run, one sequence, no id reused"
    assert all(e.data["run_id"] == run_id for e in rest.events)
    assert rest.types()[-1] == "done" and rest.types().count("start") == 0
    tool_end = rest.first("tool_end")
    assert tool_end.data["call_id"] == required["call_id"] and tool_end.data["status"] == "success"
    assert rest.first("done").data["status"] == "complete"
    saved = notes(workspace)
    assert len(saved) == 1 and "milk and eggs" in next(iter(saved.values()))
    assert httpx.get(f"{bff}/v1/runs/{run_id}").json()["status"] == "done"

    again = answer(bff, run_id, {"approval_id": required["approval_id"], "decision": "approve"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "approval_already_answered")


def test_reject_does_not_run_the_tool_and_the_agent_says_so(stack: Stack, workspace: Path) -> None:
    bff = stack.url("bff")
    clear(workspace)
    first = pause(bff)
    run_id = first.headers["x-run-id"]
    approval_id = first.first("approval_required").data["approval_id"]
    assert answer(bff, run_id, {"approval_id": approval_id, "decision": "reject"}).status_code == 202
    rest = follow(bff, run_id, first.last_id)
    done = rest.first("done").data
    assert done["status"] == "complete"
    assert "not" in done["output"].lower(), done["output"]
    assert notes(workspace) == {}


def test_edit_runs_the_tool_with_the_edited_arguments(stack: Stack, workspace: Path) -> None:
    bff = stack.url("bff")
    clear(workspace)
    first = pause(bff)
    run_id = first.headers["x-run-id"]
    approval_id = first.first("approval_required").data["approval_id"]
    missing = answer(bff, run_id, {"approval_id": approval_id, "decision": "edit"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "edited_args_required")
    edited = {"title": "todo", "text": "call the plumber"}
    response = answer(bff, run_id, {"approval_id": approval_id, "decision": "edit", "edited_args": edited})
    assert response.status_code == 202, response.text
    rest = follow(bff, run_id, first.last_id)
    assert rest.first("done").data["status"] == "complete"
    saved = notes(workspace)
    assert len(saved) == 1
    name, text = next(iter(saved.items()))
    assert "todo" in name and "call the plumber" in text and "milk" not in text


def test_unknown_approval_and_unknown_run(stack: Stack) -> None:
    bff = stack.url("bff")
    first = pause(bff)
    run_id = first.headers["x-run-id"]
    unknown = answer(bff, run_id, {"approval_id": "apr_nope", "decision": "approve"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "approval_not_found")
    no_run = answer(bff, "run_nope", {"approval_id": "apr_nope", "decision": "approve"})
    assert (no_run.status_code, no_run.json()["error"]["code"]) == (404, "run_not_found")
    approval_id = first.first("approval_required").data["approval_id"]
    assert answer(bff, run_id, {"approval_id": approval_id, "decision": "reject"}).status_code == 202
    follow(bff, run_id, first.last_id)


def test_a_reconnect_during_the_pause_continues_in_place(stack: Stack, workspace: Path) -> None:
    """The client drops right after `approval_required` and reconnects with its last id: it gets
    the rest of the pause (`interrupted`); a stream reopened from there waits through the pause and
    carries the resumed events once the answer comes, with the ids continuing."""
    bff = stack.url("bff")
    clear(workspace)
    first = open_stream(
        bff, "POST", "/v1/chat/stream", body={"message": PROMPT}, stop_after="approval_required"
    )
    run_id = first.headers["x-run-id"]
    required = first.first("approval_required")
    assert first.types()[-1] == "approval_required"
    missed = follow(bff, run_id, required.id)
    assert missed.types() == ["interrupted"] and missed.events[0].id == required.id + 1
    with (
        httpx.Client(base_url=bff, timeout=60) as client,
        client.stream(
            "GET", f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(missed.events[0].id)}
        ) as response,
    ):
        assert response.status_code == 200
        ok = answer(bff, run_id, {"approval_id": required.data["approval_id"], "decision": "approve"})
        assert ok.status_code == 202
        result = Stream(response.status_code, response.headers)
        read(response, result)
    assert result.events[0].id == missed.events[0].id + 1
    assert [e.id for e in result.events] == list(range(result.events[0].id, result.events[-1].id + 1))
    assert result.types()[-1] == "done" and result.first("done").data["status"] == "complete"
    assert len(notes(workspace)) == 1


def test_an_unanswered_approval_expires_and_ends_the_run(stack: Stack, workspace: Path) -> None:
    bff = stack.url("bff")
    clear(workspace)
    first = pause(bff)
    run_id = first.headers["x-run-id"]
    approval_id = first.first("approval_required").data["approval_id"]
    try:
        rest = follow(bff, run_id, first.last_id)  # waits through the pause, no answer
    except AssertionError as exc:  # say what the BFF did instead of only "it hung"
        status = httpx.get(f"{bff}/v1/runs/{run_id}").json()
        raise AssertionError(f"{exc}\nrun: {status}\nBFF output:\n{stack.output('bff')[-6000:]}") from None
    assert rest.types() == ["approval_expired", "done"]
    assert rest.first("approval_expired").data["approval_id"] == approval_id
    assert rest.first("done").data["status"] == "expired"
    late = answer(bff, run_id, {"approval_id": approval_id, "decision": "approve"})
    assert (late.status_code, late.json()["error"]["code"]) == (410, "approval_expired")
    assert httpx.get(f"{bff}/v1/runs/{run_id}").json()["status"] == "expired"
    assert notes(workspace) == {}
    # the runtime was told to reject: the session takes a new turn cleanly
    session_id = first.headers["x-session-id"]
    again = chat(bff, "What is 5+5?", session_id=session_id)
    assert again.types()[-1] == "done" and again.first("done").data["status"] == "complete"
    assert notes(workspace) == {}


def agui_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]


def test_agui_interrupt_and_resume(stack: Stack, workspace: Path) -> None:
    bff = stack.url("bff")
    clear(workspace)
    run_input = {
        "threadId": "e2e-thread-with-a-long-enough-identifier",
        "runId": "r1",
        "messages": [{"id": "u", "role": "user", "content": PROMPT}],
    }
    with httpx.Client(base_url=bff, timeout=60) as client:
        paused = agui_events(client.post("/v1/chat/stream", json=run_input).text)
        finished = paused[-1]
        assert finished["type"] == "RUN_FINISHED" and finished["outcome"]["type"] == "interrupt"
        interrupt = finished["outcome"]["interrupts"][0]
        assert interrupt["reason"] == "tool_approval" and interrupt["metadata"]["tool"] == "save_note"
        call_start = next(e for e in paused if e["type"] == "TOOL_CALL_START")
        assert interrupt["toolCallId"] == call_start["toolCallId"]
        resume = {
            **run_input,
            "runId": "r2",
            "resume": [
                {"interruptId": interrupt["id"], "status": "resolved", "payload": {"decision": "approve"}}
            ],
        }
        resumed = agui_events(client.post("/v1/chat/stream", json=resume).text)
    assert resumed[0]["type"] == "RUN_STARTED" and resumed[0]["runId"] == finished["runId"]
    assert resumed[-1]["type"] == "RUN_FINISHED" and resumed[-1]["outcome"]["type"] == "success"
    assert any(e["type"] == "TOOL_CALL_RESULT" for e in resumed)
    assert len(notes(workspace)) == 1


def test_ai_sdk_stream_carries_the_approval_request(stack: Stack) -> None:
    bff = stack.url("bff")
    with httpx.Client(base_url=bff, timeout=60) as client:
        response = client.post("/v1/chat/stream", params={"protocol": "ai-sdk"}, json={"message": PROMPT})
        assert response.text.endswith("data: [DONE]\n\n")
        chunks = [json.loads(line[6:]) for line in response.text.split("\n") if line.startswith("data: {")]
        request = next(c for c in chunks if c["type"] == "tool-approval-request")
        assert set(request) == {"type", "approvalId", "toolCallId"}
        available = next(c for c in chunks if c["type"] == "tool-input-available")
        assert available["toolCallId"] == request["toolCallId"] and available["toolName"] == "save_note"
        run_id = response.headers["x-run-id"]
        ok = answer(bff, run_id, {"approval_id": request["approvalId"], "decision": "reject"})
        assert ok.status_code == 202
        after = ok.json()["after"]
        rest = client.get(
            f"/v1/runs/{run_id}/stream", params={"protocol": "ai-sdk"}, headers={"Last-Event-ID": str(after)}
        )
        more = [json.loads(line[6:]) for line in rest.text.split("\n") if line.startswith("data: {")]
        assert more[0] == {"type": "start", "messageId": run_id} and more[-1]["type"] == "finish"
        assert rest.text.endswith("data: [DONE]\n\n")


def test_a_new_turn_supersedes_a_waiting_approval(stack: Stack, workspace: Path) -> None:
    """The runtime drops the pending approval when the session moves on; answering the old run
    then ends it with the runtime's error, and the tool never runs."""
    bff = stack.url("bff")
    clear(workspace)
    first = pause(bff)
    run_id, session_id = first.headers["x-run-id"], first.headers["x-session-id"]
    second = chat(bff, "What is 5+5?", session_id=session_id)
    assert second.first("done").data["status"] == "complete"
    approval_id = first.first("approval_required").data["approval_id"]
    assert answer(bff, run_id, {"approval_id": approval_id, "decision": "approve"}).status_code == 202
    rest = follow(bff, run_id, first.last_id)
    assert rest.first("error").data["code"] == "unknown_approval"
    assert rest.types()[-1] == "done" and rest.first("done").data["status"] == "error"
    assert notes(workspace) == {}
