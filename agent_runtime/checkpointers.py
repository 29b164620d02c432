"""The checkpointer, chosen by `AGENT_CHECKPOINTER`: where a session's conversation lives.

- `memory` (default): `InMemorySaver`, gone with the process.
- `postgres`: `AsyncPostgresSaver` at `AGENT_POSTGRES_URL`; survives restarts.
- `agentcore-memory`: `AgentCoreMemorySaver` on `AGENT_MEMORY_ID` (AgentCore Memory events; it
  needs `thread_id` and `actor_id` in `configurable`, see `thread_config`).

`open_checkpointer` is an async context manager: the service enters it once, on the loop that runs
the graph (connection pools are bound to their loop), and leaves it at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from agent_runtime.exceptions import ConfigurationError, StoreUnavailable
from agent_runtime.settings import Settings


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if settings.checkpointer == "memory":
        yield InMemorySaver()
    elif settings.checkpointer == "postgres":
        async with _postgres(settings) as saver:
            yield saver
    elif settings.checkpointer == "agentcore-memory":
        yield _agentcore_memory(settings)
    else:  # Settings.from_env refuses anything else
        raise ConfigurationError(f"unknown checkpointer {settings.checkpointer!r}")


@asynccontextmanager
async def _postgres(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A pool (it reconnects after a database restart) with the settings the saver needs."""
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    if not settings.postgres_url:
        raise ConfigurationError("AGENT_CHECKPOINTER=postgres needs AGENT_POSTGRES_URL")
    try:  # one direct connection first: a down database fails at once, not after the pool's retries
        probe = await psycopg.AsyncConnection.connect(settings.postgres_url, connect_timeout=5)
    except psycopg.Error as exc:
        raise StoreUnavailable("PostgreSQL cannot be reached") from exc
    await probe.close()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.postgres_url,
        min_size=1,
        max_size=8,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True, timeout=10)
    try:
        saver = AsyncPostgresSaver(pool)
        await saver.setup()  # creates or migrates the tables; idempotent
        yield saver
    finally:
        await pool.close()


def _agentcore_memory(settings: Settings) -> BaseCheckpointSaver[Any]:
    from langgraph_checkpoint_aws import AgentCoreMemorySaver

    if not settings.memory_id:
        raise ConfigurationError("AGENT_CHECKPOINTER=agentcore-memory needs AGENT_MEMORY_ID")
    client_kwargs: dict[str, Any] = {"region_name": settings.aws_region}
    if settings.memory_endpoint_url:
        client_kwargs["endpoint_url"] = settings.memory_endpoint_url
    return AgentCoreMemorySaver(settings.memory_id, **client_kwargs)


def thread_config(settings: Settings, session_id: str) -> dict[str, Any]:
    """The `configurable` of a session: one session is one LangGraph thread."""
    return {"thread_id": session_id, "actor_id": settings.actor_id}
