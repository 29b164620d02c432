"""Request bodies that start a run, parsed and checked with the stable error codes of docs/events.md.

Three shapes are accepted on the starting endpoints, so existing frontends need no adapter:

- native: `{"message": str, "session_id"?: str, "on_disconnect"?: "continue" | "cancel"}`;
- AG-UI `RunAgentInput` (`threadId`, `runId`, `messages`, ...): the last user message is the
  prompt, `threadId` the conversation;
- Vercel AI SDK `useChat` (`DefaultChatTransport`): `{"id", "messages": [UIMessage], ...}`: the
  text parts of the last user message are the prompt, `id` the conversation.

A conversation id that is not a valid AgentCore session id (33 to 256 of `[A-Za-z0-9_-]`) is
turned into one deterministically, per principal (`session_for_thread`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from bff.encoders import AG_UI, AI_SDK
from bff.exceptions import PayloadTooLarge, ValidationFailed
from bff.runs import ON_DISCONNECT_CANCEL, ON_DISCONNECT_CONTINUE

SESSION_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{33,256}")
ON_DISCONNECT_VALUES: Final = (ON_DISCONNECT_CONTINUE, ON_DISCONNECT_CANCEL)


@dataclass(frozen=True, slots=True)
class ChatInput:
    message: str
    session_id: str | None = None  # a valid session id as given
    thread_id: str | None = None  # a frontend's conversation id, to map with session_for_thread
    on_disconnect: str | None = None
    protocol: str | None = None  # the format the body's shape implies (ag-ui, ai-sdk)
    resume: tuple[dict[str, Any], ...] | None = None  # AG-UI `resume` entries (docs/approvals.md)


def check_session_id(value: Any) -> str:
    if not isinstance(value, str) or SESSION_ID_RE.fullmatch(value) is None:
        raise ValidationFailed(
            "session_id must be 33 to 256 characters of letters, digits, '_' or '-'.",
            code="invalid_session_id",
        )
    return value


def check_on_disconnect(value: Any) -> str | None:
    if value is None:
        return None
    if value not in ON_DISCONNECT_VALUES:
        raise ValidationFailed("on_disconnect must be 'continue' or 'cancel'.", code="invalid_on_disconnect")
    return str(value)


def session_for_thread(principal: str, thread_id: str) -> str:
    """A frontend's conversation id as a session id: itself when valid, else a stable digest."""
    if SESSION_ID_RE.fullmatch(thread_id):
        return thread_id
    return "thread_" + hashlib.sha256(f"{principal}\x00{thread_id}".encode()).hexdigest()


def check_message(value: Any, max_chars: int) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed("message must be a non-empty string.", code="empty_message")
    if not isinstance(value, str):
        raise ValidationFailed("message must be a string.", code="validation_error")
    if len(value) > max_chars:
        raise PayloadTooLarge(f"message is longer than {max_chars} characters.", code="message_too_long")
    return value


def parse_json(body: bytes, max_bytes: int) -> dict[str, Any]:
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "The request body is not valid JSON.", code="invalid_json", status=400
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return data


def parse_chat_body(body: bytes, *, max_bytes: int, max_chars: int) -> ChatInput:
    data = parse_json(body, max_bytes)
    if "threadId" in data or "runId" in data:
        return _agui(data, max_chars)
    if "messages" in data and "message" not in data:
        return _aisdk(data, max_chars)
    message = check_message(data.get("message"), max_chars)
    session_id = data.get("session_id")
    return ChatInput(
        message=message,
        session_id=None if session_id is None else check_session_id(session_id),
        on_disconnect=check_on_disconnect(data.get("on_disconnect")),
    )


def _agui(data: dict[str, Any], max_chars: int) -> ChatInput:
    from ag_ui.core import RunAgentInput

    try:
        run_input = RunAgentInput.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(f"Not a valid AG-UI RunAgentInput: {_first_error(exc)}") from None
    if run_input.resume:  # answers an interrupt: no new prompt (bff/routes/approvals.py)
        entries = tuple(e.model_dump(by_alias=True, exclude_none=True) for e in run_input.resume)
        return ChatInput(message="", thread_id=run_input.thread_id, protocol=AG_UI, resume=entries)
    text = ""
    for message in reversed(run_input.messages):
        if getattr(message, "role", None) == "user":
            text = _text_of(getattr(message, "content", ""))
            break
    return ChatInput(message=check_message(text, max_chars), thread_id=run_input.thread_id, protocol=AG_UI)


def _aisdk(data: dict[str, Any], max_chars: int) -> ChatInput:
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise ValidationFailed("messages must be a list.")
    text = ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            parts = message.get("parts")
            if isinstance(parts, list):
                text = "".join(
                    str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
                )
            else:
                text = _text_of(message.get("content", ""))
            break
    chat_id = data.get("id")
    return ChatInput(
        message=check_message(text, max_chars),
        thread_id=str(chat_id) if isinstance(chat_id, str) and chat_id else None,
        session_id=check_session_id(data["session_id"]) if data.get("session_id") is not None else None,
        protocol=AI_SDK,
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            text = part.get("text") if isinstance(part, dict) else getattr(part, "text", None)
            if isinstance(text, str):
                texts.append(text)
        return "".join(texts)
    return ""


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return "invalid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))


def parse_last_event_id(header: str | None, query: str | None) -> int:
    """`Last-Event-ID` (header, as EventSource sends it) or `?last_event_id=`: a seq, 0 = from the start."""
    raw = query if query not in (None, "") else header
    if raw in (None, ""):
        return 0
    assert raw is not None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        raise ValidationFailed(
            "Last-Event-ID must be a non-negative integer (an event's seq).",
            code="invalid_last_event_id",
            status=400,
        )
    return int(raw)
