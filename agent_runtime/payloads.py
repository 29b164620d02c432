"""What the entrypoint accepts (sans-IO): a payload dict in, a typed request or `BadRequest` out.

{"prompt": str, "session_id"?: str, "stream"?: bool}                       a turn
{"resume": {"approval_id", "decision", "edited_args"?}, "session_id"?, "stream"?}  an approval answer
{"action": "history", "session_id"?}                                        the conversation so far
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_runtime.exceptions import BadRequest

MAX_PROMPT_CHARS = 100_000
DECISIONS = ("approve", "reject", "edit")


@dataclass(frozen=True)
class Turn:
    prompt: str
    session_id: str | None
    stream: bool


@dataclass(frozen=True)
class Resume:
    approval_id: str
    decision: str
    edited_args: dict[str, Any] | None
    session_id: str | None
    stream: bool


@dataclass(frozen=True)
class History:
    session_id: str | None


Request = Turn | Resume | History


def parse(payload: Any) -> Request:
    if not isinstance(payload, dict):
        raise BadRequest("the payload must be a JSON object", code="invalid_payload")
    session_id = payload.get("session_id")
    if session_id is not None and (not isinstance(session_id, str) or not 1 <= len(session_id) <= 256):
        raise BadRequest("session_id must be a string of 1 to 256 characters", code="invalid_session_id")
    stream = payload.get("stream", True)
    if not isinstance(stream, bool):
        raise BadRequest("stream must be true or false", code="invalid_stream")
    if "action" in payload:
        if payload["action"] != "history":
            raise BadRequest("action must be 'history'", code="unknown_action")
        return History(session_id)
    if "resume" in payload:
        return _resume(payload["resume"], session_id, stream)
    prompt = payload.get("prompt")
    if prompt is None:
        raise BadRequest("the payload needs a prompt", code="missing_prompt")
    if not isinstance(prompt, str):
        raise BadRequest("prompt must be a string", code="invalid_prompt")
    if not prompt.strip():
        raise BadRequest("prompt is empty", code="empty_prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadRequest(f"prompt is longer than {MAX_PROMPT_CHARS} characters", code="prompt_too_long")
    return Turn(prompt, session_id, stream)


def _resume(resume: Any, session_id: str | None, stream: bool) -> Resume:
    if not isinstance(resume, dict):
        raise BadRequest("resume must be an object", code="invalid_resume")
    approval_id, decision, edited = (
        resume.get("approval_id"),
        resume.get("decision"),
        resume.get("edited_args"),
    )
    if not isinstance(approval_id, str) or not approval_id:
        raise BadRequest("resume.approval_id must be a non-empty string", code="invalid_resume")
    if decision not in DECISIONS:
        raise BadRequest("resume.decision must be approve, reject or edit", code="invalid_resume")
    if decision == "edit" and not isinstance(edited, dict):
        raise BadRequest(
            "resume.edited_args must be an object when the decision is edit", code="invalid_resume"
        )
    if edited is not None and not isinstance(edited, dict):
        raise BadRequest("resume.edited_args must be an object", code="invalid_resume")
    return Resume(approval_id, decision, edited, session_id, stream)
