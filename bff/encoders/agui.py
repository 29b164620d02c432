"""AG-UI (`ag-ui-protocol`): native events -> `ag_ui.core` events, SSE `data:` frames, camelCase.

Mapping (the per-stream state keeps the start/content/end triples well formed):

    start                 RUN_STARTED {threadId: session_id, runId: run_id}
    node_start/node_end   STEP_STARTED / STEP_FINISHED {stepName: node}
    thinking              REASONING_START, REASONING_MESSAGE_START, REASONING_MESSAGE_CONTENT ...
    token                 TEXT_MESSAGE_START {role: assistant}, TEXT_MESSAGE_CONTENT ... (END on close)
    tool_start            TOOL_CALL_START, TOOL_CALL_ARGS {delta: JSON args}, TOOL_CALL_END
    tool_end              TOOL_CALL_RESULT {messageId, toolCallId, content, role: tool}
    tool_progress, other  CUSTOM {name: <native type>, value: <payload>}
    error + done          RUN_ERROR {message, code} (last)
    cancelled + done      RUN_FINISHED {outcome: cancelled}
    done                  RUN_FINISHED {result: output, outcome: success}
    approval_required     CUSTOM {name: approval_required}, remembered for the interrupt below
    interrupted           RUN_FINISHED {outcome: interrupt, interrupts: [approval_interrupt(...)]}
                          (the run pauses; its next event, after the answer, is a new RUN_STARTED)
    approval_expired+done CUSTOM, RUN_FINISHED {outcome: cancelled}

Open text/reasoning messages are closed before a tool call, a step end and the run end, so every
START has its END before RUN_FINISHED / RUN_ERROR.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.core.types import Interrupt

from bff import events as ev
from bff.encoders.base import Encoder, dumps, frames
from bff.events import Event


class AgUiEncoder(Encoder):
    protocol: ClassVar[str] = "ag-ui"

    def __init__(self) -> None:
        self.text_id: str | None = None
        self.reasoning_id: str | None = None
        self.steps: list[str] = []
        self.error: dict[str, Any] | None = None
        self.cancelled = False
        self.ended = False
        self.paused = False  # ended by an interrupt: the run's next event starts a new AG-UI run
        self.approval: dict[str, Any] | None = None  # the last approval_required payload
        self._reasoning_count = 0

    def encode(self, event: Event) -> bytes:
        out = self.convert(event)
        return frames([e.model_dump_json(by_alias=True, exclude_none=True) for e in out], event.seq)

    def prime(self, event: Event) -> None:
        self.convert(event)

    # --- the mapping ---------------------------------------------------------------------

    def convert(self, event: Event) -> list[BaseEvent]:
        if self.ended and not self.paused:
            return []
        kind, data = event.type, event.data
        ts = int(event.ts * 1000)
        out: list[BaseEvent] = []
        if self.paused:  # resumed after an approval: the continuation is a new AG-UI run, same ids
            self.ended = self.paused = False
            out.append(RunStartedEvent(thread_id=event.session_id, run_id=event.run_id, timestamp=ts))
        if kind == ev.START:
            out.append(RunStartedEvent(thread_id=event.session_id, run_id=event.run_id, timestamp=ts))
        elif kind == ev.NODE_START:
            self._close_open(out, ts)
            node = str(data.get("node", "node"))
            self.steps.append(node)
            out.append(StepStartedEvent(step_name=node, timestamp=ts))
        elif kind == ev.NODE_END:
            self._close_open(out, ts)
            node = str(data.get("node", "node"))
            if node in self.steps:
                self.steps.remove(node)
                out.append(StepFinishedEvent(step_name=node, timestamp=ts))
        elif kind == ev.THINKING:
            delta = str(data.get("delta", ""))
            if delta:
                self._close_text(out, ts)
                if self.reasoning_id is None:
                    self._reasoning_count += 1
                    self.reasoning_id = f"{event.run_id}-reasoning-{self._reasoning_count}"
                    out.append(ReasoningStartEvent(message_id=self.reasoning_id, timestamp=ts))
                    out.append(ReasoningMessageStartEvent(message_id=self.reasoning_id, timestamp=ts))
                out.append(
                    ReasoningMessageContentEvent(message_id=self.reasoning_id, delta=delta, timestamp=ts)
                )
        elif kind == ev.TOKEN:
            delta = str(data.get("delta", ""))
            message_id = str(data.get("message_id") or f"{event.run_id}-text")
            if delta:
                self._close_reasoning(out, ts)
                if self.text_id != message_id:
                    self._close_text(out, ts)
                    self.text_id = message_id
                    out.append(TextMessageStartEvent(message_id=message_id, role="assistant", timestamp=ts))
                out.append(TextMessageContentEvent(message_id=message_id, delta=delta, timestamp=ts))
        elif kind == ev.TOOL_START:
            parent = self.text_id
            self._close_open(out, ts)
            call_id = str(data.get("call_id"))
            out.append(
                ToolCallStartEvent(
                    tool_call_id=call_id,
                    tool_call_name=str(data.get("tool")),
                    parent_message_id=parent,
                    timestamp=ts,
                )
            )
            out.append(
                ToolCallArgsEvent(tool_call_id=call_id, delta=dumps(data.get("args") or {}), timestamp=ts)
            )
            out.append(ToolCallEndEvent(tool_call_id=call_id, timestamp=ts))
        elif kind == ev.TOOL_END:
            self._close_open(out, ts)
            call_id = str(data.get("call_id"))
            result = data.get("result")
            out.append(
                ToolCallResultEvent(
                    message_id=f"{call_id}-result",
                    tool_call_id=call_id,
                    content=result if isinstance(result, str) else dumps(result),
                    role="tool",
                    timestamp=ts,
                )
            )
            if data.get("artifact"):
                out.append(CustomEvent(name="artifact", value=data["artifact"], timestamp=ts))
        elif kind == ev.ERROR:
            self.error = {"message": str(data.get("message", "error")), "code": data.get("code")}
        elif kind == ev.CANCELLED:
            self.cancelled = True
        elif kind == ev.APPROVAL_REQUIRED:
            self.approval = dict(data)
            out.append(CustomEvent(name=kind, value=data, timestamp=ts))
        elif kind == ev.INTERRUPTED:
            self._close_all(out, ts)
            outcome = RunFinishedInterruptOutcome(
                interrupts=[approval_interrupt(data, self.approval, event.run_id)]
            )
            out.append(
                RunFinishedEvent(
                    thread_id=event.session_id, run_id=event.run_id, outcome=outcome, timestamp=ts
                )
            )
            self.ended = self.paused = True
        elif kind == ev.DONE:
            self._close_all(out, ts)
            status = data.get("status")
            if self.error is not None or status == "error":
                error = self.error or {"message": "The run failed.", "code": "error"}
                out.append(RunErrorEvent(message=error["message"], code=error.get("code"), timestamp=ts))
            elif self.cancelled or status in ("cancelled", "expired"):
                out.append(
                    RunFinishedEvent(
                        thread_id=event.session_id,
                        run_id=event.run_id,
                        outcome=RunFinishedCancelledOutcome(),
                        timestamp=ts,
                    )
                )
            else:
                out.append(
                    RunFinishedEvent(
                        thread_id=event.session_id,
                        run_id=event.run_id,
                        result=data.get("output"),
                        outcome=RunFinishedSuccessOutcome(),
                        timestamp=ts,
                    )
                )
            self.ended = True
        elif kind in (ev.AGENT_START, ev.MESSAGE):
            out.append(CustomEvent(name=kind, value=data, timestamp=ts))
        else:  # tool_progress and any type added later (approval_required, ...)
            out.append(CustomEvent(name=kind, value=data, timestamp=ts))
        return out

    def _close_text(self, out: list[BaseEvent], ts: int) -> None:
        if self.text_id is not None:
            out.append(TextMessageEndEvent(message_id=self.text_id, timestamp=ts))
            self.text_id = None

    def _close_reasoning(self, out: list[BaseEvent], ts: int) -> None:
        if self.reasoning_id is not None:
            out.append(ReasoningMessageEndEvent(message_id=self.reasoning_id, timestamp=ts))
            out.append(ReasoningEndEvent(message_id=self.reasoning_id, timestamp=ts))
            self.reasoning_id = None

    def _close_open(self, out: list[BaseEvent], ts: int) -> None:
        self._close_reasoning(out, ts)
        self._close_text(out, ts)

    def _close_all(self, out: list[BaseEvent], ts: int) -> None:
        self._close_open(out, ts)
        while self.steps:
            out.append(StepFinishedEvent(step_name=self.steps.pop(), timestamp=ts))


def approval_interrupt(
    interrupted: dict[str, Any], approval: dict[str, Any] | None, run_id: str
) -> Interrupt:
    """The AG-UI interrupt for a run paused on an approval (docs/approvals.md, "Wire formats")."""
    approval = approval or {}
    approval_id = str(interrupted.get("approval_id") or approval.get("approval_id") or f"{run_id}-interrupt")
    tool = approval.get("tool")
    choices = approval.get("choices") or ["approve", "reject", "edit"]
    expires = approval.get("expires_at")
    return Interrupt(
        id=approval_id,
        reason="tool_approval",
        message=f"Allow the tool {tool} to run with these arguments?" if tool else None,
        tool_call_id=approval.get("call_id"),
        response_schema={
            "type": "object",
            "properties": {"decision": {"enum": list(choices)}, "editedArgs": {"type": "object"}},
            "required": ["decision"],
        },
        expires_at=(
            datetime.fromtimestamp(float(expires), UTC).isoformat().replace("+00:00", "Z")
            if isinstance(expires, int | float)
            else None
        ),
        metadata={"tool": tool, "args": approval.get("args") or {}, "choices": list(choices)}
        if tool
        else None,
    )
