"""`GET /v1/sessions/{session_id}/messages` end to end: the BFF asks the real runtime's
checkpointer (`{"action": "history"}`) for the conversation so far."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.devstack import Stack
from tests.e2e.test_approval_support import answer, approval_stack, chat, follow, pause

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from approval_stack(Path(tmp_path_factory.mktemp("workspace")))


def messages(base_url: str, session_id: str) -> httpx.Response:
    return httpx.get(f"{base_url}/v1/sessions/{session_id}/messages", timeout=30)


def test_history_after_two_turns(stack: Stack) -> None:
    bff = stack.url("bff")
    first = chat(bff, "What is 5+5?")
    session_id = first.headers["x-session-id"]
    second = chat(bff, "Multiply that by 3", session_id=session_id)
    assert second.types()[-1] == "done"

    response = messages(bff, session_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == session_id
    history = body["messages"]
    users = [m["content"] for m in history if m["role"] == "user"]
    assert users == ["What is 5+5?", "Multiply that by 3"]
    calls = [c for m in history if m["role"] == "assistant" for c in m.get("tool_calls", [])]
    assert [c["name"] for c in calls] == ["calculator", "calculator"]
    results = [m for m in history if m["role"] == "tool"]
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]
    assert [r["content"].strip() for r in results] == ["10", "30"]
    assert history[-1]["role"] == "assistant" and "30" in history[-1]["content"]
    assert history[-1]["content"] == second.first("done").data["output"]


def test_history_shows_an_approved_tool_call(stack: Stack) -> None:
    bff = stack.url("bff")
    first = pause(bff)
    run_id, session_id = first.headers["x-run-id"], first.headers["x-session-id"]
    approval_id = first.first("approval_required").data["approval_id"]
    assert answer(bff, run_id, {"approval_id": approval_id, "decision": "approve"}).status_code == 202
    follow(bff, run_id, first.last_id)
    history = messages(bff, session_id).json()["messages"]
    call = next(c for m in history for c in m.get("tool_calls", []) if c["name"] == "save_note")
    assert call["args"] == {"title": "groceries", "text": "milk and eggs"}
    result = next(m for m in history if m["role"] == "tool" and m["tool_call_id"] == call["id"])
    assert "groceries" in result["content"]


def test_unknown_and_invalid_sessions(stack: Stack) -> None:
    bff = stack.url("bff")
    unknown = messages(bff, "sess_" + "f" * 32)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "session_not_found")
    invalid = messages(bff, "not-valid")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "invalid_session_id")
