"""A conversation's LangGraph messages -> the `{"action": "history"}` answer (sans-IO).

    {"session_id", "messages": [{role, content, tool_calls?, tool_call_id?, name?, status?}],
     "pending_approvals": [{approval_id, tool, call_id, args, choices}]}

Roles are `user`, `assistant` and `tool`; content is plain text (reasoning is left out).
`pending_approvals` lists the approvals the session waits for (empty when it waits for none).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agent_runtime.events import APPROVAL_CHOICES, split_content


def history(
    session_id: str, messages: Sequence[BaseMessage], interrupts: Iterable[Any] = ()
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "messages": [entry for entry in (_entry(m) for m in messages) if entry is not None],
        "pending_approvals": [_approval(i) for i in interrupts],
    }


def _entry(message: BaseMessage) -> dict[str, Any] | None:
    _, text = split_content(message)
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": text}
    if isinstance(message, AIMessage):
        entry: dict[str, Any] = {"role": "assistant", "content": text}
        if message.tool_calls:
            entry["tool_calls"] = [
                {"id": c["id"], "name": c["name"], "args": c["args"]} for c in message.tool_calls
            ]
        return entry
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "content": text,
            "tool_call_id": message.tool_call_id,
            "name": message.name,
            "status": message.status,
        }
    if isinstance(message, SystemMessage):
        return None
    return {"role": message.type, "content": text}


def _approval(interrupt: Any) -> dict[str, Any]:
    value = interrupt.value if isinstance(interrupt.value, dict) else {}
    return {
        "approval_id": interrupt.id,
        "tool": value.get("tool"),
        "call_id": value.get("call_id"),
        "args": value.get("args", {}),
        "choices": value.get("choices", APPROVAL_CHOICES),
    }
