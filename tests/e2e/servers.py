"""Test servers: in-process uvicorn on a free loopback port, and a scriptable stub runtime.

`serve(app)` runs an ASGI app on 127.0.0.1 (port 0: the OS picks a free one) in the test's own
event loop and yields its base URL. `StubRuntime` is a Starlette app that speaks the runtime
container's contract the way the AgentCore SDK frames it (`data: <json>\\n\\n`), driven by the
invocation payload, and records what happened to each session (headers seen, disconnects), so a
test can wait on what the runtime saw instead of sleeping.

Payload: {"script": [step, ...]} with steps
    {"event": {...}}          one SSE frame `data: <json>\\n\\n`
    {"raw": "text"}           bytes written as they are (for framing tests)
    {"gate": "name"}          wait until the test opens `stub.gate(name)`
    {"sleep": seconds}        pause (used only for silence / timeout tests)
    {"hold": true}            wait until the caller goes away
    {"fail": true}            raise: the server cuts the body without its terminating chunk
and optionally {"status": 500} (answer an error), {"json": {...}} (answer application/json),
{"delay_headers": seconds} (answer headers late).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, *, force_exit: bool = True) -> AsyncIterator[str]:
    """Run `app` with uvicorn on a free loopback port in this event loop; yield its URL.

    `force_exit` (default) drops open connections on the way out; without it uvicorn shuts down
    gracefully, waiting for responses still streaming."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = force_exit
        await task


@dataclass
class SessionLog:
    headers: list[dict[str, str]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    completed: asyncio.Event = field(default_factory=asyncio.Event)


class StubRuntime:
    """A scriptable runtime container: `POST /invocations`, `GET /ping`."""

    def __init__(self) -> None:
        self.sessions: dict[str, SessionLog] = defaultdict(SessionLog)
        self._gates: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.open_streams = 0
        self.app = Starlette(
            routes=[
                Route("/invocations", self._invoke, methods=["POST"]),
                Route("/ping", lambda r: JSONResponse({"status": "Healthy"}), methods=["GET"]),
            ]
        )

    def gate(self, name: str) -> asyncio.Event:
        return self._gates[name]

    async def _invoke(self, request: Request) -> Response:
        payload: dict[str, Any] = await request.json()
        session_id = request.headers.get("x-amzn-bedrock-agentcore-runtime-session-id", "")
        log = self.sessions[session_id]
        log.headers.append(dict(request.headers))
        if payload.get("delay_headers"):
            await asyncio.sleep(payload["delay_headers"])
        if payload.get("status"):
            return JSONResponse({"error": "boom"}, status_code=payload["status"])
        if "json" in payload:
            log.completed.set()
            return JSONResponse(payload["json"])
        return StreamingResponse(self._body(payload.get("script", []), log), media_type="text/event-stream")

    async def _body(self, script: list[dict[str, Any]], log: SessionLog) -> AsyncIterator[bytes]:
        self.open_streams += 1
        log.started.set()
        try:
            for step in script:
                if "event" in step:
                    yield f"data: {json.dumps(step['event'])}\n\n".encode()
                elif "raw" in step:
                    yield step["raw"].encode()
                elif "gate" in step:
                    await self._gates[step["gate"]].wait()
                elif "sleep" in step:
                    await asyncio.sleep(step["sleep"])
                elif step.get("hold"):
                    await asyncio.Event().wait()
                elif step.get("fail"):
                    raise RuntimeError("stub runtime failure")
            log.completed.set()
        except asyncio.CancelledError:
            log.disconnected.set()
            raise
        except GeneratorExit:
            log.disconnected.set()
            raise
        finally:
            self.open_streams -= 1


async def wait_for(event: asyncio.Event, timeout: float = 5.0) -> None:
    """Wait for something a server saw; fail the test with a clear timeout instead of hanging."""
    async with asyncio.timeout(timeout):
        await event.wait()
