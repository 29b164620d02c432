"""HTTP and WebSocket routes of the BFF, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from bff.routes import chat, health, runs, sessions, ws

router = APIRouter()
for _module in (health, chat, runs, sessions, ws):
    router.include_router(_module.router)

__all__ = ["router"]
