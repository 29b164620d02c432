"""Noticing that the client went away, and telling the run on the SDK's worker loop.

Why this exists: the SDK streams an async generator through a sync bridge (a thread-safe queue read
in Starlette's thread pool). When the client disconnects, Starlette stops reading, but the bridge's
generator is only closed, and our run only cancelled, when the garbage collector gets to it:
measured here, the long tool kept running for seconds. So `DisconnectMiddleware` watches the ASGI
`receive` channel for `http.disconnect` (Starlette's `StreamingResponse` listens for it) and fires
the request's `Disconnect` token; the run subscribed to it ends at once (heartbeat.py), which
cancels the graph and lets the SDK's bridge finish cleanly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

SCOPE_KEY = "agent_disconnect"

Scope = dict[str, Any]


class Disconnect:
    """A one-shot, thread-safe signal: fired on the server loop, observed on the worker loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fired = False
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []

    @property
    def fired(self) -> bool:
        return self._fired

    def fire(self) -> None:
        with self._lock:
            if self._fired:
                return
            self._fired = True
            subscribers, self._subscribers = self._subscribers, []
        for loop, callback in subscribers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the running loop when (or if already) fired."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._fired:
                self._subscribers.append((loop, callback))
                return
        loop.call_soon(callback)


class DisconnectMiddleware:
    """Puts a `Disconnect` in every HTTP request's scope state and fires it on `http.disconnect`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = Disconnect()
        scope.setdefault("state", {})[SCOPE_KEY] = token

        async def watched_receive() -> Any:
            message = await receive()
            if message.get("type") == "http.disconnect":
                token.fire()
            return message

        await self.app(scope, watched_receive, send)


def of_context(context: Any) -> Disconnect | None:
    """The token of the request behind an AgentCore `RequestContext`, if any."""
    request = getattr(context, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    token = state.get(SCOPE_KEY)
    return token if isinstance(token, Disconnect) else None
