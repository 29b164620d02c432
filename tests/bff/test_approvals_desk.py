"""The approval desk: answers settle once, timers expire unanswered approvals, nothing is left running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bff.approvals import (
    ANSWERED,
    EXPIRED,
    Approval,
    ApprovalAlreadyAnswered,
    ApprovalDesk,
    ApprovalExpired,
    ApprovalNotFound,
    MemoryApprovalStore,
)
from bff.exceptions import ValidationFailed

PAYLOAD = {
    "approval_id": "apr_1",
    "tool": "save_note",
    "call_id": "tooluse_1",
    "args": {"title": "groceries", "text": "milk and eggs"},
    "choices": ["approve", "reject", "edit"],
}


class Recorder:
    def __init__(self) -> None:
        self.expired: list[Approval] = []
        self.fired = asyncio.Event()

    async def __call__(self, approval: Approval) -> None:
        self.expired.append(approval)
        self.fired.set()


@pytest.fixture
async def desk() -> AsyncIterator[tuple[ApprovalDesk, Recorder]]:
    recorder = Recorder()
    d = ApprovalDesk(MemoryApprovalStore(), ttl_s=60.0, on_expired=recorder)
    try:
        yield d, recorder
    finally:
        await d.aclose()


def timer_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("approval-expiry-")]


async def test_open_records_the_payload_with_a_deadline(desk: tuple[ApprovalDesk, Recorder]) -> None:
    d, _ = desk
    before = time.time()
    approval = await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    assert approval.event_payload()["args"] == PAYLOAD["args"]
    assert before + 60 <= approval.expires <= time.time() + 60
    assert len(timer_tasks()) == 1


async def test_answer_returns_the_resume_value_and_disarms_the_timer(
    desk: tuple[ApprovalDesk, Recorder],
) -> None:
    d, recorder = desk
    await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    answered = await d.answer(run_id="run_1", approval_id="apr_1", decision="reject", edited_args=None)
    assert answered.state == ANSWERED
    assert answered.resume_value() == {"approval_id": "apr_1", "decision": "reject"}
    await asyncio.sleep(0)  # let the cancelled timer finish
    assert timer_tasks() == []
    assert recorder.expired == []


async def test_second_answer_is_409(desk: tuple[ApprovalDesk, Recorder]) -> None:
    d, _ = desk
    await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    await d.answer(run_id="run_1", approval_id="apr_1", decision="approve", edited_args=None)
    with pytest.raises(ApprovalAlreadyAnswered) as err:
        await d.answer(run_id="run_1", approval_id="apr_1", decision="approve", edited_args=None)
    assert err.value.status == 409


async def test_unknown_id_or_other_run_is_404(desk: tuple[ApprovalDesk, Recorder]) -> None:
    d, _ = desk
    await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    for run_id, approval_id in [("run_1", "nope"), ("run_2", "apr_1")]:
        with pytest.raises(ApprovalNotFound) as err:
            await d.answer(run_id=run_id, approval_id=approval_id, decision="approve", edited_args=None)
        assert (err.value.status, err.value.code) == (404, "approval_not_found")


async def test_edit_without_args_is_422_and_settles_nothing(desk: tuple[ApprovalDesk, Recorder]) -> None:
    d, _ = desk
    await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    with pytest.raises(ValidationFailed):
        await d.answer(run_id="run_1", approval_id="apr_1", decision="edit", edited_args=None)
    edited = await d.answer(
        run_id="run_1", approval_id="apr_1", decision="edit", edited_args={"title": "t", "text": "x"}
    )
    assert edited.edited_args == {"title": "t", "text": "x"}


async def test_the_timer_expires_an_unanswered_approval_once() -> None:
    recorder = Recorder()
    d = ApprovalDesk(MemoryApprovalStore(), ttl_s=0.05, on_expired=recorder)
    try:
        await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
        await asyncio.wait_for(recorder.fired.wait(), timeout=10)
        assert [a.state for a in recorder.expired] == [EXPIRED]
        with pytest.raises(ApprovalExpired) as err:
            await d.answer(run_id="run_1", approval_id="apr_1", decision="approve", edited_args=None)
        assert (err.value.status, err.value.code) == (410, "approval_expired")
        assert len(recorder.expired) == 1
        assert timer_tasks() == []
    finally:
        await d.aclose()


async def test_a_late_answer_expires_it_when_no_timer_ran() -> None:
    """A BFF restarted during the pause has no timer: the answer itself finds it expired."""
    recorder = Recorder()
    store = MemoryApprovalStore()
    first = ApprovalDesk(store, ttl_s=0.01)
    await first.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    for task in timer_tasks():  # the process that armed it is gone
        task.cancel()
    first._timers.clear()
    restarted = ApprovalDesk(store, ttl_s=0.01, on_expired=recorder)
    approval = await store.get("apr_1")
    assert approval is not None
    while time.time() < approval.expires:
        await asyncio.sleep(approval.expires - time.time())
    with pytest.raises(ApprovalExpired):
        await restarted.answer(run_id="run_1", approval_id="apr_1", decision="approve", edited_args=None)
    assert [a.approval_id for a in recorder.expired] == ["apr_1"]
    await restarted.aclose()


async def test_lazy_check_for_a_run(desk: tuple[ApprovalDesk, Recorder]) -> None:
    d, recorder = desk
    await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
    assert not await d.expire_due_for_run("run_1")
    assert not await d.expire_due_for_run("run_9")
    assert recorder.expired == []


async def test_aclose_leaves_no_timer_running() -> None:
    d = ApprovalDesk(MemoryApprovalStore(), ttl_s=3600)
    for i in range(3):
        await d.open(run_id=f"run_{i}", session_id="s" * 33, payload={**PAYLOAD, "approval_id": f"a{i}"})
    assert len(timer_tasks()) == 3
    await d.aclose()
    assert timer_tasks() == []


async def test_the_timer_waits_for_the_wall_clock_when_it_runs_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline is wall time, the loop sleeps on the monotonic clock: when the wall clock runs
    at half speed, one sleep of the remaining time is not enough, and the approval must still expire."""
    import bff.approvals as approvals_module

    start_wall, start_mono = time.time(), time.monotonic()

    class SlowWallClock:
        @staticmethod
        def time() -> float:
            return start_wall + (time.monotonic() - start_mono) * 0.5

    monkeypatch.setattr(approvals_module, "time", SlowWallClock)
    recorder = Recorder()
    d = ApprovalDesk(MemoryApprovalStore(), ttl_s=0.1, on_expired=recorder)
    try:
        await d.open(run_id="run_1", session_id="s" * 33, payload=PAYLOAD)
        await asyncio.wait_for(recorder.fired.wait(), timeout=10)
        assert [a.state for a in recorder.expired] == [EXPIRED]
    finally:
        await d.aclose()
