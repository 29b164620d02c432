"""Pending approvals: a tool call that waits for a person's decision before it runs.

When the runtime's graph hits `interrupt()` it emits `APPROVAL_REQUIRED` (docs/architecture.md);
the BFF records an `Approval` here, logs an `approval_required` event and the run's status becomes
`awaiting_approval`. `POST /v1/runs/{run_id}/approval` answers it (docs/approvals.md).

An approval is settled exactly once: `pending` -> `answered` (approve / reject / edit) or
`pending` -> `expired` (its time ran out). Whoever settles it first wins; every later attempt sees
the settled record and is told so (409 `approval_already_answered`, or 410 `approval_expired`).
Expiry is checked both by a timer (the run's owner in this process) and lazily at every answer,
so an approval that outlived a restarted BFF still expires.

Two stores behind one interface, like the event log: in memory (one process, the default) and
Redis (several replicas; the settle step is one Lua script, so two replicas answering at once
still settle once). Redis errors are translated here, at the boundary, into `UpstreamUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal, Protocol

from bff import events as ev
from bff.eventlog import RunRecord
from bff.exceptions import ClientError, Conflict, NotFound, UpstreamUnavailable, ValidationFailed
from bff.runs import AWAITING_APPROVAL, RUNNING, RunManager, RunWriter, Upstream, register_status

log = logging.getLogger(__name__)

APPROVE: Final = "approve"
REJECT: Final = "reject"
EDIT: Final = "edit"
DEFAULT_CHOICES: Final = (APPROVE, REJECT, EDIT)

PENDING: Final = "pending"
ANSWERED: Final = "answered"
EXPIRED: Final = "expired"

State = Literal["pending", "answered", "expired"]


class ApprovalNotFound(NotFound):
    code = "approval_not_found"


class ApprovalExpired(ClientError):
    """410 Gone: the approval existed but can no longer be answered; its run has ended."""

    status = 410
    code = "approval_expired"


class ApprovalAlreadyAnswered(Conflict):
    code = "approval_already_answered"


class NotPaused(Conflict):
    code = "run_not_awaiting_approval"


@dataclass(frozen=True, slots=True)
class Approval:
    """One pending (or settled) approval. Times are epoch seconds."""

    approval_id: str
    run_id: str
    session_id: str
    tool: str
    call_id: str
    args: dict[str, Any]
    choices: tuple[str, ...] = DEFAULT_CHOICES
    created: float = field(default_factory=time.time)
    expires: float = 0.0
    state: State = PENDING
    decision: str | None = None
    edited_args: dict[str, Any] | None = None
    settled_at: float | None = None

    def is_due(self, now: float) -> bool:
        return self.state == PENDING and now >= self.expires

    def event_payload(self) -> dict[str, Any]:
        """The payload of the native `approval_required` event."""
        return {
            "approval_id": self.approval_id,
            "tool": self.tool,
            "call_id": self.call_id,
            "args": self.args,
            "choices": list(self.choices),
            "expires_at": self.expires,
        }

    def resume_value(self) -> dict[str, Any]:
        """What the runtime receives as `{"resume": ...}` once the approval is answered."""
        value: dict[str, Any] = {"approval_id": self.approval_id, "decision": self.decision}
        if self.decision == EDIT:
            value["edited_args"] = self.edited_args
        return value

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Approval:
        body = json.loads(raw)
        body["choices"] = tuple(body.get("choices") or DEFAULT_CHOICES)
        return cls(**body)


@dataclass(frozen=True, slots=True)
class Answer:
    """A person's decision, already validated against the approval's choices."""

    decision: str
    edited_args: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of one settle attempt: the record afterwards, and whether this call changed it."""

    approval: Approval
    changed: bool


def validate_answer(decision: str, edited_args: Any, choices: tuple[str, ...] = DEFAULT_CHOICES) -> Answer:
    """Check a decision before anything is settled: bad input is a 422 and settles nothing."""
    if decision not in choices:
        raise ValidationFailed(f"decision must be one of: {', '.join(choices)}", code="invalid_decision")
    if decision == EDIT:
        if not isinstance(edited_args, dict):
            raise ValidationFailed(
                "decision 'edit' needs edited_args, an object of the tool's arguments",
                code="edited_args_required",
            )
        return Answer(EDIT, dict(edited_args))
    if edited_args is not None:
        raise ValidationFailed("edited_args is only accepted with decision 'edit'", code="validation_error")
    return Answer(decision)


def settle_record(approval: Approval, answer: Answer | None, now: float) -> Settlement:
    """The one state transition, sans-IO: `answer=None` means "expire it if it is due".

    A pending approval answered after its deadline becomes `expired` (the answer is refused),
    so the lazy check and the timer agree on what happened.
    """
    if approval.state != PENDING:
        return Settlement(approval, changed=False)
    if answer is None or now >= approval.expires:
        if answer is None and now < approval.expires:
            return Settlement(approval, changed=False)
        return Settlement(replace(approval, state=EXPIRED, settled_at=now), changed=True)
    settled = replace(
        approval,
        state=ANSWERED,
        decision=answer.decision,
        edited_args=answer.edited_args,
        settled_at=now,
    )
    return Settlement(settled, changed=True)


def raise_for(settlement: Settlement) -> Approval:
    """The HTTP meaning of a settle attempt made by an answer: the approval, or the 4xx to send."""
    approval = settlement.approval
    if approval.state == EXPIRED:
        raise ApprovalExpired("this approval has expired; its run has ended")
    if not settlement.changed:
        raise ApprovalAlreadyAnswered("this approval has already been answered")
    return approval


class ApprovalStore(Protocol):
    async def put(self, approval: Approval) -> None: ...

    async def get(self, approval_id: str) -> Approval | None: ...

    async def settle(self, approval_id: str, answer: Answer | None, now: float) -> Settlement:
        """Settle once (see `settle_record`); raises `ApprovalNotFound` for an unknown id."""
        ...

    async def pending_for_run(self, run_id: str) -> Approval | None: ...

    async def close(self) -> None: ...


class MemoryApprovalStore:
    """One process. No await between reading and writing a record, so settling is atomic."""

    def __init__(self, *, retention_s: float = 3600.0, max_records: int = 10_000) -> None:
        self._records: dict[str, Approval] = {}
        self._retention_s = retention_s
        self._max_records = max_records

    async def put(self, approval: Approval) -> None:
        self._prune(time.time())
        self._records[approval.approval_id] = approval

    async def get(self, approval_id: str) -> Approval | None:
        return self._records.get(approval_id)

    async def settle(self, approval_id: str, answer: Answer | None, now: float) -> Settlement:
        current = self._records.get(approval_id)
        if current is None:
            raise ApprovalNotFound("no such approval")
        settlement = settle_record(current, answer, now)
        if settlement.changed:
            self._records[approval_id] = settlement.approval
        return settlement

    async def pending_for_run(self, run_id: str) -> Approval | None:
        for approval in reversed(self._records.values()):
            if approval.run_id == run_id and approval.state == PENDING:
                return approval
        return None

    async def close(self) -> None:
        self._records.clear()

    def _prune(self, now: float) -> None:
        stale = [k for k, a in self._records.items() if a.expires + self._retention_s < now]
        for key in stale:
            del self._records[key]
        while len(self._records) >= self._max_records:
            del self._records[next(iter(self._records))]


# KEYS[1] the approval hash; ARGV[1] the settled record (JSON), ARGV[2] the state it was read in,
# ARGV[3] the new state. Writes only if nobody settled it in between (compare-and-set on `state`).
_SETTLE_LUA: Final = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'state', ARGV[3])
return 1
"""


class RedisApprovalStore:
    """Several BFF replicas: a hash per approval (`record`, `state`) and a pointer per run."""

    def __init__(
        self, client: Any, *, prefix: str = "bff:", retention_s: float = 3600.0, owns_client: bool = False
    ) -> None:
        self._redis = client
        self._owns_client = owns_client
        self._prefix = prefix
        self._retention_s = retention_s
        self._settle_script = client.register_script(_SETTLE_LUA)

    def _key(self, approval_id: str) -> str:
        return f"{self._prefix}approval:{approval_id}"

    def _run_key(self, run_id: str) -> str:
        return f"{self._prefix}approval-run:{run_id}"

    async def put(self, approval: Approval) -> None:
        ttl = max(1, int(approval.expires - time.time() + self._retention_s))
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._key(approval.approval_id),
                    mapping={"record": approval.to_json(), "state": approval.state},
                )
                pipe.expire(self._key(approval.approval_id), ttl)
                pipe.set(self._run_key(approval.run_id), approval.approval_id, ex=ttl)
                await pipe.execute()
        except Exception as exc:
            raise _translate(exc) from exc

    async def get(self, approval_id: str) -> Approval | None:
        try:
            raw = await self._redis.hget(self._key(approval_id), "record")
        except Exception as exc:
            raise _translate(exc) from exc
        return None if raw is None else Approval.from_json(raw)

    async def settle(self, approval_id: str, answer: Answer | None, now: float) -> Settlement:
        # Optimistic: read, decide sans-IO, compare-and-set; a lost race re-reads the winner.
        for _ in range(5):
            current = await self.get(approval_id)
            if current is None:
                raise ApprovalNotFound("no such approval")
            settlement = settle_record(current, answer, now)
            if not settlement.changed:
                return settlement
            try:
                written = await self._settle_script(
                    keys=[self._key(approval_id)],
                    args=[settlement.approval.to_json(), current.state, settlement.approval.state],
                )
            except Exception as exc:
                raise _translate(exc) from exc
            if int(written) == 1:
                return settlement
            if int(written) == -1:
                raise ApprovalNotFound("no such approval")
        raise UpstreamUnavailable("approval store is busy; try again", code="store_unavailable")

    async def pending_for_run(self, run_id: str) -> Approval | None:
        try:
            approval_id = await self._redis.get(self._run_key(run_id))
        except Exception as exc:
            raise _translate(exc) from exc
        if approval_id is None:
            return None
        if isinstance(approval_id, bytes):
            approval_id = approval_id.decode()
        approval = await self.get(approval_id)
        return approval if approval is not None and approval.state == PENDING else None

    async def close(self) -> None:
        """Closes the client only when this store created it (`create_approval_store`)."""
        if self._owns_client:
            await self._redis.aclose()


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, ClientError):
        return exc
    return UpstreamUnavailable("approval store unavailable", code="store_unavailable")


def create_approval_store(redis_url: str | None, *, retention_s: float) -> ApprovalStore:
    """Redis when the BFF has one (the same `BFF_REDIS_URL` as the event log), else in memory."""
    if not redis_url:
        return MemoryApprovalStore(retention_s=retention_s)
    from redis.asyncio import Redis

    return RedisApprovalStore(Redis.from_url(redis_url), retention_s=retention_s, owns_client=True)


def new_approval(
    *,
    approval_id: str,
    run_id: str,
    session_id: str,
    tool: str,
    call_id: str,
    args: dict[str, Any],
    choices: list[str] | tuple[str, ...] | None,
    ttl_s: float,
    now: float | None = None,
) -> Approval:
    """Build the record for an `APPROVAL_REQUIRED` the runtime just sent."""
    created = time.time() if now is None else now
    known = tuple(c for c in (choices or DEFAULT_CHOICES) if c in DEFAULT_CHOICES) or DEFAULT_CHOICES
    return Approval(
        approval_id=approval_id,
        run_id=run_id,
        session_id=session_id,
        tool=tool,
        call_id=call_id,
        args=dict(args),
        choices=known,
        created=created,
        expires=created + ttl_s,
    )


ExpiryHandler = Callable[[Approval], Awaitable[None]]


class ApprovalDesk:
    """Where approvals are opened, answered and expired; owns one expiry timer per pending approval.

    `on_expired` is called exactly once for an approval that expires (by its timer or by a late
    answer), by whichever settles it; the run module sets it to end the run. Timers are tasks this
    object owns: `aclose()` cancels and awaits them all, so nothing is left running.
    """

    def __init__(
        self, store: ApprovalStore, *, ttl_s: float, on_expired: ExpiryHandler | None = None
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.on_expired = on_expired
        self._timers: dict[str, asyncio.Task[None]] = {}

    async def open(self, *, run_id: str, session_id: str, payload: dict[str, Any]) -> Approval:
        """Record the runtime's `approval_required` payload and arm its timer."""
        args = payload.get("args")
        approval = new_approval(
            approval_id=str(payload["approval_id"]),
            run_id=run_id,
            session_id=session_id,
            tool=str(payload.get("tool", "")),
            call_id=str(payload.get("call_id", "")),
            args=args if isinstance(args, dict) else {},
            choices=payload.get("choices"),
            ttl_s=self.ttl_s,
        )
        await self.store.put(approval)
        self._arm(approval)
        return approval

    async def answer(self, *, run_id: str, approval_id: str, decision: str, edited_args: Any) -> Approval:
        """Settle with a person's decision; returns the answered approval or raises its 4xx."""
        current = await self.store.get(approval_id)
        if current is None or current.run_id != run_id:
            raise ApprovalNotFound("no such approval for this run")
        answer = validate_answer(decision, edited_args, current.choices)
        settlement = await self.store.settle(approval_id, answer, time.time())
        if settlement.changed:
            self._disarm(approval_id)
            if settlement.approval.state == EXPIRED:
                await self._expired(settlement.approval)
        return raise_for(settlement)

    async def expire(self, approval_id: str) -> bool:
        """Expire the approval if it is due; True when this call expired it."""
        try:
            settlement = await self.store.settle(approval_id, None, time.time())
        except ApprovalNotFound:
            return False
        if settlement.changed:
            await self._expired(settlement.approval)
        return settlement.changed

    async def expire_due_for_run(self, run_id: str) -> bool:
        """The lazy check: a run whose pending approval outlived its timer (e.g. a BFF restart)."""
        pending = await self.store.pending_for_run(run_id)
        if pending is None or not pending.is_due(time.time()):
            return False
        return await self.expire(pending.approval_id)

    async def aclose(self) -> None:
        timers = list(self._timers.values())
        self._timers.clear()
        for task in timers:
            task.cancel()
        for task in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.store.close()

    def _arm(self, approval: Approval) -> None:
        self._disarm(approval.approval_id)
        task = asyncio.get_running_loop().create_task(
            self._timer(approval), name=f"approval-expiry-{approval.approval_id}"
        )
        self._timers[approval.approval_id] = task

    def _disarm(self, approval_id: str) -> None:
        task = self._timers.pop(approval_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _timer(self, approval: Approval) -> None:
        # The deadline is wall-clock time, but the loop sleeps on the monotonic clock, and the two
        # need not run at the same rate (a slewed or virtualised clock): sleep until the wall clock
        # has really passed it, or the settle below would find nothing due and never expire it.
        while (delay := approval.expires - time.time()) > 0:  # noqa: ASYNC110 (a deadline, not an event)
            await asyncio.sleep(delay + 0.01)
        self._timers.pop(approval.approval_id, None)
        try:
            await self.expire(approval.approval_id)
        except Exception:  # a store outage must not go unnoticed; the lazy check still applies later
            log.exception("approval expiry failed", extra={"approval_id": approval.approval_id})

    async def _expired(self, approval: Approval) -> None:
        if self.on_expired is not None:
            await self.on_expired(approval)


# --- the run side: pause, resume as a new leg, end on expiry --------------------------------

Pair = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Answered:
    """An accepted answer: the run (running again), the approval, and the seq the new leg follows."""

    record: RunRecord
    approval: Approval
    after: int


class ApprovalFlow:
    """Ties the desk to the runs: what happens to a run when it pauses, is answered, or expires.

    - `on_pairs` (the run manager calls it for a leg's events that contain `approval_required`):
      records the approval and gives the event its `expires_at`.
    - `answer`: after the checks (404 / 422 / 409 / 410), starts the resuming leg
      `{"resume": {...}}` on the same run, same log, same session.
    - expiry (the desk's `on_expired`): logs `approval_expired`, tells the runtime `reject` (and
      discards that answer), then logs `done` (status `expired`) (docs/approvals.md).
    """

    def __init__(
        self,
        desk: ApprovalDesk,
        runs: RunManager,
        upstream: Upstream,
        *,
        pause_wait_s: float = 10.0,
        reject_timeout_s: float = 30.0,
    ) -> None:
        self.desk = desk
        self.runs = runs
        self._upstream = upstream
        self._pause_wait_s = pause_wait_s
        self._reject_timeout_s = reject_timeout_s
        desk.on_expired = self._end_expired
        register_status(EXPIRED, terminal=True, done_status=EXPIRED)
        runs.add_pair_hook(frozenset({ev.APPROVAL_REQUIRED}), self.on_pairs)

    async def on_pairs(self, record: RunRecord, pairs: list[Pair]) -> list[Pair]:
        out: list[Pair] = []
        for kind, payload in pairs:
            if kind == ev.APPROVAL_REQUIRED and payload.get("approval_id"):
                approval = await self.desk.open(
                    run_id=record.run_id, session_id=record.session_id, payload=payload
                )
                payload = approval.event_payload()
            out.append((kind, payload))
        return out

    async def answer(
        self, *, principal: str, run_id: str, approval_id: str, decision: str, edited_args: Any
    ) -> Answered:
        record = await self.runs.get(principal, run_id)  # 404 run_not_found, also for other principals
        current = await self.desk.store.get(approval_id)
        if current is None or current.run_id != run_id:
            raise ApprovalNotFound("no such approval for this run")
        validate_answer(decision, edited_args, current.choices)
        if current.state == PENDING:
            record = await self._paused(record)
            if record.status != AWAITING_APPROVAL and not current.is_due(time.time()):
                raise NotPaused("this run is not waiting for an approval (it was cancelled or has ended)")
        # The resuming leg's run slot first: a 429 must leave the approval unanswered, to retry.
        slot = await self.runs.reserve_slot(record.principal)
        try:
            approval = await self.desk.answer(  # 409 already answered, 410 expired (which ends the run)
                run_id=run_id, approval_id=approval_id, decision=decision, edited_args=edited_args
            )
            if record.status != AWAITING_APPROVAL:
                raise NotPaused("this run is not waiting for an approval (it was cancelled or has ended)")
            after = await self.runs.log.last_seq(run_id)
            record = await self.runs.start_leg(run_id, {"resume": approval.resume_value()}, slot=slot)
        except BaseException:
            if slot is not None:
                await slot.release()
            raise
        return Answered(record, approval, after)

    async def _paused(self, record: RunRecord) -> RunRecord:
        """The leg that logged `approval_required` may still be closing: wait for `interrupted`."""
        if record.status == RUNNING:
            after = await self.runs.log.last_seq(record.run_id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._pause_wait_s):
                    async for event in self.runs.follow(record.run_id, after, heartbeat_s=self._pause_wait_s):
                        if event is not None and event.type in (ev.INTERRUPTED, ev.DONE):
                            break
        try:
            async with asyncio.timeout(self._pause_wait_s):
                await self.runs.wait_leg(record.run_id)
        except TimeoutError:  # its `interrupted` is logged but its upstream lingers: go on without it
            log.warning(
                "run %s: the paused leg is still open after %.0f s", record.run_id, self._pause_wait_s
            )
        return await self.runs.log.get_run(record.run_id) or record

    async def _end_expired(self, approval: Approval) -> None:
        record = await self.runs.log.get_run(approval.run_id)
        if record is not None:
            record = await self._paused(record)  # a leg still closing: wait for its `interrupted`
        if record is None or record.status != AWAITING_APPROVAL:  # cancelled or gone meanwhile
            log.info(
                "approval %s expired; its run is %s and is left as it is",
                approval.approval_id,
                record.status if record is not None else "gone",
            )
            return
        log.info("approval %s expired; ending run %s", approval.approval_id, approval.run_id)
        writer = RunWriter(self.runs.log, record, await self.runs.log.last_seq(approval.run_id))
        await writer.append(
            [
                (
                    ev.APPROVAL_EXPIRED,
                    {
                        "approval_id": approval.approval_id,
                        "tool": approval.tool,
                        "call_id": approval.call_id,
                        "message": "Nobody answered the approval in time; the tool did not run.",
                    },
                ),
            ]
        )
        # Reject upstream before `done`: a client that sees `done` and sends the next turn finds the
        # session's checkpoint settled, not racing this rejection.
        await self._reject_upstream(approval, record.session_id, record.principal)
        try:
            await writer.append([(ev.DONE, writer.done_payload(EXPIRED))])
        except Exception:  # e.g. a cancel ended the run meanwhile: its `done` stands
            log.warning("could not end the expired run %s", approval.run_id, exc_info=True)

    async def _reject_upstream(self, approval: Approval, session_id: str, principal: str) -> None:
        """Tell the runtime the tool must not run, so the session's checkpoint does not keep it pending."""
        resume = {"approval_id": approval.approval_id, "decision": REJECT}
        try:
            async with asyncio.timeout(self._reject_timeout_s):
                async with self._upstream.stream(
                    payload={"resume": resume, "session_id": session_id},
                    session_id=session_id,
                    user_id=principal,
                ) as events:
                    async for _ in events:
                        pass
        except Exception as exc:  # best effort: the run ends for the client either way
            log.warning("rejecting an expired approval upstream failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """Stops the expiry timers (an expiry in progress, with its upstream rejection, included)."""
        await self.desk.aclose()
