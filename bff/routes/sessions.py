"""`GET /v1/sessions`: the caller's recent conversations (newest first), from the event log's index."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from bff.deps import EventLogDep, PrincipalDep

router = APIRouter(tags=["sessions"])


@router.get("/v1/sessions")
async def list_sessions(
    log: EventLogDep, principal: PrincipalDep, limit: int = Query(default=50, ge=1, le=200)
) -> dict[str, Any]:
    sessions = await log.list_sessions(principal, limit)
    return {
        "sessions": [
            {
                "session_id": s.session_id,
                "created": s.created,
                "updated": s.updated,
                "preview": s.preview,
                "last_run_id": s.last_run_id,
            }
            for s in sessions
        ]
    }
