"""`with_heartbeats` fills silences, ends on a stop signal, and leaves nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent_runtime.disconnect import Disconnect
from agent_runtime.heartbeat import with_heartbeats


class Source:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = asyncio.Event()
        self.cancelled = False

    async def __call__(self) -> AsyncIterator[str]:
        try:
            yield "first"
            await self.release.wait()
            yield "second"
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.finished.set()


async def test_heartbeats_fill_a_silence_until_the_source_speaks() -> None:
    source = Source()
    seen: list[str] = []
    async for item in with_heartbeats(source(), 0.01, lambda: "beat"):
        seen.append(item)
        if seen.count("beat") == 3:
            source.release.set()
    assert seen == ["first", "beat", "beat", "beat", "second"]


async def test_no_heartbeat_when_the_source_is_busy() -> None:
    async def busy() -> AsyncIterator[int]:
        for i in range(5):
            yield i

    assert [item async for item in with_heartbeats(busy(), 10, lambda: -1)] == [0, 1, 2, 3, 4]


async def test_closing_early_cancels_the_source() -> None:
    source = Source()
    stream = with_heartbeats(source(), 10, lambda: "beat")
    assert await anext(stream) == "first"
    await stream.aclose()
    assert source.finished.is_set() and source.cancelled


async def test_a_stop_signal_ends_the_stream_and_cancels_the_source() -> None:
    source, stop = Source(), Disconnect()
    seen = []
    async for item in with_heartbeats(source(), 10, lambda: "beat", stop=stop):
        seen.append(item)
        stop.fire()
    assert seen == ["first"] and source.cancelled


async def test_a_signal_fired_before_subscribing_still_stops() -> None:
    source, stop = Source(), Disconnect()
    stop.fire()
    assert [item async for item in with_heartbeats(source(), 10, lambda: "beat", stop=stop)] in (
        [],
        ["first"],
    )
    assert source.finished.is_set()


async def test_a_source_error_is_raised_to_the_consumer() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("boom")

    seen = []
    with pytest.raises(ValueError, match="boom"):
        async for item in with_heartbeats(failing(), 10, lambda: 0):
            seen.append(item)
    assert seen == [1]
