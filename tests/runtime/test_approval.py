"""Human approval: `save_note` waits for a decision; approve, edit and reject resume the run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent_runtime.app import create_app
from agent_runtime.exceptions import ToolInputError
from agent_runtime.payloads import Resume, Turn
from agent_runtime.service import AgentService
from agent_runtime.settings import Settings
from agent_runtime.tools import note_filename, write_note

SAVE = "Save a note titled groceries with the text milk and eggs."


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[AgentService]:
    service = await AgentService.open(Settings(offline_token_delay_s=0, workspace_dir=tmp_path / "ws"))
    yield service
    await service.aclose()


async def _run(
    agent: AgentService, request: Turn | Resume, session: str = "s-approve"
) -> list[dict[str, Any]]:
    return [event async for event in agent.events(request, session)]


def _resume(approval_id: str, decision: str, edited: dict[str, Any] | None = None) -> Resume:
    return Resume(approval_id, decision, edited, None, True)


async def _ask(agent: AgentService, session: str = "s-approve") -> dict[str, Any]:
    events = await _run(agent, Turn(SAVE, None, True), session)
    types = [e["type"] for e in events]
    assert types[-2:] == ["APPROVAL_REQUIRED", "AGENT_END"] and "TOOL_RESULT" not in types
    assert events[-1]["status"] == "interrupted"
    approval = events[-2]
    call = next(e for e in events if e["type"] == "TOOL_CALL")
    assert (approval["tool"], approval["call_id"]) == ("save_note", call["call_id"])
    assert approval["args"] == {"title": "groceries", "text": "milk and eggs"}
    assert approval["choices"] == ["approve", "reject", "edit"]
    return approval


async def test_approve_runs_the_tool(agent: AgentService, tmp_path: Path) -> None:
    approval = await _ask(agent)
    assert not (tmp_path / "ws").exists()  # nothing written while waiting
    events = await _run(agent, _resume(approval["approval_id"], "approve"))
    result = next(e for e in events if e["type"] == "TOOL_RESULT")
    assert (result["call_id"], result["status"]) == (approval["call_id"], "success")
    assert (tmp_path / "ws" / "groceries.md").read_text() == "# groceries\n\nmilk and eggs\n"
    assert events[-1]["status"] == "complete"
    assert events[-1]["output"] == "Saved the note 'groceries' as groceries.md."


async def test_edit_runs_the_tool_with_the_edited_args(agent: AgentService, tmp_path: Path) -> None:
    approval = await _ask(agent)
    edited = {"title": "Shopping", "text": "bread"}
    events = await _run(agent, _resume(approval["approval_id"], "edit", edited))
    assert next(e for e in events if e["type"] == "TOOL_RESULT")["status"] == "success"
    assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == ["shopping.md"]
    assert (tmp_path / "ws" / "shopping.md").read_text() == "# Shopping\n\nbread\n"


async def test_reject_does_not_run_the_tool_and_says_so(agent: AgentService, tmp_path: Path) -> None:
    approval = await _ask(agent)
    events = await _run(agent, _resume(approval["approval_id"], "reject"))
    result = next(e for e in events if e["type"] == "TOOL_RESULT")
    assert result["status"] == "error" and "rejected" in result["result"]
    assert not (tmp_path / "ws").exists()
    assert events[-1]["output"] == "I did not save the note 'groceries': the user rejected this call."


async def test_an_unknown_approval_id_is_a_clear_error(agent: AgentService) -> None:
    await _ask(agent)
    events = await _run(agent, _resume("not-the-pending-one", "approve"))
    assert [e["type"] for e in events] == ["AGENT_START", "ERROR"]
    assert events[-1]["code"] == "unknown_approval"


async def test_resuming_a_session_that_waits_for_nothing_is_unknown_approval(agent: AgentService) -> None:
    events = await _run(agent, _resume("whatever", "approve"), "s-idle")
    assert events[-1]["code"] == "unknown_approval"
    assert events[-1]["message"] == "This session is not waiting for an approval."


async def test_an_approval_is_answered_once(agent: AgentService) -> None:
    approval = await _ask(agent)
    await _run(agent, _resume(approval["approval_id"], "approve"))
    again = await _run(agent, _resume(approval["approval_id"], "approve"))
    assert again[-1]["code"] == "unknown_approval"


async def test_a_new_prompt_supersedes_a_pending_approval(agent: AgentService, tmp_path: Path) -> None:
    approval = await _ask(agent)
    events = await _run(agent, Turn("What is 2+2?", None, True))
    assert events[-1]["output"] == "2+2 = 4."
    assert not (tmp_path / "ws").exists()
    history = await agent.history("s-approve")
    assert history["pending_approvals"] == []
    tool_messages = [m for m in history["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["tool_call_id"] == approval["call_id"]
    assert tool_messages[0]["status"] == "error" and "new message" in tool_messages[0]["content"]
    late = await _run(agent, _resume(approval["approval_id"], "approve"))
    assert late[-1]["code"] == "unknown_approval"


async def test_history_lists_the_conversation_and_the_pending_approval(agent: AgentService) -> None:
    await _run(agent, Turn("What is 5+5?", None, True))
    approval = await _ask(agent)
    history = await agent.history("s-approve")
    assert history["session_id"] == "s-approve"
    assert [m["role"] for m in history["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    user, call, tool, answer = history["messages"][:4]
    assert user == {"role": "user", "content": "What is 5+5?"}
    assert call["tool_calls"][0]["name"] == "calculator" and call["tool_calls"][0]["args"] == {
        "expression": "5+5"
    }
    assert tool == {
        "role": "tool",
        "content": "10",
        "tool_call_id": call["tool_calls"][0]["id"],
        "name": "calculator",
        "status": "success",
    }
    assert answer == {"role": "assistant", "content": "5+5 = 10."}
    (pending,) = history["pending_approvals"]
    assert {k: pending[k] for k in ("approval_id", "tool", "call_id", "args")} == {
        k: approval[k] for k in ("approval_id", "tool", "call_id", "args")
    }
    assert (await agent.history("s-unknown")) == {
        "session_id": "s-unknown",
        "messages": [],
        "pending_approvals": [],
    }


@pytest.mark.parametrize(
    ("title", "filename"),
    [
        ("groceries", "groceries.md"),
        ("Shopping List", "shopping-list.md"),
        ("../../etc/passwd", "etc-passwd.md"),
        ("/absolute/path", "absolute-path.md"),
        ("C:\\Windows\\x", "c-windows-x.md"),
        ("a" * 200, "a" * 80 + ".md"),
    ],
)
def test_note_titles_become_safe_file_names(title: str, filename: str) -> None:
    assert note_filename(title) == filename


@pytest.mark.parametrize("title", ["", "...", "///", "  "])
def test_a_title_without_usable_characters_is_refused(title: str) -> None:
    with pytest.raises(ToolInputError, match="no usable characters"):
        note_filename(title)


def test_a_note_never_leaves_the_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write_note(workspace, "../../escape", "x")
    assert [p.name for p in workspace.iterdir()] == ["escape.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


async def test_the_entrypoint_answers_history_and_unknown_approvals_as_json(tmp_path: Path) -> None:
    entrypoint = create_app(Settings(offline_token_delay_s=0, workspace_dir=tmp_path)).handlers["main"]
    context = SimpleNamespace(session_id="s-entry-0123456789abcdef0123456789", request=None)
    answer = await entrypoint({"prompt": SAVE, "stream": False}, context)
    assert answer["status"] == "interrupted"
    (approval,) = answer["approvals"]
    assert approval["tool"] == "save_note"
    refused = await entrypoint(
        {"resume": {"approval_id": "nope", "decision": "approve"}, "stream": False}, context
    )
    assert refused.status_code == 409
    assert json.loads(refused.body)["error"]["code"] == "unknown_approval"
    history = await entrypoint({"action": "history"}, context)
    assert history["session_id"] == context.session_id
    assert history["pending_approvals"][0]["approval_id"] == approval["approval_id"]
    done = await entrypoint(
        {"resume": {"approval_id": approval["approval_id"], "decision": "approve"}, "stream": False}, context
    )
    assert done["status"] == "complete" and done["output"] == "Saved the note 'groceries' as groceries.md."
