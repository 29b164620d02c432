"""`GET /v1/sessions/{session_id}/messages`: a conversation so far, so a client can show a past session.

The runtime's checkpointer holds the conversation; the BFF asks it with a non-streaming invocation
`{"action": "history"}` in the session's runtime session (docs/architecture.md) and passes on the
documented fields only. A session the caller never used (or another principal's) is a 404 before
anything reaches the runtime, so guessing ids neither leaks nor starts a runtime session.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bff.deps import EventLogDep, PrincipalDep, UpstreamDep
from bff.exceptions import NotFound, UpstreamBadGateway
from bff.routes.inputs import check_session_id

router = APIRouter(tags=["sessions"])

ROLES = frozenset({"user", "assistant", "tool"})


class SessionNotFound(NotFound):
    code = "session_not_found"


def clean_message(raw: Any) -> dict[str, Any] | None:
    """One runtime message reduced to {role, content, tool_calls?, tool_call_id?}; None if unusable."""
    if not isinstance(raw, dict) or raw.get("role") not in ROLES:
        return None
    content = raw.get("content")
    message: dict[str, Any] = {"role": raw["role"], "content": content if isinstance(content, str) else ""}
    calls = raw.get("tool_calls")
    if isinstance(calls, list) and calls:
        message["tool_calls"] = [
            {"id": c.get("id"), "name": c.get("name"), "args": c.get("args") or {}}
            for c in calls
            if isinstance(c, dict)
        ]
    if isinstance(raw.get("tool_call_id"), str):
        message["tool_call_id"] = raw["tool_call_id"]
    if isinstance(raw.get("name"), str) and raw["role"] == "tool":
        message["name"] = raw["name"]
    return message


@router.get("/v1/sessions/{session_id}/messages")
async def session_messages(
    session_id: str, log: EventLogDep, upstream: UpstreamDep, principal: PrincipalDep
) -> dict[str, Any]:
    check_session_id(session_id)
    session = await log.get_session(session_id)
    if session is None or session.principal != principal:
        raise SessionNotFound("No such session.")
    body = await upstream.invoke_json(
        {"action": "history", "session_id": session_id}, session_id, user_id=principal
    )
    raw_messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(raw_messages, list):
        raise UpstreamBadGateway("The agent answered the history request with something unexpected.")
    messages = [m for m in (clean_message(raw) for raw in raw_messages) if m is not None]
    if not messages:
        raise SessionNotFound("No such session.")
    return {"session_id": session_id, "messages": messages}
