"""Resources handed to routes: created once in the app's lifespan (bff/app.py), read from
`app.state` through `Annotated[..., Depends()]` aliases, so a route never builds its own.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in its
thread pool, a thread hand-off per dependency per request (seen in the profiles of make bench)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from bff.eventlog import EventLog
from bff.limits import admit
from bff.runs import RunManager
from bff.settings import Settings


async def get_settings(conn: HTTPConnection) -> Settings:
    settings: Settings = conn.app.state.settings
    return settings


async def get_runs(conn: HTTPConnection) -> RunManager:
    runs: RunManager = conn.app.state.runs
    return runs


async def get_event_log(conn: HTTPConnection) -> EventLog:
    log: EventLog = conn.app.state.event_log
    return log


async def get_upstream(conn: HTTPConnection) -> Any:
    return conn.app.state.upstream


async def get_principal(conn: HTTPConnection) -> str:
    """Who is calling (bff/auth.py): 401 without valid credentials (everyone is "local" only in
    BFF_AUTH_MODE=local-dev), then 429 over the principal's request rate (bff/limits.py)."""
    return (await admit(conn)).id


async def get_request_body(request: Request) -> bytes:
    return await request.body()


SettingsDep = Annotated[Settings, Depends(get_settings)]
RunsDep = Annotated[RunManager, Depends(get_runs)]
EventLogDep = Annotated[EventLog, Depends(get_event_log)]
UpstreamDep = Annotated[Any, Depends(get_upstream)]
PrincipalDep = Annotated[str, Depends(get_principal)]
