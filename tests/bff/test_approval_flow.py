"""A run pauses on `approval_required`, resumes as a second leg of the same log, or ends on expiry.

Real RunManager, event log and mapper; a scripted upstream stands in for the runtime (the e2e
tests in tests/e2e/test_approval*.py use the real one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_approval_fakes import ARGS, SESSION, ScriptedRuntime

from bff import events as ev
from bff.approvals import (
    ApprovalAlreadyAnswered,
    ApprovalDesk,
    ApprovalExpired,
    ApprovalFlow,
    ApprovalNotFound,
    MemoryApprovalStore,
    NotPaused,
)
from bff.eventlog import MemoryEventLog
from bff.events import Event
from bff.exceptions import RunNotFound, ValidationFailed
from bff.normalize import RuntimeEventMapper
from bff.runs import AWAITING_APPROVAL, RunManager


class Stack:
    def __init__(self, ttl_s: float) -> None:
        self.runtime = ScriptedRuntime()
        self.log = MemoryEventLog()
        self.runs = RunManager(self.log, self.runtime, RuntimeEventMapper)
        self.flow = ApprovalFlow(ApprovalDesk(MemoryApprovalStore(), ttl_s=ttl_s), self.runs, self.runtime)

    async def events(self, run_id: str, after: int = 0) -> list[Event]:
        out: list[Event] = []
        async for event in self.runs.follow(run_id, after, heartbeat_s=5):
            assert event is not None, "no event within 5 s"
            out.append(event)
        return out


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    s = Stack(ttl_s=60)
    async with s.runs:
        yield s
        await s.flow.aclose()


async def paused_run(stack: Stack) -> tuple[str, list[Event]]:
    record = await stack.runs.start(
        principal="alice", session_id=SESSION, message="Save a note titled groceries"
    )
    return record.run_id, await stack.events(record.run_id)


async def test_the_run_pauses_with_an_approval_required_event(stack: Stack) -> None:
    run_id, events = await paused_run(stack)
    types = [e.type for e in events]
    assert types[-2:] == [ev.APPROVAL_REQUIRED, ev.INTERRUPTED]
    assert ev.DONE not in types
    required = events[-2].data
    assert required["approval_id"] == "apr_1"
    assert required["tool"] == "save_note" and required["call_id"] == "tooluse_1"
    assert required["args"] == ARGS and required["choices"] == ["approve", "reject", "edit"]
    assert required["expires_at"] > events[-2].ts
    await stack.runs.wait_leg(run_id)
    assert (await stack.runs.get("alice", run_id)).status == AWAITING_APPROVAL


@pytest.mark.parametrize(
    ("decision", "edited", "expected"),
    [
        ("approve", None, "Saved groceries."),
        ("reject", None, "I did not save"),
        ("edit", {"title": "todo", "text": "x"}, "Saved todo."),
    ],
)
async def test_an_answer_resumes_the_same_run_with_the_next_ids(
    stack: Stack, decision: str, edited: dict[str, Any] | None, expected: str
) -> None:
    run_id, first = await paused_run(stack)
    answered = await stack.flow.answer(
        principal="alice", run_id=run_id, approval_id="apr_1", decision=decision, edited_args=edited
    )
    assert answered.record.run_id == run_id and answered.approval.decision == decision
    assert answered.after == first[-1].seq
    rest = await stack.events(run_id, after=first[-1].seq)
    resume = stack.runtime.payloads[-1]
    assert resume["session_id"] == SESSION
    assert resume["resume"]["approval_id"] == "apr_1" and resume["resume"]["decision"] == decision
    assert resume["resume"].get("edited_args") == edited
    assert [e.seq for e in rest] == list(range(first[-1].seq + 1, first[-1].seq + 1 + len(rest)))
    assert ev.START not in [e.type for e in rest]
    assert rest[-1].type == ev.DONE and expected in rest[-1].data["output"]
    whole = await stack.events(run_id)
    assert [e.seq for e in whole] == list(range(1, len(whole) + 1))
    assert [e.type for e in whole].count(ev.DONE) == 1


async def test_second_answer_is_409_and_runs_nothing(stack: Stack) -> None:
    run_id, first = await paused_run(stack)
    await stack.flow.answer(
        principal="alice", run_id=run_id, approval_id="apr_1", decision="approve", edited_args=None
    )
    with pytest.raises(ApprovalAlreadyAnswered):
        await stack.flow.answer(
            principal="alice", run_id=run_id, approval_id="apr_1", decision="reject", edited_args=None
        )
    await stack.events(run_id, after=first[-1].seq)
    assert [p["resume"]["decision"] for p in stack.runtime.payloads if "resume" in p] == ["approve"]


async def test_concurrent_answers_start_one_leg(stack: Stack) -> None:
    run_id, first = await paused_run(stack)
    results = await asyncio.gather(
        *(
            stack.flow.answer(
                principal="alice", run_id=run_id, approval_id="apr_1", decision=d, edited_args=None
            )
            for d in ["approve", "reject", "approve", "reject"]
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ApprovalAlreadyAnswered) for r in results if isinstance(r, BaseException))
    await stack.events(run_id, after=first[-1].seq)
    assert sum("resume" in p for p in stack.runtime.payloads) == 1


async def test_bad_answers(stack: Stack) -> None:
    run_id, _ = await paused_run(stack)
    with pytest.raises(RunNotFound):
        await stack.flow.answer(
            principal="mallory", run_id=run_id, approval_id="apr_1", decision="approve", edited_args=None
        )
    with pytest.raises(ApprovalNotFound):
        await stack.flow.answer(
            principal="alice", run_id=run_id, approval_id="nope", decision="approve", edited_args=None
        )
    with pytest.raises(ValidationFailed) as err:
        await stack.flow.answer(
            principal="alice", run_id=run_id, approval_id="apr_1", decision="edit", edited_args=None
        )
    assert err.value.code == "edited_args_required"
    assert not any("resume" in p for p in stack.runtime.payloads)


async def test_a_cancelled_paused_run_cannot_be_answered(stack: Stack) -> None:
    run_id, _ = await paused_run(stack)
    await stack.runs.wait_leg(run_id)
    await stack.runs.cancel("alice", run_id)
    with pytest.raises(NotPaused) as err:
        await stack.flow.answer(
            principal="alice", run_id=run_id, approval_id="apr_1", decision="approve", edited_args=None
        )
    assert err.value.status == 409


async def test_expiry_ends_the_run_and_rejects_upstream() -> None:
    s = Stack(ttl_s=0.2)
    async with s.runs:
        try:
            run_id, first = await paused_run(s)
            rest = await s.events(run_id, after=first[-1].seq)
            assert [e.type for e in rest] == [ev.APPROVAL_EXPIRED, ev.DONE]
            assert rest[0].data["approval_id"] == "apr_1"
            assert rest[1].data["status"] == "expired"
            assert (await s.runs.get("alice", run_id)).status == "expired"
            assert s.runtime.drained.is_set(), "the runtime heard `reject` before `done` was logged"
            assert s.runtime.payloads[-1]["resume"] == {"approval_id": "apr_1", "decision": "reject"}
            with pytest.raises(ApprovalExpired):
                await s.flow.answer(
                    principal="alice",
                    run_id=run_id,
                    approval_id="apr_1",
                    decision="approve",
                    edited_args=None,
                )
            whole = await s.events(run_id)
            assert [e.type for e in whole].count(ev.DONE) == 1
        finally:
            await s.flow.aclose()
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("approval-")] == []
