"""The run manager: a run's events in its log, exact resume, cancel, failures, shutdown.

Real RunManager, real mapper, both event-log backends (memory and the real Redis); the runtime
is the scripted `FakeUpstream` (tests/e2e/test_runs*.py use the real one).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest

from bff import events as ev
from bff.eventlog import EventLog, MemoryEventLog, RedisEventLog, RunRecord
from bff.events import Event
from bff.exceptions import EventLogUnavailable, RunNotFound, UpstreamTimeout, UpstreamUnavailable
from bff.normalize import RuntimeEventMapper
from bff.runs import AWAITING_APPROVAL, CANCELLED, DONE, ERROR, RunManager, new_session_id
from bff.schema import native_events_schema
from tests.bff.test_runs_fakes import FakeUpstream

REDIS_URL = "redis://127.0.0.1:6379/0"
VALIDATOR = jsonschema.Draft202012Validator(native_events_schema())


@pytest.fixture(params=["memory", "redis"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        yield MemoryEventLog(ttl_s=60, max_runs=1000)
    else:
        redis_log = RedisEventLog(REDIS_URL, ttl_s=60, prefix=f"test:{secrets.token_hex(6)}:")
        yield redis_log
        await redis_log.aclose()


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
async def runs(log: EventLog, upstream: FakeUpstream) -> AsyncIterator[RunManager]:
    async with RunManager(log, upstream, RuntimeEventMapper, stop_timeout_s=2) as manager:
        yield manager


async def collect(runs: RunManager, run_id: str, after: int = 0) -> list[Event]:
    out: list[Event] = []
    async with asyncio.timeout(10):
        async for event in runs.follow(run_id, after, heartbeat_s=5):
            if event is not None:
                out.append(event)
    return out


def check_stream(events: list[Event]) -> None:
    """start first, done last, once each; seq 1, 2, 3, ...; every event valid against the schema."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == ev.START and events[-1].type == ev.DONE
    assert [e.type for e in events].count(ev.START) == 1 and [e.type for e in events].count(ev.DONE) == 1
    for event in events:
        VALIDATOR.validate(event.to_dict())


async def test_a_run_logs_start_then_the_agents_events_then_done(runs: RunManager) -> None:
    sid = new_session_id()
    record = await runs.start(principal="alice", session_id=sid, message="tool")
    events = await collect(runs, record.run_id)
    check_stream(events)
    types = [e.type for e in events]
    assert types[:3] == [ev.START, ev.AGENT_START, ev.NODE_START]
    assert ev.TOOL_START in types and ev.TOOL_PROGRESS in types and ev.TOOL_END in types
    assert all(e.run_id == record.run_id and e.session_id == sid for e in events)
    final = await runs.get("alice", record.run_id)
    assert final.status == DONE and final.output == "Let me compute The answer is 10"
    assert final.usage == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    sessions = await runs.log.list_sessions("alice")
    assert sessions[0].session_id == sid and sessions[0].last_run_id == record.run_id


async def test_another_principal_cannot_see_a_run_or_use_its_session(runs: RunManager) -> None:
    sid = new_session_id()
    record = await runs.start(principal="alice", session_id=sid, message="hello")
    with pytest.raises(RunNotFound):
        await runs.get("mallory", record.run_id)
    with pytest.raises(RunNotFound):
        await runs.cancel("mallory", record.run_id)
    with pytest.raises(Exception) as info:
        await runs.start(principal="mallory", session_id=sid, message="hello")
    assert getattr(info.value, "status", None) == 404


@pytest.mark.parametrize("seed", range(3))
async def test_resume_from_random_points_gives_exactly_the_missing_events(
    runs: RunManager, seed: int
) -> None:
    """Many random disconnect points in a long live run: each reconnect with the last id it saw
    gets exactly the missing events, once each (nothing lost, nothing repeated)."""
    rng = random.Random(seed)
    record = await runs.start(principal="alice", session_id=new_session_id(), message="gate go")
    runs_upstream_gate = runs._upstream.gate("go")  # type: ignore[attr-defined]
    received: list[Event] = []
    last = 0
    released = False
    async with asyncio.timeout(20):
        while True:
            budget = rng.randint(1, 4)  # a client that drops after a few events
            async for event in runs.follow(record.run_id, last, heartbeat_s=0.05):
                if event is None:
                    if not released:
                        runs_upstream_gate.set()
                        released = True
                    continue
                received.append(event)
                last = event.seq
                budget -= 1
                if budget == 0 or event.type == ev.DONE:
                    break
            if received and received[-1].type == ev.DONE:
                break
    check_stream(received)


async def test_resume_exactness_over_a_long_run_with_concurrent_readers(runs: RunManager) -> None:
    rng = random.Random(7)
    record = await runs.start(principal="alice", session_id=new_session_id(), message="long 300")

    async def reader(cuts: list[int]) -> list[Event]:
        got: list[Event] = []
        last = 0
        for cut in [*cuts, 10**9]:
            async for event in runs.follow(record.run_id, last, heartbeat_s=1):
                if event is None:
                    continue
                got.append(event)
                last = event.seq
                if event.seq >= cut or event.type == ev.DONE:
                    break
            if got and got[-1].type == ev.DONE:
                break
        return got

    cut_sets = [sorted(rng.sample(range(1, 300), 25)) for _ in range(8)]
    results = await asyncio.wait_for(asyncio.gather(*(reader(c) for c in cut_sets)), 20)
    full = await collect(runs, record.run_id)
    check_stream(full)
    for got in results:
        assert [e.seq for e in got] == [e.seq for e in full]
        assert [e.data for e in got] == [e.data for e in full]


async def test_an_upstream_failure_before_the_first_byte_is_raised_and_the_run_ends_in_error(
    runs: RunManager,
) -> None:
    with pytest.raises(UpstreamUnavailable):
        await runs.start(
            principal="alice", session_id=new_session_id(), message="fail open upstream_unavailable"
        )


async def test_a_background_run_that_cannot_open_still_ends_with_error_and_done(runs: RunManager) -> None:
    record = await runs.start(
        principal="alice", session_id=new_session_id(), message="fail open upstream_timeout", wait_open=False
    )
    events = await collect(runs, record.run_id)
    check_stream(events)
    assert [e.type for e in events] == [ev.START, ev.ERROR, ev.DONE]
    assert events[1].data["code"] == "upstream_timeout" and events[1].data["retryable"] is True
    assert (await runs.get("alice", record.run_id)).status == ERROR


@pytest.mark.parametrize(
    ("prompt", "code"),
    [
        ("fail mid", UpstreamTimeout.code),
        ("runtime error", "model_error"),
        ("truncated", "upstream_incomplete"),
    ],
)
async def test_after_the_first_byte_a_failure_is_an_error_event_then_done(
    runs: RunManager, prompt: str, code: str
) -> None:
    record = await runs.start(principal="alice", session_id=new_session_id(), message=prompt)
    events = await collect(runs, record.run_id)
    check_stream(events)
    assert [e.type for e in events][-2:] == [ev.ERROR, ev.DONE]
    assert events[-2].data["code"] == code and events[-1].data["status"] == "error"
    record = await runs.get("alice", record.run_id)
    assert record.status == ERROR and record.error is not None and record.error["code"] == code


async def test_cancel_closes_the_upstream_stream_stops_the_session_and_logs_cancelled_then_done(
    runs: RunManager, upstream: FakeUpstream
) -> None:
    sid = new_session_id()
    record = await runs.start(principal="alice", session_id=sid, message="hold")
    await asyncio.wait_for(upstream.holding.wait(), 5)
    assert upstream.open_streams == 1
    after = await runs.cancel("alice", record.run_id)
    assert after.status == CANCELLED
    assert upstream.open_streams == 0 and upstream.closed.is_set()
    assert upstream.stopped == [sid]
    events = await collect(runs, record.run_id)
    check_stream(events)
    assert [e.type for e in events][-2:] == [ev.CANCELLED, ev.DONE]
    assert events[-1].data["status"] == "cancelled"
    assert not runs.is_local(record.run_id)
    again = await runs.cancel("alice", record.run_id)  # idempotent
    assert again.status == CANCELLED and upstream.stopped == [sid]


async def test_cancel_of_a_finished_run_changes_nothing(runs: RunManager, upstream: FakeUpstream) -> None:
    record = await runs.start(principal="alice", session_id=new_session_id(), message="hello")
    await collect(runs, record.run_id)
    assert (await runs.cancel("alice", record.run_id)).status == DONE
    assert upstream.stopped == []


async def test_a_follower_gets_heartbeats_while_the_run_is_silent(
    runs: RunManager, upstream: FakeUpstream
) -> None:
    record = await runs.start(principal="alice", session_id=new_session_id(), message="hold")
    await asyncio.wait_for(upstream.holding.wait(), 5)
    beats = 0
    async with asyncio.timeout(5):
        async for event in runs.follow(record.run_id, 0, heartbeat_s=0.02):
            if event is None:
                beats += 1
                if beats == 3:
                    break
    assert beats == 3
    await runs.cancel("alice", record.run_id)


async def test_shutdown_cancels_what_still_runs(log: EventLog, upstream: FakeUpstream) -> None:
    async with RunManager(log, upstream, RuntimeEventMapper, stop_timeout_s=2) as manager:
        record = await manager.start(principal="alice", session_id=new_session_id(), message="hold")
        await asyncio.wait_for(upstream.holding.wait(), 5)
    assert upstream.open_streams == 0 and upstream.stopped
    final = await log.get_run(record.run_id)
    assert final is not None and final.status == CANCELLED
    tail = await log.read(record.run_id, 0)
    assert tail[-2].type == ev.CANCELLED and tail[-2].data["reason"] == "shutdown"


async def test_a_paused_run_continues_in_a_second_leg_on_the_same_log(
    runs: RunManager, upstream: FakeUpstream
) -> None:
    """The approval path: `interrupted` pauses the run (no done); start_leg appends to the same log."""
    record = await runs.start(principal="alice", session_id=new_session_id(), message="hello")
    await collect(runs, record.run_id)
    log = runs.log
    rec = await log.get_run(record.run_id)
    assert rec is not None
    rec.status = AWAITING_APPROVAL
    await log.save_run(rec)
    last = await log.last_seq(record.run_id)
    await runs.start_leg(record.run_id, {"prompt": "hello"})
    await runs.wait_leg(record.run_id)
    more = await log.read(record.run_id, last)
    assert more[0].seq == last + 1 and more[-1].type == ev.DONE
    assert upstream.payloads[-1]["session_id"] == record.session_id


async def test_a_cancel_published_by_another_replica_stops_the_local_run(upstream: FakeUpstream) -> None:
    """Two managers sharing Redis (two replicas): a cancel through the one that does not own the run."""
    log = RedisEventLog(REDIS_URL, ttl_s=60, prefix=f"test:{secrets.token_hex(6)}:")
    async with (
        RunManager(log, upstream, RuntimeEventMapper, stop_timeout_s=5) as owner,
        RunManager(log, upstream, RuntimeEventMapper, stop_timeout_s=5) as other,
    ):
        record = await owner.start(principal="alice", session_id=new_session_id(), message="hold")
        await asyncio.wait_for(upstream.holding.wait(), 5)
        await asyncio.sleep(0.1)  # both listeners subscribed
        result = await other.cancel("alice", record.run_id)
        assert result.status == CANCELLED
        assert upstream.open_streams == 0
        events = await collect(owner, record.run_id)
        check_stream(events)
        assert [e.type for e in events][-2:] == [ev.CANCELLED, ev.DONE]
    await log.aclose()


class FlakyLog(MemoryEventLog):
    """A log whose appends fail `failures` times after the first `ok` appends (a Redis blip)."""

    def __init__(self, ok: int, failures: int) -> None:
        super().__init__(ttl_s=60)
        self.ok, self.failures = ok, failures

    async def append(self, run_id: str, events: Any, record: Any = None) -> None:
        if self.ok == 0 and self.failures > 0:
            self.failures -= 1
            raise EventLogUnavailable("The event log is not available; try again shortly.")
        self.ok -= 1
        await super().append(run_id, events, record)


async def test_a_failed_append_leaves_no_gap_in_the_ids(upstream: FakeUpstream) -> None:
    log = FlakyLog(ok=3, failures=1)
    async with RunManager(log, upstream, RuntimeEventMapper) as manager:
        record = await manager.start(principal="alice", session_id=new_session_id(), message="hello")
        events = await collect(manager, record.run_id)
    # The fourth append failed: the leg recorded error + done with the next ids, nothing skipped.
    check_stream(events)
    assert [e.type for e in events][-2:] == [ev.ERROR, ev.DONE]
    assert events[-2].data["code"] == "event_log_unavailable"


async def test_a_cancel_of_a_run_whose_replica_is_gone_closes_it_here(upstream: FakeUpstream) -> None:
    log = RedisEventLog(REDIS_URL, ttl_s=60, prefix=f"test:{secrets.token_hex(6)}:")
    try:
        orphan = RunRecord("run_" + secrets.token_hex(8), new_session_id(), "alice", "running")
        await log.create_run(orphan)
        await log.append(orphan.run_id, [Event(ev.START, orphan.run_id, orphan.session_id, {}, 1, 1.0)])
        async with RunManager(log, upstream, RuntimeEventMapper, stop_timeout_s=0.3) as manager:
            result = await manager.cancel("alice", orphan.run_id)
        assert result.status == CANCELLED and upstream.stopped == [orphan.session_id]
        tail = await log.read(orphan.run_id, 1)
        assert [e.type for e in tail] == [ev.CANCELLED, ev.DONE] and tail[0].data["reason"] == "orphaned"
    finally:
        await log.aclose()


@pytest.mark.parametrize(("prompt", "status"), [("pause break", AWAITING_APPROVAL), ("done break", DONE)])
async def test_an_upstream_that_breaks_after_the_legs_end_changes_nothing(
    runs: RunManager, prompt: str, status: str
) -> None:
    record = await runs.start(principal="alice", session_id=new_session_id(), message=prompt)
    await runs.wait_leg(record.run_id)
    assert (await runs.get("alice", record.run_id)).status == status
    events = await runs.log.read(record.run_id, 0)
    assert ev.ERROR not in [e.type for e in events]
    assert events[-1].type == (ev.INTERRUPTED if status == AWAITING_APPROVAL else ev.DONE)
