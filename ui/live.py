"""Following a run live: BFF events -> `Turn` -> `TurnView`, until `done` or a pause.

Runs inside a Streamlit script run (`asyncio.run(follow_run(...))`). A producer task reads the
event stream into a queue; this coroutine applies each event to the turn and redraws what changed.
When nothing arrives for `tick_s` it moves the elapsed timer: every redraw is a Streamlit yield
point, so a click on Stop (which makes Streamlit interrupt the script with a rerun) lands within a
tick even during a long, silent tool. Whatever ends this coroutine, an interruption included, the
producer is cancelled and awaited, which closes the HTTP stream: nothing is left running.

A stream that ends without `done` (a dropped connection) is followed again from the last applied
id (`GET /v1/runs/{id}/stream`, `Last-Event-ID`), a few times, before the turn is marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from ui.client import BffClient
from ui.exceptions import BffError, BffHttpError
from ui.settings import Settings
from ui.turn import Turn
from ui.view import TurnView

_END = object()


class _Failure:
    def __init__(self, error: BffError) -> None:
        self.error = error


async def _produce(events: AsyncIterator[dict[str, Any]], queue: asyncio.Queue[Any]) -> None:
    try:
        async for event in events:
            await queue.put(event)
    except BffError as exc:
        await queue.put(_Failure(exc))
    finally:
        await queue.put(_END)


async def pump(
    events: AsyncIterator[dict[str, Any]],
    turn: Turn,
    view: TurnView,
    settings: Settings,
    on_start: Callable[[Turn], None] | None = None,
) -> BffError | None:
    """Apply one stream to the turn; return the error that ended it early, if any."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    producer = asyncio.create_task(_produce(events, queue))
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=settings.tick_s)
            except TimeoutError:
                view.tick(turn)
                continue
            if item is _END:
                return None
            if isinstance(item, _Failure):
                return item.error
            had_run = turn.run_id is not None
            view.mark(turn.apply(item))
            if not had_run and turn.run_id is not None and on_start is not None:
                on_start(turn)
            view.flush(turn)
            if turn.finished or turn.status == "awaiting_approval":
                return None
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer


async def follow_run(
    client: BffClient,
    turn: Turn,
    view: TurnView,
    settings: Settings,
    first: AsyncIterator[dict[str, Any]] | None = None,
    on_start: Callable[[Turn], None] | None = None,
) -> None:
    """Follow the turn's run until it finishes or pauses, reconnecting after a drop."""
    events = first if first is not None else client.follow(str(turn.run_id), after=turn.last_seq)
    failures = 0
    while True:
        error = await pump(events, turn, view, settings, on_start)
        if turn.finished or turn.status == "awaiting_approval":
            break
        if turn.run_id is None or (isinstance(error, BffHttpError) and not error.retryable):
            # Nothing started (the BFF refused or could not be reached), or the run is unknown.
            if error is None:
                turn.fail("stream_ended", "The answer stream ended before it started.")
            else:
                turn.fail(error.code, error.message, retryable=error.retryable)
            break
        failures += 1
        if failures > settings.reconnect_attempts:
            message = error.message if error else "The connection to the answer was lost."
            turn.fail("stream_lost", message)
            break
        # Back off a little before following the run again from the last id we applied.
        await asyncio.sleep(min(2.0, settings.reconnect_backoff_s * 2 ** (failures - 1)))
        events = client.follow(turn.run_id, after=turn.last_seq)
    view.finish(turn)
