"""The event log, against both backends: the in-memory one and the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from bff.eventlog import EventLog, MemoryEventLog, RedisEventLog, RunRecord, SequenceError
from bff.events import Event
from bff.exceptions import EventLogUnavailable

REDIS_URL = "redis://127.0.0.1:6379/0"
SESSION = "sess_" + "a" * 32


@pytest.fixture(params=["memory", "redis"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        memory = MemoryEventLog(ttl_s=60, max_runs=100)
        yield memory
        await memory.aclose()
    else:
        redis_log = RedisEventLog(REDIS_URL, ttl_s=60, prefix=f"test:{secrets.token_hex(6)}:")
        yield redis_log
        await redis_log.aclose()


def events(run_id: str, first: int, count: int) -> list[Event]:
    return [
        Event("token", run_id, SESSION, {"delta": f"d{i}", "message_id": "m"}, i)
        for i in range(first, first + count)
    ]


async def new_run(log: EventLog, principal: str = "alice") -> RunRecord:
    record = RunRecord("run_" + secrets.token_hex(8), SESSION, principal, "running")
    await log.create_run(record)
    return record


async def test_events_come_back_in_order_after_any_id_compared_as_numbers(log: EventLog) -> None:
    run = await new_run(log)
    await log.append(run.run_id, events(run.run_id, 1, 12))
    assert [e.seq for e in await log.read(run.run_id, 0)] == list(range(1, 13))
    # "9" < "10" as strings would lose 10..12 here
    assert [e.seq for e in await log.read(run.run_id, 9)] == [10, 11, 12]
    assert await log.read(run.run_id, 12) == []
    assert await log.last_seq(run.run_id) == 12
    got = (await log.read(run.run_id, 3))[0]
    assert (
        got.type == "token" and got.data == {"delta": "d4", "message_id": "m"} and got.session_id == SESSION
    )


async def test_a_seq_that_is_not_the_next_one_is_refused(log: EventLog) -> None:
    run = await new_run(log)
    await log.append(run.run_id, events(run.run_id, 1, 3))
    with pytest.raises(SequenceError):
        await log.append(run.run_id, events(run.run_id, 3, 1))  # reused
    if isinstance(log, MemoryEventLog):  # Redis accepts gaps (ids only have to grow); memory is stricter
        with pytest.raises(SequenceError):
            await log.append(run.run_id, events(run.run_id, 5, 1))
    assert [e.seq for e in await log.read(run.run_id, 0)] == [1, 2, 3]


async def test_a_waiting_reader_wakes_on_append_without_polling(log: EventLog) -> None:
    run = await new_run(log)
    reader = asyncio.create_task(log.read(run.run_id, 0, block_s=10))
    await asyncio.sleep(0.05)  # let the reader block (memory: on its Event; Redis: in XREAD BLOCK)
    assert not reader.done()
    started = time.monotonic()
    await log.append(run.run_id, events(run.run_id, 1, 2))
    got = await asyncio.wait_for(reader, 5)
    assert [e.seq for e in got] == [1, 2]
    assert time.monotonic() - started < 5


async def test_a_read_with_nothing_new_returns_empty_after_its_wait(log: EventLog) -> None:
    run = await new_run(log)
    await log.append(run.run_id, events(run.run_id, 1, 1))
    assert await log.read(run.run_id, 1, block_s=0.05) == []


async def test_run_records_are_saved_and_read_back(log: EventLog) -> None:
    run = await new_run(log)
    run.status = "done"
    run.output = "hi"
    run.usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    await log.save_run(run)
    again = await log.get_run(run.run_id)
    assert again is not None
    assert (again.status, again.output, again.usage, again.principal) == ("done", "hi", run.usage, "alice")
    assert await log.get_run("run_missing") is None


async def test_sessions_are_indexed_per_principal_newest_first(log: EventLog) -> None:
    a1, a2, b1 = ("sess_" + c * 32 for c in "123")
    await log.touch_session("alice", a1, preview="first", run_id="run_1")
    await log.touch_session("bob", b1, preview="bob's", run_id="run_2")
    await log.touch_session("alice", a2, preview="second", run_id="run_3")
    await log.touch_session("alice", a1, preview="third", run_id="run_4")
    alice = await log.list_sessions("alice")
    assert [(s.session_id, s.preview, s.last_run_id) for s in alice] == [
        (a1, "third", "run_4"),
        (a2, "second", "run_3"),
    ]
    assert [s.session_id for s in await log.list_sessions("bob")] == [b1]
    session = await log.get_session(a1)
    assert session is not None and session.principal == "alice" and session.created <= session.updated


async def test_cancel_requests_reach_a_listener(log: EventLog) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()

    async def listen() -> None:
        async for run_id in log.cancel_requests():
            await received.put(run_id)

    listener = asyncio.create_task(listen())
    try:
        for _ in range(50):  # Redis pub/sub only delivers once subscribed: publish until heard
            await log.publish_cancel("run_x")
            try:
                assert await asyncio.wait_for(received.get(), 0.1) == "run_x"
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("cancel request never arrived")
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def test_memory_log_forgets_runs_after_the_ttl_and_beyond_its_bound() -> None:
    log = MemoryEventLog(ttl_s=0.05, max_runs=2)
    old = await new_run(log)
    await asyncio.sleep(0.1)
    assert await log.get_run(old.run_id) is None
    bounded = MemoryEventLog(ttl_s=60, max_runs=2)
    runs = [await new_run(bounded) for _ in range(3)]
    assert await bounded.get_run(runs[0].run_id) is None
    assert await bounded.get_run(runs[2].run_id) is not None


async def test_redis_runs_expire_with_the_ttl() -> None:
    log = RedisEventLog(REDIS_URL, ttl_s=1, prefix=f"test:{secrets.token_hex(6)}:")
    try:
        run = await new_run(log)
        await log.append(run.run_id, events(run.run_id, 1, 1))
        ttl = await log._redis.ttl(log._events_key(run.run_id))
        assert 0 < ttl <= 1
    finally:
        await log.aclose()


async def test_an_unreachable_redis_is_a_clean_503() -> None:
    log = RedisEventLog("redis://127.0.0.1:1/0", ttl_s=60)
    try:
        with pytest.raises(EventLogUnavailable) as info:
            await log.get_run("run_x")
        assert info.value.status == 503 and "127.0.0.1" not in info.value.message
        assert await log.ping() is False
    finally:
        await log.aclose()
