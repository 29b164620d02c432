"""Vercel AI SDK UI message stream, protocol v1 (AI SDK 5+, `useChat` with `DefaultChatTransport`).

Header `x-vercel-ai-ui-message-stream: v1`; SSE `data: <json>` parts; `data: [DONE]` at the end.

    start                 {type: start, messageId: run_id}
    node_start/node_end   start-step / finish-step
    thinking              reasoning-start, reasoning-delta ... (reasoning-end on close)
    token                 text-start {id}, text-delta {id, delta} ... (text-end on close)
    tool_start            tool-input-start, tool-input-available {toolCallId, toolName, input}
    tool_end              tool-output-available {output} or tool-output-error {errorText}
    approval_required     tool-approval-request {approvalId, toolCallId} (docs/approvals.md)
    tool_progress         data-tool-progress {id: call_id, data}   (same id: the UI updates it)
    artifact on tool_end  data-artifact {id: artifact id, data}
    error                 error {errorText}
    cancelled             abort {reason}
    done / interrupted    finish {messageMetadata: {run_id, session_id, status, usage}}; after
                          `interrupted`, the resumed run's events start again with `start`
    any later type        data-<type> {data}

Only fields the v1 schema has had since 5.0 are written (its objects are strict), so older and
newer `ai` versions both accept the parts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from bff import events as ev
from bff.encoders.base import Encoder, dumps, frames
from bff.events import Event

DONE_FRAME = b"data: [DONE]\n\n"


class AiSdkEncoder(Encoder):
    protocol: ClassVar[str] = "ai-sdk"

    def __init__(self) -> None:
        self.text_id: str | None = None
        self.reasoning_id: str | None = None
        self.step_open = False
        self.ended = False
        self.paused = False  # ended by `interrupted`: the run's next event starts a new message stream
        self.tool_calls: set[str] = set()
        self._reasoning_count = 0

    def headers(self) -> dict[str, str]:
        return {"x-vercel-ai-ui-message-stream": "v1"}

    def encode(self, event: Event) -> bytes:
        return frames([dumps(part) for part in self.convert(event)], event.seq)

    def prime(self, event: Event) -> None:
        self.convert(event)

    def end(self) -> bytes:
        return DONE_FRAME if self.ended else b""

    def convert(self, event: Event) -> list[dict[str, Any]]:
        if self.ended and not self.paused:
            return []
        kind, data = event.type, event.data
        out: list[dict[str, Any]] = []
        if self.paused:  # resumed after an approval: the same assistant message continues
            self.ended = self.paused = False
            out.append({"type": "start", "messageId": event.run_id})
        if kind == ev.START:
            out.append({"type": "start", "messageId": event.run_id})
        elif kind == ev.NODE_START:
            self._close_open(out)
            if self.step_open:
                out.append({"type": "finish-step"})
            out.append({"type": "start-step"})
            self.step_open = True
        elif kind == ev.NODE_END:
            self._close_open(out)
            if self.step_open:
                out.append({"type": "finish-step"})
                self.step_open = False
        elif kind == ev.THINKING:
            delta = str(data.get("delta", ""))
            if delta:
                self._close_text(out)
                if self.reasoning_id is None:
                    self._reasoning_count += 1
                    self.reasoning_id = f"{event.run_id}-reasoning-{self._reasoning_count}"
                    out.append({"type": "reasoning-start", "id": self.reasoning_id})
                out.append({"type": "reasoning-delta", "id": self.reasoning_id, "delta": delta})
        elif kind == ev.TOKEN:
            delta = str(data.get("delta", ""))
            message_id = str(data.get("message_id") or f"{event.run_id}-text")
            if delta:
                self._close_reasoning(out)
                if self.text_id != message_id:
                    self._close_text(out)
                    self.text_id = message_id
                    out.append({"type": "text-start", "id": message_id})
                out.append({"type": "text-delta", "id": message_id, "delta": delta})
        elif kind == ev.TOOL_START:
            self._close_open(out)
            call_id, tool = str(data.get("call_id")), str(data.get("tool"))
            self.tool_calls.add(call_id)
            out.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": tool})
            out.append(
                {
                    "type": "tool-input-available",
                    "toolCallId": call_id,
                    "toolName": tool,
                    "input": data.get("args") or {},
                }
            )
        elif kind == ev.TOOL_PROGRESS:
            out.append({"type": "data-tool-progress", "id": str(data.get("call_id")), "data": data})
        elif kind == ev.TOOL_END:
            self._close_open(out)
            call_id = str(data.get("call_id"))
            if data.get("status") == "error":
                out.append(
                    {"type": "tool-output-error", "toolCallId": call_id, "errorText": str(data.get("result"))}
                )
            else:
                out.append(
                    {"type": "tool-output-available", "toolCallId": call_id, "output": data.get("result")}
                )
            artifact = data.get("artifact")
            if isinstance(artifact, dict):
                out.append(
                    {"type": "data-artifact", "id": str(artifact.get("id", call_id)), "data": artifact}
                )
        elif kind == ev.APPROVAL_REQUIRED:
            self._close_open(out)
            call_id = str(data.get("call_id"))
            if call_id not in self.tool_calls:  # the approval names a call the stream has not shown
                self.tool_calls.add(call_id)
                tool = str(data.get("tool"))
                out.append({"type": "tool-input-start", "toolCallId": call_id, "toolName": tool})
                out.append(
                    {
                        "type": "tool-input-available",
                        "toolCallId": call_id,
                        "toolName": tool,
                        "input": data.get("args") or {},
                    }
                )
            out.append(
                {
                    "type": "tool-approval-request",
                    "approvalId": str(data.get("approval_id")),
                    "toolCallId": call_id,
                }
            )
        elif kind == ev.ERROR:
            out.append({"type": "error", "errorText": str(data.get("message", "error"))})
        elif kind == ev.CANCELLED:
            self._close_open(out)
            out.append({"type": "abort", "reason": str(data.get("reason", "cancelled"))})
        elif kind in (ev.DONE, ev.INTERRUPTED):
            self._close_open(out)
            if self.step_open:
                out.append({"type": "finish-step"})
                self.step_open = False
            if kind == ev.INTERRUPTED:
                out.append({"type": "data-interrupted", "data": data})
            status = data.get("status", "complete") if kind == ev.DONE else "awaiting_approval"
            metadata = {"run_id": event.run_id, "session_id": event.session_id, "status": status}
            if data.get("usage"):
                metadata["usage"] = data["usage"]
            out.append({"type": "finish", "messageMetadata": metadata})
            self.ended = True
            self.paused = kind == ev.INTERRUPTED
        elif kind in (ev.AGENT_START, ev.MESSAGE, ev.NODE_END):
            pass  # no UI part: the text and tool parts already carry it
        else:  # later types (approval_required, ...) as data parts
            out.append({"type": f"data-{kind.replace('_', '-')}", "data": data})
        return out

    def _close_text(self, out: list[dict[str, Any]]) -> None:
        if self.text_id is not None:
            out.append({"type": "text-end", "id": self.text_id})
            self.text_id = None

    def _close_reasoning(self, out: list[dict[str, Any]]) -> None:
        if self.reasoning_id is not None:
            out.append({"type": "reasoning-end", "id": self.reasoning_id})
            self.reasoning_id = None

    def _close_open(self, out: list[dict[str, Any]]) -> None:
        self._close_reasoning(out)
        self._close_text(out)
