"""Run lifecycle: start, follow from an event id, cancel, status.

A run is one user turn against the runtime, with a `run_id`, a session and a principal. Its events
go to the event log (bff/eventlog.py) as they are produced; every client (the SSE response that
started it, a reconnect on another replica, a WebSocket, `GET /v1/runs/{id}`) reads them from
there. So a client that goes away does not take the run with it: the run belongs to the
`RunManager`, which owns one task per running *leg*.

A leg is one upstream invocation appended to the run's log. A plain turn has one leg; a run that
pauses for a human approval (the mapper's `interrupted`) ends its leg with status
`awaiting_approval`, and `start_leg(run_id, payload)` later continues the same log (same seq
counter, same `run_id`) with a new invocation in the same session.

Pipeline of a leg, one upstream event at a time:

    client.stream(...) -> runtime dict -> RuntimeEventMapper.feed -> [(type, payload)]
        -> pair hooks (approvals) -> RunWriter.append -> Event(seq, ts) -> EventLog.append
        -> followers wake

Token coalescing (bff/coalesce.py, off by default) plugs in at the mapper: the app passes a
coalescing mapper factory and its `paced` timer (`RunManager(..., pace=...)`).

Every run that opened ends with exactly one `done`: the mapper's, or one written here after an
upstream failure (`error`, then `done` with status `error`) or a cancel (`cancelled`, then `done`
with status `cancelled`). Only the leg's writer appends while the leg runs; a cancel first stops
the leg's task, then writes.

Cancel stops the work upstream, not only the wire: the leg's upstream stream is closed (which
makes the local endpoint, or AgentCore, drop the connection to the runtime) and
`StopRuntimeSession` is called for the session. A cancel that reaches a replica that does not own
the run is published through the event log (Redis pub/sub) to the owner.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from bff import events as ev
from bff.eventlog import EventLog, RunRecord
from bff.events import Event
from bff.exceptions import BFFError, NotFound, RunNotFound, UpstreamError
from bff.limits import Limiter, RunSlot
from bff.observability.logs import bind_run, get_logger
from bff.observability.metrics import Metrics

logger = logging.getLogger("bff.runs")
run_log = get_logger("bff.runs")  # structlog: content keys are redacted unless BFF_LOG_CONTENT

# --- statuses: an open set; approvals add AWAITING_APPROVAL, later features may add more ------
RUNNING: Final = "running"
AWAITING_APPROVAL: Final = "awaiting_approval"
DONE: Final = "done"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"
TERMINAL_STATUSES: set[str] = {DONE, ERROR, CANCELLED}
# `done.status` in the event -> the run's status; `register_status` adds to both.
DONE_STATUS: dict[str, str] = {"complete": DONE, "error": ERROR, "cancelled": CANCELLED}


def register_status(name: str, *, terminal: bool, done_status: str | None = None) -> None:
    """Add a run status (e.g. approvals' `expired`); `done_status` is the `done.status` that ends in it."""
    if terminal:
        TERMINAL_STATUSES.add(name)
    if done_status is not None:
        DONE_STATUS[done_status] = name


ON_DISCONNECT_CONTINUE: Final = "continue"
ON_DISCONNECT_CANCEL: Final = "cancel"

Pair = tuple[str, dict[str, Any]]
PairHook = Callable[[RunRecord, list[Pair]], Awaitable[list[Pair]]]
Pace = Callable[[AsyncIterator[Any], Any], AsyncIterator[Any]]


class Mapper(Protocol):
    def feed(self, event: dict[str, Any]) -> list[Pair]: ...
    def finish(self) -> list[Pair]: ...


class Upstream(Protocol):
    def stream(
        self,
        payload: dict[str, Any],
        session_id: str,
        user_id: str | None = None,
        trace_parent: str | None = None,
    ) -> Any: ...  # an async context manager yielding an async iterator of runtime dicts

    async def stop_session(self, session_id: str, user_id: str | None = None) -> Any: ...


def new_run_id() -> str:
    return "run_" + secrets.token_hex(16)


def new_session_id() -> str:
    """33 to 256 characters of [A-Za-z0-9_-], as AgentCore requires: 'sess_' + 32 hex = 37."""
    return "sess_" + secrets.token_hex(16)


class RunWriter:
    """The single writer of one run's log: assigns seq and ts, appends, keeps the record current."""

    def __init__(self, log: EventLog, record: RunRecord, last_seq: int) -> None:
        self.log = log
        self.record = record
        self.seq = last_seq
        self.output_parts: list[str] = []
        self.started = time.monotonic()
        self.finished = False  # `done` written
        self.paused = False  # `interrupted` written

    async def append(self, pairs: Sequence[Pair]) -> list[Event]:
        if self.finished or not pairs:
            return []
        now = time.time()
        record = self.record
        changed = False
        out: list[Event] = []
        before = (self.seq, self.finished, self.paused, len(self.output_parts))
        for kind, payload in pairs:
            if self.finished:
                break  # nothing after `done`
            self.seq += 1
            out.append(Event(kind, record.run_id, record.session_id, payload, self.seq, now))
            if kind == ev.TOKEN:
                self.output_parts.append(payload.get("delta", ""))
            elif kind == ev.DONE:
                self.finished = True
                self._finish(payload)
                changed = True
            elif kind == ev.INTERRUPTED:
                self.paused = True
                record.status = AWAITING_APPROVAL
                changed = True
            elif kind == ev.ERROR:
                record.error = {"code": payload.get("code"), "message": payload.get("message")}
                changed = True
        # The record goes with the events, so whoever sees `done` also sees the final status.
        try:
            await self.log.append(record.run_id, out, record if changed else None)
        except BaseException:  # not logged: the next append reuses these seqs, so no gap appears
            self.seq, self.finished, self.paused, parts = before
            del self.output_parts[parts:]
            raise
        return out

    def _finish(self, done: dict[str, Any]) -> None:
        record = self.record
        record.status = DONE_STATUS.get(str(done.get("status")), ERROR)
        output = done.get("output")
        record.output = output if isinstance(output, str) else "".join(self.output_parts)
        record.usage = done.get("usage") or None

    def done_payload(self, status: str) -> dict[str, Any]:
        return {
            "status": status,
            "output": "".join(self.output_parts),
            "usage": None,
            "node_timings_ms": {},
            "duration_ms": round((time.monotonic() - self.started) * 1000, 3),
        }

    async def fail(self, error: BFFError) -> None:
        """After the first byte an error is data: `error`, then `done` with status `error`."""
        await self.append(
            [
                (ev.ERROR, {"code": error.code, "message": error.message, "retryable": error.retryable}),
                (ev.DONE, self.done_payload("error")),
            ]
        )

    async def cancelled(self, reason: str) -> None:
        await self.append([(ev.CANCELLED, {"reason": reason}), (ev.DONE, self.done_payload("cancelled"))])


@dataclass(slots=True)
class _Leg:
    writer: RunWriter
    task: asyncio.Task[None]
    cancelling: asyncio.Task[None] | None = None
    opened: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class RunManager:
    """Owns every running leg in this process; hands out reads of any run in the log."""

    def __init__(
        self,
        log: EventLog,
        upstream: Upstream,
        mapper_factory: Callable[[], Mapper],
        *,
        stop_timeout_s: float = 5.0,
        pace: Pace | None = None,
        limiter: Limiter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.log = log
        self._limiter = limiter  # run caps (bff/limits.py): a slot per running leg
        self._metrics = metrics
        self._upstream = upstream
        self._mapper_factory = mapper_factory
        self._pace = pace  # token coalescing's timer (bff/coalesce.py `paced`), None when off
        self._hooks: list[tuple[frozenset[str], PairHook]] = []
        self._stop_timeout = stop_timeout_s
        self._legs: dict[str, _Leg] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None

    @property
    def metrics(self) -> Metrics | None:
        """The app's metrics (bff/observability/metrics.py), for the streams that follow runs."""
        return self._metrics

    # --- lookups: every read of a run goes through here, with the principal ------------------

    async def get(self, principal: str, run_id: str) -> RunRecord:
        record = await self.log.get_run(run_id)
        if record is None or record.principal != principal:
            raise RunNotFound("No such run.")
        bind_run(run_id=record.run_id, session_id=record.session_id)  # on this request's log lines
        return record

    async def check_session(self, principal: str, session_id: str) -> None:
        """A session that exists belongs to one principal; anyone else is told it does not exist."""
        session = await self.log.get_session(session_id)
        if session is not None and session.principal != principal:
            raise NotFound("No such session.", code="session_not_found")

    def is_local(self, run_id: str) -> bool:
        return run_id in self._legs

    async def wait_leg(self, run_id: str) -> None:
        """Until the leg of `run_id` running in this process (if any) has ended."""
        leg = self._legs.get(run_id)
        if leg is not None:
            await asyncio.wait([leg.task])

    def add_pair_hook(self, types: frozenset[str], hook: PairHook) -> None:
        """Run `hook(record, pairs)` on every batch of a leg's pairs holding one of `types`,
        before they are logged (approvals use it to record `approval_required`)."""
        self._hooks.append((types, hook))

    # --- starting ------------------------------------------------------------------------

    async def start(
        self,
        *,
        principal: str,
        session_id: str,
        message: str,
        wait_open: bool = True,
        run_id: str | None = None,
    ) -> RunRecord:
        """Create a run and start its first leg. With `wait_open`, return once the runtime answered;
        an upstream failure before that is raised (the caller answers 502/503/504)."""
        await self.check_session(principal, session_id)
        slot = await self._acquire_slot(principal)  # 429 before anything is created
        try:
            record = RunRecord(run_id or new_run_id(), session_id, principal, RUNNING)
            await self.log.create_run(record)
            await self.log.touch_session(principal, session_id, preview=message[:200], run_id=record.run_id)
        except BaseException:
            if slot is not None:
                await slot.release()
            raise
        bind_run(run_id=record.run_id, session_id=session_id)
        run_log.info("run_started", prompt=message)  # the prompt only with BFF_LOG_CONTENT on
        payload = {"prompt": message, "session_id": session_id}
        await self._launch(record, payload, last_seq=0, wait_open=wait_open, slot=slot)
        return record

    async def start_leg(
        self,
        run_id: str,
        payload: dict[str, Any],
        *,
        wait_open: bool = False,
        slot: RunSlot | None = None,
    ) -> RunRecord:
        """Continue a paused run with another invocation appended to the same log (approvals).
        `slot`: one taken beforehand with `reserve_slot`; otherwise the leg takes its own."""
        leg = self._legs.get(run_id)
        if leg is not None:
            if not (leg.writer.finished or leg.writer.paused):
                raise RuntimeError(f"run {run_id} already has a running leg")
            await asyncio.wait([leg.task])  # the previous leg has logged its end and is closing
            self._forget(run_id, leg)
        record = await self.log.get_run(run_id)
        if record is None:
            raise RunNotFound("No such run.")
        if slot is None:
            slot = await self._acquire_slot(record.principal)
        try:
            record.status = RUNNING
            await self.log.save_run(record)
            payload = {"session_id": record.session_id, **payload}
            last_seq = await self.log.last_seq(run_id)
        except BaseException:
            if slot is not None:
                await slot.release()
            raise
        await self._launch(record, payload, last_seq=last_seq, wait_open=wait_open, slot=slot)
        return record

    async def reserve_slot(self, principal: str) -> RunSlot | None:
        """A run slot for a leg about to start (`start_leg(slot=...)`), taken before the caller
        commits to anything: over a cap, `RateLimited` (429) changes nothing."""
        return await self._acquire_slot(principal)

    async def _acquire_slot(self, principal: str) -> RunSlot | None:
        return None if self._limiter is None else await self._limiter.acquire_run(principal)

    async def _launch(
        self,
        record: RunRecord,
        payload: dict[str, Any],
        *,
        last_seq: int,
        wait_open: bool,
        slot: RunSlot | None = None,
    ) -> None:
        writer = RunWriter(self.log, record, last_seq)
        bind_run(run_id=record.run_id, session_id=record.session_id)  # the request's and the leg's logs
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        opened.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if unawaited
        task = asyncio.create_task(self._run_leg(writer, payload, opened), name=f"run-{record.run_id}")
        leg = _Leg(writer, task, opened=opened)
        self._legs[record.run_id] = leg
        task.add_done_callback(lambda _t: self._forget(record.run_id, leg))
        if slot is not None:  # the slot is the leg's, not the HTTP response's: freed when the leg ends
            task.add_done_callback(lambda _t: self._spawn(slot.release()))
        if wait_open:
            await asyncio.shield(opened)

    def _forget(self, run_id: str, leg: _Leg) -> None:
        if self._legs.get(run_id) is leg:
            del self._legs[run_id]

    async def _run_leg(
        self, writer: RunWriter, payload: dict[str, Any], opened: asyncio.Future[None]
    ) -> None:
        record = writer.record
        first = writer.seq == 0
        mapper = self._mapper_factory()
        try:
            try:
                stream = self._upstream.stream(
                    payload=payload, session_id=record.session_id, user_id=record.principal
                )
                async with stream as upstream_events:
                    if not opened.done():
                        opened.set_result(None)
                    if first:
                        await writer.append(
                            [(ev.START, {"schema_version": ev.SCHEMA_VERSION, "protocol": "native"})]
                        )
                    source = upstream_events if self._pace is None else self._pace(upstream_events, mapper)
                    try:
                        async for raw in source:
                            pairs = mapper.feed(raw)
                            if pairs:
                                if self._hooks:
                                    pairs = await self._run_hooks(record, pairs)
                                await writer.append(pairs)
                    finally:  # stop coalescing's reader task before the upstream stream closes
                        if source is not upstream_events:
                            await source.aclose()  # type: ignore[attr-defined]
                    # After the leg's end (done or interrupted) the stream is read to its end, so the
                    # runtime finishes undisturbed; the mapper drops anything that still comes.
                    await writer.append(mapper.finish())
            except BFFError as exc:
                if not opened.done():
                    opened.set_exception(exc)
                if writer.finished or writer.paused:
                    return  # the upstream broke after the leg's end: nothing is lost
                try:
                    if first and writer.seq == 0:
                        await writer.append(
                            [(ev.START, {"schema_version": ev.SCHEMA_VERSION, "protocol": "native"})]
                        )
                    await writer.fail(exc)
                except BFFError as again:  # the event log itself is failing: nothing more to record
                    logger.warning("run %s: could not record its failure: %s", record.run_id, again.code)
                return
            if not writer.finished and not writer.paused:
                await writer.fail(
                    UpstreamError("The agent stream ended unexpectedly.", code="upstream_incomplete")
                )
        except asyncio.CancelledError:
            if not opened.done():
                opened.cancel()
            raise
        except Exception as exc:
            logger.exception("run %s failed: %s", record.run_id, type(exc).__name__)
            error = BFFError("The run failed unexpectedly.")
            if not opened.done():
                opened.set_exception(error)
            if not writer.finished:
                try:
                    if writer.seq == 0:
                        await writer.append(
                            [(ev.START, {"schema_version": ev.SCHEMA_VERSION, "protocol": "native"})]
                        )
                    await writer.fail(error)
                except Exception:
                    logger.exception("run %s: could not record the failure", record.run_id)

    async def _run_hooks(self, record: RunRecord, pairs: list[Pair]) -> list[Pair]:
        for types, hook in self._hooks:
            if any(kind in types for kind, _ in pairs):
                pairs = await hook(record, pairs)
        return pairs

    # --- following -----------------------------------------------------------------------

    async def follow(self, run_id: str, after: int = 0, *, heartbeat_s: float) -> AsyncIterator[Event | None]:
        """Events after `after`, live, until `done` (or a pause); `None` whenever `heartbeat_s`
        passes without one (the caller sends a heartbeat). A finished or expired run ends the
        iteration once nothing is left after `after`; a paused run is waited on like a live one."""
        async for batch in self.follow_batches(run_id, after, heartbeat_s=heartbeat_s):
            if batch is None:
                yield None
            else:
                for event in batch:
                    yield event

    async def follow_batches(
        self, run_id: str, after: int = 0, *, heartbeat_s: float
    ) -> AsyncIterator[list[Event] | None]:
        """`follow`, a log read at a time: whatever arrived together comes as one list (a response
        writes it with one send). The last list ends with `done` or a pause when the run ends."""
        check = True  # look at the run's status: at the start and after each silent wait
        while True:
            if check:
                check = False
                record = await self.log.get_run(run_id)
                if record is None:
                    return
                settled = record.status in TERMINAL_STATUSES  # a paused run may still go on: wait
                batch = await self.log.read(run_id, after, block_s=0 if settled else heartbeat_s)
                if not batch:
                    if settled:
                        return
                    check = True
                    yield None
                    continue
            else:
                batch = await self.log.read(run_id, after, block_s=heartbeat_s)
                if not batch:
                    check = True
                    yield None
                    continue
            for index, event in enumerate(batch):
                if event.type in ev.TERMINAL_TYPES:
                    yield batch[: index + 1]
                    return
            yield batch
            after = batch[-1].seq
            if batch[-1].type in ev.PAUSE_TYPES:
                return

    # --- cancelling ----------------------------------------------------------------------

    async def cancel(self, principal: str, run_id: str, *, reason: str = "requested") -> RunRecord:
        """Stop a run: its upstream stream is closed, StopRuntimeSession called, `cancelled` + `done`
        logged. Idempotent; a finished run is returned as it is."""
        record = await self.get(principal, run_id)
        if record.status in TERMINAL_STATUSES:
            return record
        if self._metrics is not None:
            self._metrics.cancels.inc()
        if run_id in self._legs:
            await self._cancel_local(run_id, reason)
        elif record.status == RUNNING:
            await self._cancel_remote(record)
        else:  # paused (awaiting approval): no leg runs anywhere
            writer = RunWriter(self.log, record, await self.log.last_seq(run_id))
            await writer.cancelled(reason)
            await self._stop_session(record)
        return await self.log.get_run(run_id) or record

    def cancel_soon(self, run_id: str, reason: str = "client_disconnected") -> None:
        """Cancel from a place that cannot await (a disconnected response's cleanup)."""
        if run_id in self._legs:
            self._spawn(self._cancel_local(run_id, reason))

    async def _cancel_local(self, run_id: str, reason: str) -> None:
        leg = self._legs.get(run_id)
        if leg is None:
            return
        if leg.cancelling is None:
            leg.cancelling = asyncio.create_task(self._stop_leg(leg, reason))
        await asyncio.shield(leg.cancelling)

    async def _stop_leg(self, leg: _Leg, reason: str) -> None:
        writer = leg.writer
        leg.task.cancel()
        await asyncio.wait([leg.task])  # the upstream stream is closed when the task unwinds
        await self._stop_session(writer.record)
        if not writer.finished:
            await writer.cancelled(reason)

    async def _cancel_remote(self, record: RunRecord) -> None:
        """The run is owned by another replica: ask it through the log, and stop the session here."""
        await self.log.publish_cancel(record.run_id)
        await self._stop_session(record)
        after = await self.log.last_seq(record.run_id)
        try:
            async with asyncio.timeout(self._stop_timeout):
                async for event in self.follow(record.run_id, after, heartbeat_s=self._stop_timeout):
                    if event is not None and event.type == ev.DONE:
                        return
        except TimeoutError:
            pass
        # Nobody owns it any more (its replica stopped): close it here. Redis refuses the write if
        # the owner appended meanwhile, so two writers cannot both end the run.
        current = await self.log.get_run(record.run_id)
        if current is not None and current.status not in TERMINAL_STATUSES:
            writer = RunWriter(self.log, current, await self.log.last_seq(record.run_id))
            await writer.cancelled("orphaned")

    async def _stop_session(self, record: RunRecord) -> None:
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self._upstream.stop_session(record.session_id, user_id=record.principal)
        except (BFFError, TimeoutError) as exc:
            logger.warning("StopRuntimeSession failed for a session: %s", exc)

    async def _listen_for_cancels(self) -> None:
        while True:
            try:
                async for run_id in self.log.cancel_requests():
                    if run_id in self._legs:
                        self._spawn(self._cancel_local(run_id, "requested"))
            except BFFError as exc:  # the log went away: listen again shortly
                logger.warning("cancel listener: %s", exc)
                await asyncio.sleep(1.0)

    # --- lifecycle -----------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def __aenter__(self) -> RunManager:
        self._listener = asyncio.create_task(self._listen_for_cancels(), name="run-cancel-listener")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop everything this process runs: each running leg is cancelled like a Stop."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener])
            self._listener = None
        legs = list(self._legs)
        if legs:
            await asyncio.gather(
                *(self._cancel_local(run_id, "shutdown") for run_id in legs), return_exceptions=True
            )
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
