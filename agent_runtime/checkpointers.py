"""The checkpointer, chosen by `AGENT_CHECKPOINTER`: where a session's conversation lives.

- `memory` (default): `InMemorySaver`, gone with the process.
- `postgres`: `AsyncPostgresSaver` at `AGENT_POSTGRES_URL`; survives restarts.
- `agentcore-memory`: `AgentCoreMemorySaver` on `AGENT_MEMORY_ID` (AgentCore Memory events).

`open_checkpointer` is an async context manager: the service enters it once, on the loop that runs
the graph (connection pools are bound to their loop), and leaves it at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from agent_runtime.exceptions import ConfigurationError
from agent_runtime.settings import Settings


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if settings.checkpointer == "memory":
        yield InMemorySaver()
        return
    raise ConfigurationError(f"the {settings.checkpointer} checkpointer is not available yet")


def thread_config(settings: Settings, session_id: str) -> dict[str, Any]:
    """The `configurable` of a session: one session is one LangGraph thread."""
    return {"thread_id": session_id, "actor_id": settings.actor_id}
