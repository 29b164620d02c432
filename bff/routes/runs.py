"""Runs: start one in the background, read its status, resume its stream, cancel it.

    POST /v1/runs                    202 {run_id, session_id, status, stream_url, status_url}
    GET  /v1/runs/{run_id}           {run_id, session_id, status, output?, usage?, error?, ...}
    GET  /v1/runs/{run_id}/stream    replay after Last-Event-ID (header or ?last_event_id=), then live;
                                     204 when the run has ended and the client has every event
    POST /v1/runs/{run_id}/cancel    stop the run upstream; {run_id, status}

Every lookup goes through `RunManager.get(principal, run_id)`: another principal's run is a 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from bff.deps import PrincipalDep, RunsDep, SettingsDep
from bff.encoders import create_encoder, negotiate
from bff.eventlog import RunRecord
from bff.routes.chat import read_chat_input, start_run
from bff.routes.inputs import check_on_disconnect, parse_last_event_id
from bff.routes.streaming import event_stream, prime, run_headers
from bff.runs import TERMINAL_STATUSES

router = APIRouter(tags=["runs"])


def run_view(record: RunRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "run_id": record.run_id,
        "session_id": record.session_id,
        "status": record.status,
        "created": record.created,
        "updated": record.updated,
        "stream_url": f"/v1/runs/{record.run_id}/stream",
    }
    if record.output is not None:
        view["output"] = record.output
    if record.usage is not None:
        view["usage"] = record.usage
    if record.error is not None:
        view["error"] = record.error
    return view


@router.post("/v1/runs", status_code=202)
async def create_run(
    request: Request, runs: RunsDep, settings: SettingsDep, principal: PrincipalDep
) -> JSONResponse:
    """Start a run in the background (the batch path): answer at once with its id and stream URL."""
    chat = await read_chat_input(request, settings)
    record = await start_run(runs, principal, chat, wait_open=False)
    body = run_view(record)
    body["status_url"] = f"/v1/runs/{record.run_id}"
    headers = {**run_headers(record), "Location": body["status_url"]}
    return JSONResponse(body, status_code=202, headers=headers)


@router.get("/v1/runs/{run_id}")
async def get_run(run_id: str, runs: RunsDep, principal: PrincipalDep) -> dict[str, Any]:
    return run_view(await runs.get(principal, run_id))


@router.get("/v1/runs/{run_id}/stream", response_class=Response)
async def stream_run(
    run_id: str,
    request: Request,
    runs: RunsDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    last_event_id_header: str | None = Header(default=None, alias="Last-Event-ID"),
    last_event_id: str | None = Query(default=None),
    protocol: str | None = Query(default=None),
    on_disconnect: str | None = Query(default=None),
) -> Response:
    """Replay the run after the last event the client has, then follow it live until it ends."""
    after = parse_last_event_id(last_event_id_header, last_event_id)
    encoder = create_encoder(negotiate(protocol, request.headers.get("accept")))
    policy = check_on_disconnect(on_disconnect)
    record = await runs.get(principal, run_id)
    if record.status in TERMINAL_STATUSES and after >= await runs.log.last_seq(run_id):
        # Nothing left to send, ever: 204 tells a browser EventSource to stop reconnecting.
        return Response(status_code=204, headers=run_headers(record))
    await prime(runs, encoder, run_id, after)
    return event_stream(
        runs, record, encoder, after=after, heartbeat_s=settings.heartbeat_interval_s, on_disconnect=policy
    )


@router.post("/v1/runs/{run_id}/cancel")
async def cancel_run(run_id: str, runs: RunsDep, principal: PrincipalDep) -> dict[str, Any]:
    """Stop the run: upstream stream closed, StopRuntimeSession called, `cancelled` + `done` logged."""
    record = await runs.cancel(principal, run_id)
    return {"run_id": record.run_id, "session_id": record.session_id, "status": record.status}
