"""`GET /healthz`: cheap liveness with the version and whether the event log and upstream answer."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bff import __version__
from bff.deps import EventLogDep, UpstreamDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(log: EventLogDep, upstream: UpstreamDep) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "version": __version__, "event_log": await log.ping()}
    ping = getattr(upstream, "ping", None)
    if ping is not None:
        try:
            async with asyncio.timeout(1.0):
                body["upstream"] = bool(await ping())
        except Exception:
            body["upstream"] = False
    if not body["event_log"]:
        body["status"] = "degraded"
    return JSONResponse(body)
