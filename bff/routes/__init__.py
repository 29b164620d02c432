"""HTTP and WebSocket routes of the BFF, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from bff.routes import approvals, chat, health, history, runs, sessions, ws

router = APIRouter()
for _module in (health, chat, runs, approvals, sessions, history, ws):
    router.include_router(_module.router)

__all__ = ["router"]
