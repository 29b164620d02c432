"""`WS /v1/chat/ws`: native events over a WebSocket, one JSON object per text message.

Client messages (JSON text):

    {"type": "start", "message": "...", "session_id"?: "...", "on_disconnect"?: "continue"|"cancel"}
    {"type": "cancel", "run_id"?: "..."}                   (default: the run this socket follows)
    {"type": "resume", "run_id": "...", "last_event_id"?: 7}

Server messages: native events exactly as in the `data:` of the SSE format (docs/events.md), and
`{"type": "rejected", "error": {"code", "message"}}` for a client message that was refused (bad
input, upstream unavailable before the run opened, a run already in progress, ...; over the
principal's request rate, which every client message counts against, `error.retry_after` too). One run at a
time per socket; a socket that closes leaves its run running unless it asked `on_disconnect=cancel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from bff.deps import PrincipalDep, RunsDep, SettingsDep
from bff.encoders.base import dumps
from bff.exceptions import BFFError, RateLimited, ValidationFailed
from bff.limits import get_limiter
from bff.routes.chat import start_run
from bff.routes.inputs import ChatInput, check_message, check_on_disconnect, check_session_id
from bff.runs import ON_DISCONNECT_CANCEL, TERMINAL_STATUSES, RunManager

router = APIRouter(tags=["chat"])


def _rejected(error: BFFError) -> str:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, RateLimited):
        body["retry_after"] = error.retry_after  # seconds, as the HTTP Retry-After
    return dumps({"type": "rejected", "error": body})


class _Socket:
    def __init__(self, ws: WebSocket, runs: RunManager, principal: str, heartbeat_s: float) -> None:
        self.ws = ws
        self.runs = runs
        self.principal = principal
        self.heartbeat_s = heartbeat_s
        self.run_id: str | None = None
        self.on_disconnect: str | None = None
        self.follower: asyncio.Task[None] | None = None

    async def pump(self, run_id: str, after: int) -> None:
        async for event in self.runs.follow(run_id, after, heartbeat_s=self.heartbeat_s):
            if event is not None:
                await self.ws.send_text(dumps(event.to_dict()))

    def following(self) -> bool:
        return self.follower is not None and not self.follower.done()

    async def follow(self, run_id: str, after: int) -> None:
        if self.following():
            raise ValidationFailed(
                "A run is already streaming on this socket.", code="run_in_progress", status=409
            )
        self.run_id = run_id
        self.follower = asyncio.create_task(self.pump(run_id, after))

    async def handle(self, message: dict[str, Any], max_chars: int) -> None:
        kind = message.get("type")
        if kind == "start":
            if self.following():
                raise ValidationFailed(
                    "A run is already streaming on this socket.", code="run_in_progress", status=409
                )
            session_id = message.get("session_id")
            chat = ChatInput(
                message=check_message(message.get("message"), max_chars),
                session_id=None if session_id is None else check_session_id(session_id),
            )
            self.on_disconnect = check_on_disconnect(message.get("on_disconnect"))
            record = await start_run(self.runs, self.principal, chat, wait_open=True)
            await self.follow(record.run_id, 0)
        elif kind == "cancel":
            run_id = message.get("run_id") or self.run_id
            if not isinstance(run_id, str):
                raise ValidationFailed("No run to cancel.", code="no_run")
            await self.runs.cancel(self.principal, run_id)
        elif kind == "resume":
            run_id = message.get("run_id")
            after = message.get("last_event_id", 0)
            if not isinstance(run_id, str) or type(after) is not int or after < 0:  # bool is an int
                raise ValidationFailed("resume needs run_id and a non-negative integer last_event_id.")
            await self.runs.get(self.principal, run_id)
            self.on_disconnect = check_on_disconnect(message.get("on_disconnect"))
            await self.follow(run_id, after)
        else:
            raise ValidationFailed("type must be 'start', 'cancel' or 'resume'.", code="invalid_message")

    async def close(self) -> None:
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follower
        if self.run_id is not None and self.on_disconnect == ON_DISCONNECT_CANCEL:
            record = await self.runs.log.get_run(self.run_id)
            if record is not None and record.status not in TERMINAL_STATUSES:
                self.runs.cancel_soon(self.run_id)


@router.websocket("/v1/chat/ws")
async def chat_ws(ws: WebSocket, runs: RunsDep, settings: SettingsDep, principal: PrincipalDep) -> None:
    await ws.accept()
    socket = _Socket(ws, runs, principal, settings.heartbeat_interval_s)
    limiter = get_limiter(ws)
    try:
        while True:
            text = await ws.receive_text()
            try:
                if len(text.encode()) > settings.max_body_bytes:
                    raise ValidationFailed("The message is too large.", code="payload_too_large", status=413)
                try:
                    message = json.loads(text)
                except ValueError:
                    raise ValidationFailed("Not valid JSON.", code="invalid_json", status=400) from None
                if not isinstance(message, dict):
                    raise ValidationFailed("A message must be a JSON object.")
                if limiter is not None:  # every client message is a request: the rate holds here too
                    await limiter.hit(principal)
                await socket.handle(message, settings.max_message_chars)
            except BFFError as exc:
                await ws.send_text(_rejected(exc))
    except WebSocketDisconnect:
        pass
    finally:
        await socket.close()
