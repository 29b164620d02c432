"""Answering an approval: `POST /v1/runs/{run_id}/approval`, and AG-UI's `resume` (docs/approvals.md).

    POST /v1/runs/{run_id}/approval  {"approval_id", "decision", "edited_args"?}
        202 {run_id, session_id, status: "running", approval_id, decision, stream_url, after}

The run continues in the background as a new leg of the same log; follow it with
`GET /v1/runs/{run_id}/stream` and `Last-Event-ID: <after>` (or keep the stream that was open
during the pause). AG-UI clients answer inside a `RunAgentInput` (`resume: [ResumeEntry]`) posted to
the starting endpoint; `stream_resumed_agui` answers it and streams the continuation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from bff.approvals import APPROVE, REJECT, ApprovalFlow, ApprovalNotFound
from bff.deps import PrincipalDep, RunsDep, SettingsDep
from bff.encoders import Encoder
from bff.exceptions import ValidationFailed
from bff.routes.streaming import event_stream, prime, run_headers
from bff.runs import ON_DISCONNECT_CONTINUE

router = APIRouter(tags=["approvals"])


def get_approvals(conn: HTTPConnection) -> ApprovalFlow:
    flow: ApprovalFlow = conn.app.state.approvals
    return flow


ApprovalsDep = Annotated[ApprovalFlow, Depends(get_approvals)]


class ApprovalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approval_id: str = Field(min_length=1, max_length=256)
    decision: str = Field(description="approve | reject | edit (one of the approval's choices)")
    edited_args: dict[str, Any] | None = Field(default=None, description="the tool's arguments, with edit")


@router.post("/v1/runs/{run_id}/approval", status_code=202)
async def answer_approval(
    run_id: str, answer: ApprovalAnswer, approvals: ApprovalsDep, principal: PrincipalDep
) -> JSONResponse:
    """Approve, reject or edit the tool call a paused run waits on; the run resumes in the background."""
    answered = await approvals.answer(
        principal=principal,
        run_id=run_id,
        approval_id=answer.approval_id,
        decision=answer.decision,
        edited_args=answer.edited_args,
    )
    record = answered.record
    body = {
        "run_id": record.run_id,
        "session_id": record.session_id,
        "status": record.status,
        "approval_id": answered.approval.approval_id,
        "decision": answered.approval.decision,
        "stream_url": f"/v1/runs/{record.run_id}/stream",
        "after": answered.after,
    }
    return JSONResponse(body, status_code=202, headers=run_headers(record))


def decision_of_resume_entry(entry: dict[str, Any]) -> tuple[str, str, Any]:
    """An AG-UI `ResumeEntry` as (approval_id, decision, edited_args).

    `status: cancelled` rejects; `resolved` takes `payload.decision` (approve when absent) and
    `payload.editedArgs` / `payload.edited_args`.
    """
    approval_id = entry.get("interruptId") or entry.get("interrupt_id")
    if not isinstance(approval_id, str) or not approval_id:
        raise ValidationFailed("resume[0].interruptId must be the interrupt's id", code="validation_error")
    if entry.get("status") == "cancelled":
        return approval_id, REJECT, None
    payload = entry.get("payload")
    if payload is None:
        return approval_id, APPROVE, None
    if not isinstance(payload, dict):
        raise ValidationFailed(
            "resume[0].payload must be an object {decision, editedArgs?}", code="validation_error"
        )
    decision = payload.get("decision", APPROVE)
    edited = payload.get("editedArgs", payload.get("edited_args"))
    return approval_id, str(decision), edited


async def stream_resumed_agui(
    request: Request,
    resume: list[dict[str, Any]],
    encoder: Encoder,
    *,
    runs: RunsDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> Response:
    """A `RunAgentInput` with `resume`: answer the interrupt, then stream the run's continuation."""
    flow = get_approvals(request)
    if len(resume) != 1:
        raise ValidationFailed(
            "resume must hold exactly one entry (one approval at a time)", code="validation_error"
        )
    approval_id, decision, edited = decision_of_resume_entry(resume[0])
    approval = await flow.desk.store.get(approval_id)
    if approval is None:
        raise ApprovalNotFound("no such approval")
    answered = await flow.answer(
        principal=principal,
        run_id=approval.run_id,
        approval_id=approval_id,
        decision=decision,
        edited_args=edited,
    )
    await prime(runs, encoder, approval.run_id, answered.after)
    return event_stream(
        runs,
        answered.record,
        encoder,
        after=answered.after,
        heartbeat_s=settings.heartbeat_interval_s,
        on_disconnect=ON_DISCONNECT_CONTINUE,
    )
