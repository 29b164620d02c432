"""Interleave heartbeats into an event stream that has been silent for `interval` seconds.

The source runs in its own task and hands events over a queue, so the timer fires even while the
source is parked in a long await (a silent tool). The stream ends early, quietly, when the `stop`
signal fires (the client went away: disconnect.py). Leaving the generator for any reason (end,
error, stop, or the consumer cancelling us) cancels and awaits the source task: nothing is left
running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from agent_runtime.disconnect import Disconnect

T = TypeVar("T")

logger = logging.getLogger("agent_runtime.heartbeat")

_END, _STOP = object(), object()


class _Failure:
    def __init__(self, error: Exception) -> None:
        self.error = error


async def with_heartbeats(
    source: AsyncIterator[T], interval: float, heartbeat: Callable[[], T], *, stop: Disconnect | None = None
) -> AsyncIterator[T]:
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as exc:
            await queue.put(_Failure(exc))
        else:
            await queue.put(_END)

    task = asyncio.create_task(pump(), name="agent-run")
    if stop is not None:
        stop.subscribe(lambda: queue.put_nowait(_STOP))
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield heartbeat()
                continue
            if item is _END:
                return
            if item is _STOP:
                logger.info("the client disconnected: cancelling the run")
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
