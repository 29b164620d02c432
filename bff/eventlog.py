"""Run event logs: every event of a run, in order, readable from any point while the run goes on.

One interface (`EventLog`), two backends:

- `MemoryEventLog`: one process (`make run`). Bounded (`BFF_MEMORY_LOG_MAX_RUNS`, oldest evicted
  first) and with a TTL (`BFF_RUN_TTL_S` after the last write). Followers wait on an
  `asyncio.Event` that every append replaces and sets: no polling.
- `RedisEventLog`: when `REDIS_URL` is set, so that any replica can serve any reconnect. A run's
  events are a Redis Stream whose entry ids are `0-<seq>`: Redis itself refuses an id that does
  not grow, so two writers can never interleave or reuse a sequence number. Followers block in
  `XREAD BLOCK` (no polling). Run records and the per-principal session index are small JSON
  values with the same TTL.

`seq` is assigned by the run's single writer (`bff/runs.py`) and checked here: the log refuses
an event whose `seq` is not exactly the next one. Reads return the events with `seq > after`,
compared as integers.

Redis errors are translated here, once, into `EventLogUnavailable` (503).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from bff.events import Event, loads_json
from bff.exceptions import EventLogUnavailable

_JSON_SEPARATORS = (",", ":")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=_JSON_SEPARATORS, ensure_ascii=False)


@dataclass(slots=True)
class RunRecord:
    """What the BFF knows about a run besides its events. `status` is an open set (bff/runs.py)."""

    run_id: str
    session_id: str
    principal: str
    status: str
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    output: str | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # room for later features (approvals, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RunRecord:
        return cls(**{k: v for k, v in body.items() if k in cls.__dataclass_fields__})


@dataclass(slots=True)
class SessionRecord:
    """One conversation of a principal, as `GET /v1/sessions` lists it."""

    session_id: str
    principal: str
    created: float
    updated: float
    preview: str = ""
    last_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> SessionRecord:
        return cls(**{k: v for k, v in body.items() if k in cls.__dataclass_fields__})


class SequenceError(RuntimeError):
    """A writer tried to append an event whose seq is not the next one (a bug or a second writer)."""


class EventLog(Protocol):
    async def create_run(self, record: RunRecord) -> None: ...
    async def get_run(self, run_id: str) -> RunRecord | None: ...
    async def save_run(self, record: RunRecord) -> None: ...
    async def append(self, run_id: str, events: Sequence[Event], record: RunRecord | None = None) -> None:
        """Append events (their seq must follow on); with `record`, save it in the same step, so a
        reader that sees `done` also sees the run's final status."""
        ...

    async def last_seq(self, run_id: str) -> int: ...
    async def read(self, run_id: str, after: int = 0, *, block_s: float = 0.0) -> list[Event]:
        """Events with seq > after; when there are none yet, wait up to `block_s` seconds for some."""
        ...

    async def touch_session(self, principal: str, session_id: str, *, preview: str, run_id: str) -> None: ...
    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def list_sessions(self, principal: str, limit: int = 50) -> list[SessionRecord]: ...
    async def publish_cancel(self, run_id: str) -> None: ...
    def cancel_requests(self) -> AsyncIterator[str]: ...
    async def ping(self) -> bool: ...
    async def aclose(self) -> None: ...


# --- in memory -------------------------------------------------------------------------------


class _MemoryRun:
    __slots__ = ("events", "expires", "record", "waiters")

    def __init__(self, record: RunRecord, expires: float) -> None:
        self.record = record
        self.events: list[Event] = []
        # One future per follower waiting for the next append (resolved by it, or by the
        # follower's own timer: a `call_later` handle, cheaper than an `asyncio.timeout`).
        self.waiters: set[asyncio.Future[None]] = set()
        self.expires = expires

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class MemoryEventLog:
    """The event log of one process. Runs are evicted `ttl_s` after their last write, or oldest first."""

    def __init__(self, *, ttl_s: float = 3600.0, max_runs: int = 10_000) -> None:
        self._ttl = ttl_s
        self._max_runs = max_runs
        self._runs: OrderedDict[str, _MemoryRun] = OrderedDict()  # least recently written first
        self._sessions: OrderedDict[str, SessionRecord] = OrderedDict()
        self._cancels: asyncio.Queue[str] = asyncio.Queue()

    def _evict(self, now: float) -> None:
        while self._runs:
            run_id, run = next(iter(self._runs.items()))
            if run.expires > now and len(self._runs) <= self._max_runs:
                break
            del self._runs[run_id]
            run.wake()  # wake followers: they find the run gone
        while self._sessions:
            sid, session = next(iter(self._sessions.items()))
            if session.updated + self._ttl > now and len(self._sessions) <= self._max_runs:
                break
            del self._sessions[sid]

    def _touch(self, run_id: str, run: _MemoryRun) -> None:
        run.expires = time.time() + self._ttl
        self._runs.move_to_end(run_id)

    async def create_run(self, record: RunRecord) -> None:
        now = time.time()
        self._runs[record.run_id] = _MemoryRun(record, now + self._ttl)
        self._evict(now)

    async def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        if run is None or run.expires <= time.time():
            return None
        return run.record

    async def save_run(self, record: RunRecord) -> None:
        run = self._runs.get(record.run_id)
        if run is None:
            return
        record.updated = time.time()
        run.record = record
        self._touch(record.run_id, run)

    async def append(self, run_id: str, events: Sequence[Event], record: RunRecord | None = None) -> None:
        run = self._runs.get(run_id)
        if run is None or not events:
            return
        expected = len(run.events) + 1
        for offset, event in enumerate(events):
            if event.seq != expected + offset:
                raise SequenceError(f"run {run_id}: seq {event.seq}, expected {expected + offset}")
        run.events.extend(events)
        if record is not None:
            record.updated = time.time()
            run.record = record
        self._touch(run_id, run)
        if run.waiters:  # wake the followers waiting on this run (none: nothing to do)
            run.wake()

    async def last_seq(self, run_id: str) -> int:
        run = self._runs.get(run_id)
        return len(run.events) if run is not None else 0

    async def read(self, run_id: str, after: int = 0, *, block_s: float = 0.0) -> list[Event]:
        run = self._runs.get(run_id)
        if run is None:
            return []
        after = max(0, int(after))
        if len(run.events) <= after and block_s > 0:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            run.waiters.add(waiter)
            timer = loop.call_later(block_s, _resolve, waiter)
            try:
                await waiter  # an append, the timer (nothing new: []), or the log closing
            finally:
                timer.cancel()
                run.waiters.discard(waiter)
        return run.events[after:]

    async def touch_session(self, principal: str, session_id: str, *, preview: str, run_id: str) -> None:
        now = time.time()
        session = self._sessions.get(session_id)
        if session is None:
            session = SessionRecord(session_id, principal, created=now, updated=now)
            self._sessions[session_id] = session
        session.updated = now
        session.preview = preview
        session.last_run_id = run_id
        self._sessions.move_to_end(session_id)
        self._evict(now)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def list_sessions(self, principal: str, limit: int = 50) -> list[SessionRecord]:
        found: list[SessionRecord] = []
        for session in reversed(self._sessions.values()):
            if session.principal == principal:
                found.append(session)
                if len(found) >= limit:
                    break
        return found

    async def publish_cancel(self, run_id: str) -> None:
        self._cancels.put_nowait(run_id)

    async def cancel_requests(self) -> AsyncIterator[str]:
        while True:
            yield await self._cancels.get()

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        for run in self._runs.values():
            run.wake()


# --- Redis -----------------------------------------------------------------------------------


@contextmanager
def _translated() -> Iterator[None]:
    from redis.exceptions import RedisError, ResponseError

    try:
        yield
    except ResponseError as exc:
        if "equal or smaller than the target stream top item" in str(exc):
            raise SequenceError("a second writer appended to this run") from exc
        raise EventLogUnavailable("The event log is not available; try again shortly.") from exc
    except (RedisError, OSError) as exc:
        raise EventLogUnavailable("The event log is not available; try again shortly.") from exc


class RedisEventLog:
    """Redis Streams backend: any BFF replica can serve any run."""

    CANCEL_CHANNEL = "bff:cancel"

    def __init__(self, url: str, *, ttl_s: float = 3600.0, prefix: str = "bff:") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, decode_responses=True)
        self._ttl = max(1, int(ttl_s))
        self._prefix = prefix

    def _run_key(self, run_id: str) -> str:
        return f"{self._prefix}run:{run_id}"

    def _events_key(self, run_id: str) -> str:
        return f"{self._prefix}run:{run_id}:events"

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _sessions_key(self, principal: str) -> str:
        return f"{self._prefix}sessions:{principal}"

    async def create_run(self, record: RunRecord) -> None:
        with _translated():
            await self._redis.set(self._run_key(record.run_id), dumps(record.to_dict()), ex=self._ttl)

    async def get_run(self, run_id: str) -> RunRecord | None:
        with _translated():
            raw = await self._redis.get(self._run_key(run_id))
        return RunRecord.from_dict(json.loads(raw)) if raw else None

    async def save_run(self, record: RunRecord) -> None:
        record.updated = time.time()
        with _translated():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._run_key(record.run_id), dumps(record.to_dict()), ex=self._ttl)
                pipe.expire(self._events_key(record.run_id), self._ttl)
                await pipe.execute()

    async def append(self, run_id: str, events: Sequence[Event], record: RunRecord | None = None) -> None:
        if not events:
            return
        key = self._events_key(run_id)
        with _translated():
            async with self._redis.pipeline(transaction=True) as pipe:
                for event in events:
                    pipe.xadd(key, {"e": event.to_json()}, id=f"0-{event.seq}")
                pipe.expire(key, self._ttl)
                if record is not None:
                    record.updated = time.time()
                    pipe.set(self._run_key(run_id), dumps(record.to_dict()), ex=self._ttl)
                await pipe.execute()

    async def last_seq(self, run_id: str) -> int:
        with _translated():
            last = await self._redis.xrevrange(self._events_key(run_id), count=1)
        return int(last[0][0].split("-", 1)[1]) if last else 0

    async def read(self, run_id: str, after: int = 0, *, block_s: float = 0.0) -> list[Event]:
        key = self._events_key(run_id)
        after = max(0, int(after))
        with _translated():
            if block_s > 0:  # one round trip: XREAD answers at once when there is something after `after`
                answer = await self._redis.xread({key: f"0-{after}"}, block=max(1, int(block_s * 1000)))
                entries = answer[0][1] if answer else []
            else:
                entries = await self._redis.xrange(key, min=f"(0-{after}", max="+")
        return [Event.from_dict(loads_json(fields["e"])) for _, fields in entries]

    async def touch_session(self, principal: str, session_id: str, *, preview: str, run_id: str) -> None:
        now = time.time()
        with _translated():
            raw = await self._redis.get(self._session_key(session_id))
            session = (
                SessionRecord.from_dict(json.loads(raw))
                if raw
                else SessionRecord(session_id, principal, created=now, updated=now)
            )
            session.updated = now
            session.preview = preview
            session.last_run_id = run_id
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._session_key(session_id), dumps(session.to_dict()), ex=self._ttl)
                pipe.zadd(self._sessions_key(principal), {session_id: now})
                pipe.zremrangebyscore(self._sessions_key(principal), "-inf", now - self._ttl)
                pipe.expire(self._sessions_key(principal), self._ttl)
                await pipe.execute()

    async def get_session(self, session_id: str) -> SessionRecord | None:
        with _translated():
            raw = await self._redis.get(self._session_key(session_id))
        return SessionRecord.from_dict(json.loads(raw)) if raw else None

    async def list_sessions(self, principal: str, limit: int = 50) -> list[SessionRecord]:
        with _translated():
            ids = await self._redis.zrevrange(self._sessions_key(principal), 0, limit - 1)
            if not ids:
                return []
            raws = await self._redis.mget([self._session_key(sid) for sid in ids])
        sessions = [SessionRecord.from_dict(json.loads(raw)) for raw in raws if raw]
        return [s for s in sessions if s.principal == principal]

    async def publish_cancel(self, run_id: str) -> None:
        with _translated():
            await self._redis.publish(self.CANCEL_CHANNEL, run_id)

    async def cancel_requests(self) -> AsyncIterator[str]:
        pubsub = self._redis.pubsub()
        try:
            with _translated():
                await pubsub.subscribe(self.CANCEL_CHANNEL)
            while True:
                with _translated():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None and message.get("type") == "message":
                    yield str(message["data"])
        finally:
            await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(1.0):
                return bool(await self._redis.ping())
        except Exception:
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()


def create_event_log(redis_url: str | None, *, ttl_s: float, max_runs: int) -> EventLog:
    """The backend the settings ask for: Redis when a URL is set, memory otherwise."""
    if redis_url:
        return RedisEventLog(redis_url, ttl_s=ttl_s)
    return MemoryEventLog(ttl_s=ttl_s, max_runs=max_runs)
