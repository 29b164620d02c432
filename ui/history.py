"""A stored conversation (`GET /v1/sessions/{id}/messages`) as the UI's turns (sans-IO).

The messages are LangGraph's, as the runtime's history action gives them: `{role, content,
tool_calls?, tool_call_id?}` with roles `user`/`human`, `assistant`/`ai` and `tool`. Each user
message opens a turn; the assistant's text and tool calls, and the tools' results, fill it.
"""

from __future__ import annotations

from typing import Any

from ui.turn import TextBlock, ToolBlock, Turn

_USER = {"user", "human"}
_ASSISTANT = {"assistant", "ai"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: keep the text ones
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def turns_from_messages(messages: list[dict[str, Any]]) -> list[Turn]:
    turns: list[Turn] = []
    for message in messages:
        role = str(message.get("role") or message.get("type") or "")
        if role in _USER:
            turns.append(Turn(prompt=_text(message.get("content")), status="complete"))
            continue
        if not turns:
            turns.append(Turn(prompt="", status="complete"))
        turn = turns[-1]
        if role in _ASSISTANT:
            text = _text(message.get("content"))
            if text:
                turn.blocks.append(TextBlock(text=text))
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict):
                    args = call.get("args")
                    turn.blocks.append(
                        ToolBlock(
                            call_id=str(call.get("id", "")),
                            tool=str(call.get("name", "tool")),
                            args=args if isinstance(args, dict) else {},
                        )
                    )
        elif role == "tool":
            for block in turn.blocks:
                if isinstance(block, ToolBlock) and block.call_id == message.get("tool_call_id"):
                    block.result = _text(message.get("content"))
                    block.status = "error" if message.get("status") == "error" else "success"
                    block.progress = 1.0
    for turn in turns:  # a stored call without its result did not finish
        for block in turn.blocks:
            if isinstance(block, ToolBlock) and block.status == "running":
                block.status = "error"
                block.result = block.result or "(no result recorded)"
    return turns
