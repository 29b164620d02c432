"""With the runtime's PostgreSQL checkpointer, restarting the runtime process loses nothing: not
between two turns, and not while a run waits for approval (the real PostgreSQL at 127.0.0.1:5432,
database `test`; the runtime is SIGKILLed, so nothing is flushed on the way out)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.devstack import Stack
from tests.e2e.test_approval_support import answer, approval_stack, chat, clear, follow, notes, pause, restart

pytestmark = pytest.mark.slow

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("workspace"))


@pytest.fixture(scope="module")
def stack(workspace: Path) -> Iterator[Stack]:
    yield from approval_stack(workspace, AGENT_CHECKPOINTER="postgres", AGENT_POSTGRES_URL=POSTGRES_URL)


def test_a_restart_between_two_turns_loses_nothing(stack: Stack) -> None:
    bff = stack.url("bff")
    first = chat(bff, "What is 5+5?")
    session_id = first.headers["x-session-id"]
    assert first.first("done").data["status"] == "complete"
    restart(stack, "runtime")
    second = chat(bff, "Multiply that by 3", session_id=session_id)
    assert second.first("tool_end").data["result"].strip() == "30"
    history = httpx.get(f"{bff}/v1/sessions/{session_id}/messages", timeout=30).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["What is 5+5?", "Multiply that by 3"]


def test_a_restart_while_waiting_for_approval_loses_nothing(stack: Stack, workspace: Path) -> None:
    bff = stack.url("bff")
    clear(workspace)
    first = pause(bff)
    run_id = first.headers["x-run-id"]
    approval_id = first.first("approval_required").data["approval_id"]
    restart(stack, "runtime")
    assert notes(workspace) == {}
    response = answer(bff, run_id, {"approval_id": approval_id, "decision": "approve"})
    assert response.status_code == 202, response.text
    rest = follow(bff, run_id, first.last_id)
    assert rest.types()[-1] == "done" and rest.first("done").data["status"] == "complete", rest.types()
    assert rest.events[0].id == first.last_id + 1
    assert rest.first("tool_end").data["status"] == "success"
    saved = notes(workspace)
    assert len(saved) == 1 and "milk and eggs" in next(iter(saved.values()))
