"""Token coalescing: merge consecutive `token` deltas into fewer, larger events (off by default).

A model streams answer text a few characters at a time; every delta costs the BFF a log entry,
an encoded frame and a write per follower, and costs each client a parse and a repaint.
`DeltaBuffer` (the seed plan's DeltaBuffer, sans-IO) holds consecutive `token` deltas of one
`message_id` and releases them as one `token` event when any of these happens:

- the held text reaches `max_chars` characters;
- `max_ms` milliseconds have passed since the first held delta (a timer: see below);
- a non-token event arrives (held text goes out first, so the order of events never changes);
- a token of another `message_id` arrives;
- the leg ends (`finish`).

Deltas are never split, so a released event holds at least one whole delta and its text is
exactly the concatenation of the deltas it merged.

The timer is the caller's: when the pipeline is idle with text held, it must wake up by
`deadline()` (a `time.monotonic()` instant, or None while nothing is held) and call `flush()`.
`CoalescingMapper` wraps the run pipeline's `RuntimeEventMapper` with a buffer, and `paced()`
wraps the upstream iterator so that the pipeline wakes up at the deadline: it yields `TICK`
when the deadline passes before the next upstream event, and the mapper answers `TICK` with the
held text. With coalescing off, `paced()` returns the upstream iterator itself (no extra task,
no extra hop).

    mapper = coalescing_mapper_factory(settings, RuntimeEventMapper)()
    async for raw in paced(upstream_events, mapper):
        pairs = mapper.feed(raw)          # TICK -> the held text, if any
        ...
    pairs = mapper.finish()               # held text, then the mapper's own end

Settings (bff/settings.py): `BFF_COALESCE_TOKENS` (bool, default false), `BFF_COALESCE_MAX_CHARS`
(default 50), `BFF_COALESCE_MAX_MS` (default 50): the seed plan's `max_size=50, max_delay=0.05`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Protocol

from bff import events as ev

Pair = tuple[str, dict[str, Any]]


class _Tick:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TICK"


TICK: Final = _Tick()
"""Yielded by `paced()` when the buffer's deadline passed with no upstream event."""


class DeltaBuffer:
    """Holds consecutive token deltas of one message; releases them merged (sans-IO)."""

    __slots__ = ("_clock", "_deltas", "_first", "_payload", "_since", "chars", "max_chars", "max_s")

    def __init__(self, max_chars: int, max_ms: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        if max_ms < 0:
            raise ValueError("max_ms must not be negative")
        self.max_chars = max_chars
        self.max_s = max_ms / 1000.0
        self._clock = clock
        self._deltas: list[str] = []
        self._payload: dict[str, Any] | None = None  # the first held token's payload (the template)
        self._since = 0.0
        self.chars = 0

    def __len__(self) -> int:
        return len(self._deltas)

    def deadline(self) -> float | None:
        """When the held text must go out at the latest (clock time), or None if nothing is held."""
        return self._since + self.max_s if self._deltas else None

    def feed(self, pairs: list[Pair]) -> list[Pair]:
        """Take the mapper's output for one upstream event; return what goes out now, in order."""
        out: list[Pair] = []
        for kind, payload in pairs:
            if kind != ev.TOKEN:
                self._release(out)
                out.append((kind, payload))
                continue
            if self._payload is not None and payload.get("message_id") != self._payload.get("message_id"):
                self._release(out)
            delta = payload.get("delta") or ""
            if not self._deltas:
                self._payload = payload
                self._since = self._clock()
            self._deltas.append(delta)
            self.chars += len(delta)
            if self.chars >= self.max_chars or self._clock() - self._since >= self.max_s:
                self._release(out)
        return out

    def flush(self) -> list[Pair]:
        """Everything held, now (the timer fired, or the leg ended)."""
        out: list[Pair] = []
        self._release(out)
        return out

    def flush_due(self) -> list[Pair]:
        """What the timer owes: the held text if its deadline has passed, else nothing."""
        deadline = self.deadline()
        if deadline is None or self._clock() < deadline:
            return []
        return self.flush()

    def _release(self, out: list[Pair]) -> None:
        if not self._deltas or self._payload is None:
            return
        payload = dict(self._payload)
        payload["delta"] = self._deltas[0] if len(self._deltas) == 1 else "".join(self._deltas)
        out.append((ev.TOKEN, payload))
        self._deltas = []
        self._payload = None
        self.chars = 0


class Mapper(Protocol):
    def feed(self, event: dict[str, Any]) -> list[Pair]: ...
    def finish(self) -> list[Pair]: ...


class CoalescingMapper:
    """A run pipeline mapper whose `token` output goes through a `DeltaBuffer`.

    `feed(TICK)` releases the held text if its deadline passed; every other call delegates to the
    wrapped mapper (attributes too: `terminated`, `fail`, ...) and passes its output through the
    buffer, so held text always goes out before whatever follows it."""

    def __init__(self, mapper: Mapper, buffer: DeltaBuffer) -> None:
        self.mapper = mapper
        self.buffer = buffer

    def deadline(self) -> float | None:
        return self.buffer.deadline()

    def feed(self, event: Any) -> list[Pair]:
        if event is TICK:
            return self.buffer.flush_due()
        return self.buffer.feed(self.mapper.feed(event))

    def finish(self) -> list[Pair]:
        return self.buffer.feed(self.mapper.finish()) + self.buffer.flush()

    def fail(self, *args: Any, **kwargs: Any) -> list[Pair]:
        return self.buffer.feed(self.mapper.fail(*args, **kwargs))  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mapper, name)


def coalescing_mapper_factory(settings: Any, base: Callable[[], Mapper]) -> Callable[[], Any]:
    """`base` itself when `settings.coalesce_tokens` is off; else a factory of coalescing mappers."""
    if not getattr(settings, "coalesce_tokens", False):
        return base
    max_chars = int(settings.coalesce_max_chars)
    max_ms = float(settings.coalesce_max_ms)
    DeltaBuffer(max_chars, max_ms)  # validate once, at start-up

    def factory() -> CoalescingMapper:
        return CoalescingMapper(base(), DeltaBuffer(max_chars, max_ms))

    return factory


def paced(source: AsyncIterator[Any], mapper: Any) -> AsyncIterator[Any]:
    """The upstream events, plus `TICK` whenever `mapper.deadline()` passes first.

    Without a `deadline` on the mapper (coalescing off) this is `source` itself. Otherwise one
    task owned by the returned generator iterates `source` (always the same task, so the source
    may hold timeouts or cancel scopes across its yields) into a small queue; the generator
    waits on that queue until the deadline. Closing the generator cancels and awaits the task."""
    deadline = getattr(mapper, "deadline", None)
    if deadline is None:
        return source
    return _paced(source, deadline)


_ITEM, _END, _ERROR = 0, 1, 2
_READ_AHEAD = 64  # upstream events the reader task may hold ahead of the pipeline (back-pressure)


async def _paced(source: AsyncIterator[Any], deadline: Callable[[], float | None]) -> AsyncIterator[Any]:
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(maxsize=_READ_AHEAD)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((_ITEM, item))
        except Exception as exc:  # re-raised in the consumer, where the pipeline handles it
            await queue.put((_ERROR, exc))
            return
        await queue.put((_END, None))

    task = asyncio.create_task(pump(), name="coalesce-pump")
    try:
        while True:
            if not queue.empty():  # busy upstream: no timer to arm (feed() checks the age itself)
                kind, item = queue.get_nowait()
            else:
                due = deadline()
                if due is None:
                    kind, item = await queue.get()
                else:
                    remaining = due - time.monotonic()
                    if remaining <= 0:
                        yield TICK
                        continue
                    try:
                        async with asyncio.timeout(remaining):
                            kind, item = await queue.get()
                    except TimeoutError:
                        yield TICK
                        continue
            if kind == _END:
                return
            if kind == _ERROR:
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
