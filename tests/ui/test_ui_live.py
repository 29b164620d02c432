"""Following a run: interruption leaves nothing running, idle ticks, reconnection from the last id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.ui.fake_bff import SESSION, done, tokens
from ui.live import follow_run, pump
from ui.settings import Settings
from ui.turn import Turn

SETTINGS = Settings(tick_s=0.01, reconnect_attempts=2, reconnect_backoff_s=0.0)


class Interrupted(BaseException):
    """Stands for Streamlit's RerunException: a BaseException raised at a redraw."""


class RecordingView:
    def __init__(self, interrupt_after: int | None = None) -> None:
        self.flushes = 0
        self.ticks = 0
        self.finished = False
        self.interrupt_after = interrupt_after
        self.ticked = asyncio.Event()

    def mark(self, changed: set[int | str]) -> None:
        pass

    def flush(self, turn: Turn) -> None:
        self.flushes += 1
        if self.interrupt_after is not None and self.flushes >= self.interrupt_after:
            raise Interrupted

    def tick(self, turn: Turn) -> None:
        self.ticks += 1
        if self.ticks >= 2:
            self.ticked.set()

    def finish(self, turn: Turn) -> None:
        self.finished = True


def events(items: list[dict[str, Any]], start: int = 1) -> list[dict[str, Any]]:
    return [
        {**e, "seq": start + i, "run_id": "run_1", "session_id": SESSION, "ts": 1.0}
        for i, e in enumerate(items)
    ]


SCRIPT = events([{"type": "start"}, *tokens("one two three four five"), done("one two three four five")])


class Source:
    """An event stream that records whether it was closed, like an httpx stream would be."""

    def __init__(self, items: list[dict[str, Any]], *, gate: asyncio.Event | None = None) -> None:
        self.items = items
        self.gate = gate
        self.closed = False

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        try:
            for index, item in enumerate(self.items):
                if self.gate is not None and index == 2:
                    await self.gate.wait()
                yield item
        finally:
            self.closed = True


async def test_an_interruption_at_a_redraw_propagates_and_closes_the_stream() -> None:
    source, view, turn = (
        Source(SCRIPT, gate=asyncio.Event()),
        RecordingView(interrupt_after=2),
        Turn(prompt="q"),
    )
    with pytest.raises(Interrupted):
        await pump(source.stream(), turn, view, SETTINGS)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # let the cancelled producer's generator finalise
    assert source.closed
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert turn.last_seq == 2  # what was applied stays: the rerun follows from there


async def test_the_page_ticks_while_nothing_arrives() -> None:
    gate = asyncio.Event()
    source, view, turn = Source(SCRIPT, gate=gate), RecordingView(), Turn(prompt="q")
    task = asyncio.create_task(pump(source.stream(), turn, view, SETTINGS))  # type: ignore[arg-type]
    await view.ticked.wait()  # silence: the timer moved (each tick is a Streamlit yield point)
    assert turn.last_seq == 2
    gate.set()
    assert await task is None
    assert turn.status == "complete" and turn.text == "one two three four five"


class FollowingClient:
    def __init__(self, run: list[dict[str, Any]]) -> None:
        self.run = run
        self.follows: list[int] = []

    def follow(self, run_id: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        self.follows.append(after)
        return Source([e for e in self.run if e["seq"] > after]).stream()


async def test_a_dropped_stream_is_followed_again_from_the_last_applied_id() -> None:
    client, view, turn = FollowingClient(SCRIPT), RecordingView(), Turn(prompt="q")
    await follow_run(client, turn, view, SETTINGS, first=Source(SCRIPT[:4]).stream())  # type: ignore[arg-type]
    assert client.follows == [4]
    assert turn.status == "complete" and turn.text == "one two three four five" and view.finished


async def test_a_run_that_keeps_dropping_fails_with_a_clear_message() -> None:
    client, view, turn = FollowingClient(SCRIPT[:4]), RecordingView(), Turn(prompt="q")
    await follow_run(client, turn, view, SETTINGS, first=Source(SCRIPT[:4]).stream())  # type: ignore[arg-type]
    assert client.follows == [4, 4]
    assert turn.status == "error" and turn.error is not None and turn.error["code"] == "stream_lost"
    assert turn.text == "one two three"  # what arrived is kept
