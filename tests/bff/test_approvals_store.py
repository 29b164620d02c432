"""Approvals settle exactly once, in memory and in a real Redis, and expire on time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bff.approvals import (
    ANSWERED,
    EXPIRED,
    Answer,
    Approval,
    ApprovalAlreadyAnswered,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalStore,
    MemoryApprovalStore,
    RedisApprovalStore,
    new_approval,
    raise_for,
    settle_record,
    validate_answer,
)
from bff.exceptions import UpstreamUnavailable, ValidationFailed

NOW = 1_763_790_000.0


def make(approval_id: str = "apr_1", *, ttl: float = 60.0, run_id: str = "run_1") -> Approval:
    return new_approval(
        approval_id=approval_id,
        run_id=run_id,
        session_id="s" * 33,
        tool="save_note",
        call_id="tooluse_1",
        args={"title": "groceries", "text": "milk and eggs"},
        choices=["approve", "reject", "edit"],
        ttl_s=ttl,
        now=NOW,
    )


# --- the sans-IO core ---------------------------------------------------------------------


def test_event_payload_carries_the_contract_fields() -> None:
    payload = make().event_payload()
    assert payload == {
        "approval_id": "apr_1",
        "tool": "save_note",
        "call_id": "tooluse_1",
        "args": {"title": "groceries", "text": "milk and eggs"},
        "choices": ["approve", "reject", "edit"],
        "expires_at": NOW + 60.0,
    }


def test_unknown_choices_from_the_runtime_are_dropped() -> None:
    approval = new_approval(
        approval_id="a", run_id="r", session_id="s", tool="t", call_id="c", args={},
        choices=["approve", "explode"], ttl_s=1, now=NOW,
    )  # fmt: skip
    assert approval.choices == ("approve",)


@pytest.mark.parametrize(
    ("decision", "edited", "code"),
    [
        ("maybe", None, "invalid_decision"),
        ("edit", None, "edited_args_required"),
        ("edit", "not an object", "edited_args_required"),
        ("approve", {"title": "x"}, "validation_error"),
    ],
)
def test_bad_answers_are_422_with_a_code(decision: str, edited: object, code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_answer(decision, edited)
    assert err.value.status == 422
    assert err.value.code == code


def test_a_decision_outside_the_offered_choices_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        validate_answer("edit", {"a": 1}, choices=("approve", "reject"))


def test_answer_before_the_deadline_settles_it() -> None:
    settlement = settle_record(make(), Answer("edit", {"title": "x", "text": "y"}), NOW + 1)
    assert settlement.changed
    assert settlement.approval.state == ANSWERED
    assert settlement.approval.resume_value() == {
        "approval_id": "apr_1",
        "decision": "edit",
        "edited_args": {"title": "x", "text": "y"},
    }
    assert raise_for(settlement).decision == "edit"


def test_answer_after_the_deadline_expires_it_instead() -> None:
    settlement = settle_record(make(ttl=5), Answer("approve"), NOW + 5)
    assert settlement.changed
    assert settlement.approval.state == EXPIRED
    with pytest.raises(ApprovalExpired) as err:
        raise_for(settlement)
    assert (err.value.status, err.value.code) == (410, "approval_expired")


def test_the_timer_only_expires_a_due_approval() -> None:
    assert not settle_record(make(ttl=5), None, NOW + 4).changed
    assert settle_record(make(ttl=5), None, NOW + 5).approval.state == EXPIRED


def test_a_settled_approval_never_changes_again() -> None:
    answered = settle_record(make(), Answer("reject"), NOW).approval
    again = settle_record(answered, Answer("approve"), NOW + 1)
    assert not again.changed
    assert again.approval.decision == "reject"
    with pytest.raises(ApprovalAlreadyAnswered) as err:
        raise_for(again)
    assert (err.value.status, err.value.code) == (409, "approval_already_answered")
    assert not settle_record(answered, None, NOW + 3600).changed


def test_record_round_trips_through_json() -> None:
    approval = settle_record(make(), Answer("edit", {"title": "é"}), NOW).approval
    assert Approval.from_json(approval.to_json()) == approval


# --- both stores, same behaviour -----------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ApprovalStore]:
    if request.param == "memory":
        mem = MemoryApprovalStore()
        yield mem
        await mem.close()
        return
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"test-approvals-{uuid.uuid4().hex}:"
    red = RedisApprovalStore(client, prefix=prefix)
    try:
        yield red
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_unknown_id_is_not_found(store: ApprovalStore) -> None:
    assert await store.get("nope") is None
    with pytest.raises(ApprovalNotFound) as err:
        await store.settle("nope", Answer("approve"), NOW)
    assert (err.value.status, err.value.code) == (404, "approval_not_found")


async def test_put_get_and_pending_for_run(store: ApprovalStore) -> None:
    approval = make()
    await store.put(approval)
    assert await store.get("apr_1") == approval
    assert await store.pending_for_run("run_1") == approval
    assert await store.pending_for_run("run_2") is None
    await store.settle("apr_1", Answer("approve"), NOW + 1)
    assert await store.pending_for_run("run_1") is None
    stored = await store.get("apr_1")
    assert stored is not None and stored.state == ANSWERED


async def test_concurrent_answers_settle_exactly_once(store: ApprovalStore) -> None:
    await store.put(make())
    answers = [Answer("approve"), Answer("reject"), Answer("edit", {"title": "t"})] * 4
    results = await asyncio.gather(*(store.settle("apr_1", a, NOW + 1) for a in answers))
    winners = [r for r in results if r.changed]
    assert len(winners) == 1
    final = await store.get("apr_1")
    assert final is not None and final.decision == winners[0].approval.decision
    assert all(r.approval.decision == final.decision for r in results)


async def test_answer_racing_expiry_settles_once(store: ApprovalStore) -> None:
    await store.put(make(ttl=5))
    results = await asyncio.gather(
        store.settle("apr_1", None, NOW + 6), store.settle("apr_1", Answer("approve"), NOW + 6)
    )
    assert sum(r.changed for r in results) == 1
    final = await store.get("apr_1")
    assert final is not None and final.state == EXPIRED


async def test_state_survives_a_new_store_object_in_redis() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"test-approvals-{uuid.uuid4().hex}:"
    try:
        await RedisApprovalStore(client, prefix=prefix).put(make())
        other_replica = RedisApprovalStore(client, prefix=prefix)
        first = await other_replica.settle("apr_1", Answer("approve"), NOW)
        assert first.changed
        second = await RedisApprovalStore(client, prefix=prefix).settle("apr_1", Answer("approve"), NOW)
        assert not second.changed and second.approval.state == ANSWERED
        assert (await client.ttl(f"{prefix}approval:apr_1")) > 0
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_redis_down_is_a_clean_503() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        red = RedisApprovalStore(client)
        with pytest.raises(UpstreamUnavailable) as err:
            await red.get("apr_1")
        assert err.value.status == 503
        assert "127.0.0.1" not in err.value.message
    finally:
        await client.aclose()


async def test_memory_store_prunes_old_records() -> None:
    mem = MemoryApprovalStore(retention_s=0, max_records=2)
    await mem.put(make("a", ttl=-10))
    await mem.put(make("b", ttl=3600 * 24 * 365 * 100))
    await mem.put(make("c", ttl=3600 * 24 * 365 * 100))
    assert await mem.get("a") is None
    assert {await mem.get("b") is not None, await mem.get("c") is not None} == {True}
