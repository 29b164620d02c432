"""`POST /v1/chat/stream` (a run as an event stream) and `POST /v1/chat` (its final result as JSON).

The stream endpoint opens the upstream before it answers: a runtime that fails before its first
byte gets a 502/503/504 JSON error, not a stream. Once the response has started, failures are
events (`error`, then `done`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from bff import events as ev
from bff.deps import PrincipalDep, RunsDep, SettingsDep
from bff.encoders import create_encoder, negotiate
from bff.eventlog import RunRecord
from bff.exceptions import ClientError, PayloadTooLarge, UpstreamError, ValidationFailed
from bff.routes.approvals import stream_resumed_agui
from bff.routes.inputs import ChatInput, check_on_disconnect, parse_chat_body, session_for_thread
from bff.routes.streaming import event_stream, run_headers
from bff.runs import ON_DISCONNECT_CONTINUE, RunManager, new_session_id
from bff.settings import Settings

router = APIRouter(tags=["chat"])


async def read_chat_input(request: Request, settings: Settings) -> ChatInput:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise ClientError(
            "The request body must be JSON (Content-Type: application/json).",
            code="unsupported_media_type",
            status=415,
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
        raise PayloadTooLarge(f"The request body is larger than {settings.max_body_bytes} bytes.")
    body = await request.body()
    return parse_chat_body(body, max_bytes=settings.max_body_bytes, max_chars=settings.max_message_chars)


def resolve_session(principal: str, chat: ChatInput) -> str:
    if chat.session_id is not None:
        return chat.session_id
    if chat.thread_id:
        return session_for_thread(principal, chat.thread_id)
    return new_session_id()


async def start_run(runs: RunManager, principal: str, chat: ChatInput, *, wait_open: bool) -> RunRecord:
    if chat.resume:
        raise ValidationFailed("An AG-UI resume is answered on POST /v1/chat/stream.")
    session_id = resolve_session(principal, chat)
    return await runs.start(
        principal=principal, session_id=session_id, message=chat.message, wait_open=wait_open
    )


@router.post("/v1/chat/stream", response_class=Response)
async def chat_stream(
    request: Request,
    runs: RunsDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    protocol: str | None = Query(default=None, description="native | ag-ui | ai-sdk"),
    on_disconnect: str | None = Query(default=None, description="continue (default) | cancel"),
) -> Response:
    """Start a run and stream its events (native SSE, AG-UI or AI SDK UI message stream)."""
    chat = await read_chat_input(request, settings)
    wire = negotiate(protocol or chat.protocol, request.headers.get("accept"))
    policy = check_on_disconnect(on_disconnect) or chat.on_disconnect or ON_DISCONNECT_CONTINUE
    encoder = create_encoder(wire)
    if chat.resume:  # AG-UI answering an interrupt: the same run continues (docs/approvals.md)
        return await stream_resumed_agui(
            request, list(chat.resume), encoder, runs=runs, settings=settings, principal=principal
        )
    record = await start_run(runs, principal, chat, wait_open=True)
    return event_stream(
        runs, record, encoder, after=0, heartbeat_s=settings.heartbeat_interval_s, on_disconnect=policy
    )


_STATUS_OF_CODE = {"upstream_timeout": 504, "upstream_unavailable": 503, "event_log_unavailable": 503}


@router.post("/v1/chat")
async def chat(
    request: Request, runs: RunsDep, settings: SettingsDep, principal: PrincipalDep
) -> JSONResponse:
    """Run a turn and answer its final result as JSON: output, ids, tool calls, usage."""
    chat_input = await read_chat_input(request, settings)
    record = await start_run(runs, principal, chat_input, wait_open=True)
    tool_calls: dict[str, dict[str, Any]] = {}
    error: dict[str, Any] | None = None
    done: dict[str, Any] = {}
    interrupted: dict[str, Any] | None = None
    async for event in runs.follow(record.run_id, 0, heartbeat_s=settings.heartbeat_interval_s):
        if event is None:
            continue
        data = event.data
        if event.type == ev.TOOL_START:
            tool_calls[str(data.get("call_id"))] = {
                "call_id": data.get("call_id"),
                "tool": data.get("tool"),
                "args": data.get("args"),
            }
        elif event.type == ev.TOOL_END:
            call = tool_calls.setdefault(str(data.get("call_id")), {"call_id": data.get("call_id")})
            call.update(
                tool=data.get("tool"),
                result=data.get("result"),
                status=data.get("status"),
                duration_ms=data.get("duration_ms"),
            )
        elif event.type == ev.ERROR:
            error = {"code": data.get("code"), "message": data.get("message")}
        elif event.type == ev.INTERRUPTED:
            interrupted = data
        elif event.type == ev.DONE:
            done = data
    headers = run_headers(record)
    if error is not None and done.get("status") == "error":
        failure = UpstreamError(str(error.get("message")), code=str(error.get("code")))
        failure.status = _STATUS_OF_CODE.get(failure.code, 502)
        body = failure.to_body()
        body.update(run_id=record.run_id, session_id=record.session_id)
        return JSONResponse(body, status_code=failure.status, headers=headers)
    result: dict[str, Any] = {
        "run_id": record.run_id,
        "session_id": record.session_id,
        "status": "awaiting_approval" if interrupted is not None else done.get("status", "complete"),
        "output": (interrupted or done).get("output", ""),
        "tool_calls": list(tool_calls.values()),
        "usage": (interrupted or done).get("usage"),
        "node_timings_ms": (interrupted or done).get("node_timings_ms"),
        "duration_ms": (interrupted or done).get("duration_ms"),
    }
    if interrupted is not None:
        result["approval_id"] = interrupted.get("approval_id")
    return JSONResponse(result, headers=headers)
