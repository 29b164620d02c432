"""`GET /healthz`: cheap liveness with the version, whether the event log answers, and the upstream.

`upstream` is `ok` or `unreachable` when the client can probe it cheaply (the local AgentCore
endpoint's `/ping`, cached for a few seconds), else `not_checked`: the AWS data plane has no
health path and a real invocation is never spent on a health check.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bff import __version__
from bff.deps import EventLogDep, UpstreamDep

router = APIRouter(tags=["health"])


async def upstream_state(upstream: Any) -> str:
    ping = getattr(upstream, "ping", None)
    if ping is None:
        return "not_checked"
    try:
        async with asyncio.timeout(2.0):
            answer = await ping()
    except Exception:
        return "unreachable"
    if answer is None:
        return "not_checked"
    return "ok" if answer else "unreachable"


@router.get("/healthz")
async def healthz(log: EventLogDep, upstream: UpstreamDep) -> JSONResponse:
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "event_log": await log.ping(),
        "upstream": await upstream_state(upstream),
    }
    if not body["event_log"] or body["upstream"] == "unreachable":
        body["status"] = "degraded"
    return JSONResponse(body)
