"""The AgentCore app: `BedrockAgentCoreApp` with the `@app.entrypoint` of the agent.

The entrypoint is an `async def` that validates the payload first and only then chooses what to
return: a JSON 400 (a Starlette response, passed through by the SDK) for a bad payload, an async
generator of runtime events (streamed by the SDK as `data: <json>` frames) by default, or one JSON
object when `"stream": false`. The SDK runs it on its worker event loop, so the service (and the
checkpointer's connections) is opened lazily there, on the first invocation.

While a run streams, the app counts it as a busy task, so `/ping` says `HealthyBusy`. A client that
disconnects cancels its run at once (disconnect.py says why the SDK alone does not).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

from agent_runtime import disconnect, payloads, tracing
from agent_runtime.events import Event
from agent_runtime.exceptions import BadRequest
from agent_runtime.service import AgentService
from agent_runtime.settings import Settings

logger = logging.getLogger("agent_runtime.app")


def create_app(settings: Settings) -> BedrockAgentCoreApp:
    app = BedrockAgentCoreApp(middleware=[Middleware(disconnect.DisconnectMiddleware)])
    holder: dict[str, AgentService] = {}
    lock = asyncio.Lock()

    async def service() -> AgentService:
        async with lock:
            if "service" not in holder:
                holder["service"] = await AgentService.open(settings)
            return holder["service"]

    @app.entrypoint
    async def invoke(payload: Any, context: Any) -> Any:
        try:
            request = payloads.parse(payload)
        except BadRequest as exc:
            return _error_response(exc.code, exc.message, 400)
        session_id = getattr(context, "session_id", None) or request.session_id or uuid.uuid4().hex
        try:
            agent = await service()
        except Exception:
            logger.exception("the agent could not start")
            return _error_response(
                "state_unavailable", "The agent cannot start: its conversation store is not available.", 503
            )
        if isinstance(request, payloads.History):
            return await _history(agent, session_id)
        events = tracing.traced(
            agent.events(request, session_id, stop=disconnect.of_context(context)), context
        )
        if request.stream:
            return _busy(app, events)
        return await _collect(events, session_id)

    app.state.agent_settings = settings
    app.state.agent_holder = holder
    return app


async def _busy(app: BedrockAgentCoreApp, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    task_id = app.add_async_task("agent_run")
    try:
        async for event in events:
            yield event
    finally:
        app.complete_async_task(task_id)
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _collect(events: AsyncIterator[Event], session_id: str) -> Any:
    """`"stream": false`: run to the end and answer one JSON object."""
    async with aclosing(events):  # type: ignore[type-var]
        return await _answer(events, session_id)


async def _answer(events: AsyncIterator[Event], session_id: str) -> Any:
    approvals: list[Event] = []
    async for event in events:
        if event["type"] == "ERROR":
            return _error_response(event["code"], event["message"], _ERROR_STATUS.get(event["code"], 500))
        if event["type"] == "APPROVAL_REQUIRED":
            approvals.append({k: v for k, v in event.items() if k not in ("type", "timestamp", "session_id")})
        if event["type"] == "AGENT_END":
            answer = {k: v for k, v in event.items() if k not in ("type", "timestamp")}
            answer["session_id"] = session_id
            if approvals:
                answer["approvals"] = approvals
            return answer
    return _error_response("internal_error", "The agent ended without an answer.", 500)


async def _history(agent: AgentService, session_id: str) -> Any:
    try:
        return await agent.history(session_id)
    except Exception:
        logger.exception("reading the history failed")
        return _error_response("state_unavailable", "The conversation store is not available.", 503)


_ERROR_STATUS = {"unknown_approval": 409, "model_error": 502}


def _error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
