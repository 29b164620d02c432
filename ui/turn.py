"""One assistant answer as the UI shows it, built from native BFF events (sans-IO).

`Turn.apply(event)` folds one native event (docs/events.md) into the turn and says what changed,
so the page re-renders only that part. The answer is an ordered list of blocks, in the order they
happened: text, tool calls, artifacts and approval requests interleave as the agent works.

Events are applied at most once: an event whose `seq` is not above the last applied one is
ignored. That is what makes resuming safe: after a Stop or a dropped connection the UI follows the
run again from its last id, and a page reload replays the run from the start into a fresh `Turn`;
either way no text is duplicated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

TurnStatus = Literal["streaming", "awaiting_approval", "complete", "error", "cancelled"]
FINISHED: frozenset[str] = frozenset({"complete", "error", "cancelled"})

# What `apply` reports as changed besides a block index.
THINKING = "thinking"
STATUS = "status"


@dataclass(slots=True)
class TextBlock:
    text: str = ""
    message_id: str | None = None
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ToolBlock:
    call_id: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    progress: float | None = None
    message: str = ""
    result: str | None = None
    status: Literal["running", "success", "error", "stopped"] = "running"
    duration_ms: float | None = None
    kind: Literal["tool"] = "tool"


@dataclass(slots=True)
class ArtifactBlock:
    artifact: dict[str, Any]
    kind: Literal["artifact"] = "artifact"

    @property
    def id(self) -> str:
        return str(self.artifact.get("id", ""))


@dataclass(slots=True)
class ApprovalBlock:
    approval_id: str
    tool: str
    call_id: str
    args: dict[str, Any] = field(default_factory=dict)
    choices: list[str] = field(default_factory=lambda: ["approve", "reject", "edit"])
    decision: str | None = None  # set once the person decided
    edited_args: dict[str, Any] | None = None
    kind: Literal["approval"] = "approval"


Block = TextBlock | ToolBlock | ArtifactBlock | ApprovalBlock


@dataclass(slots=True)
class Turn:
    """A question and the answer the agent is giving (or gave) to it."""

    prompt: str
    run_id: str | None = None
    session_id: str | None = None
    blocks: list[Block] = field(default_factory=list)
    thinking: str = ""
    status: TurnStatus = "streaming"
    last_seq: int = 0
    error: dict[str, Any] | None = None
    stopped: bool = False  # `cancelled` seen; `done` follows
    usage: dict[str, Any] = field(default_factory=dict)
    node_timings_ms: dict[str, float] = field(default_factory=dict)
    duration_ms: float | None = None
    started_ts: float | None = None  # server time of `start`
    first_token_ts: float | None = None
    finished_ts: float | None = None
    created: float = field(default_factory=time.time)  # client clock: the elapsed timer's origin

    # --- derived views -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))

    @property
    def has_output(self) -> bool:
        return any(not isinstance(b, TextBlock) or b.text for b in self.blocks)

    @property
    def pending_approval(self) -> ApprovalBlock | None:
        for block in reversed(self.blocks):
            if isinstance(block, ApprovalBlock) and block.decision is None:
                return block
        return None

    @property
    def ttft_s(self) -> float | None:
        """Time to first token, by the BFF's clock (so a replayed run reports the same)."""
        if self.started_ts is None or self.first_token_ts is None:
            return None
        return max(0.0, self.first_token_ts - self.started_ts)

    @property
    def total_s(self) -> float | None:
        if self.duration_ms is not None:
            return self.duration_ms / 1000
        if self.started_ts is None or self.finished_ts is None:
            return None
        return max(0.0, self.finished_ts - self.started_ts)

    # --- folding events ------------------------------------------------------------------------
    def fail(self, code: str, message: str, *, retryable: bool = True) -> None:
        """An error the UI itself saw (the BFF unreachable, a stream that could not be resumed)."""
        self.error = {"code": code, "message": message, "retryable": retryable}
        self.status = "error"

    def apply(self, event: dict[str, Any]) -> set[int | str]:
        """Fold one native event in; return what changed: block indexes, `THINKING`, `STATUS`.
        Empty when nothing visible changed or the event was already applied."""
        seq = event.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            if seq <= self.last_seq:
                return set()
            self.last_seq = seq
        handler = getattr(self, f"_on_{event.get('type', '')}", None)
        if handler is None:
            return set()  # an event type this UI does not show (node_start, agent_start, ...)
        changed = handler(event)
        if changed is None:
            return set()
        if isinstance(changed, tuple):
            return {c for c in changed if c is not None}
        return {changed}

    def _on_start(self, event: dict[str, Any]) -> str:
        self.run_id = event.get("run_id", self.run_id)
        self.session_id = event.get("session_id", self.session_id)
        self.started_ts = _number(event.get("ts"))
        return STATUS

    def _on_thinking(self, event: dict[str, Any]) -> str:
        self.thinking += str(event.get("delta", ""))
        return THINKING

    def _on_token(self, event: dict[str, Any]) -> int:
        if self.first_token_ts is None:
            self.first_token_ts = _number(event.get("ts"))
        message_id = event.get("message_id")
        last = self.blocks[-1] if self.blocks else None
        if not isinstance(last, TextBlock) or (message_id and last.message_id not in (None, message_id)):
            last = TextBlock(message_id=message_id)
            self.blocks.append(last)
        last.message_id = last.message_id or message_id
        last.text += str(event.get("delta", ""))
        return len(self.blocks) - 1

    def _on_message(self, event: dict[str, Any]) -> int | None:
        """A complete model message: only shown when its text did not stream as tokens."""
        content = event.get("content")
        if not isinstance(content, str) or not content:
            return None
        message_id = event.get("message_id")
        if any(isinstance(b, TextBlock) and b.message_id == message_id for b in self.blocks):
            return None
        if message_id is None and self.text:
            return None
        self.blocks.append(TextBlock(text=content, message_id=message_id))
        if self.first_token_ts is None:
            self.first_token_ts = _number(event.get("ts"))
        return len(self.blocks) - 1

    def _tool(self, call_id: str) -> int | None:
        for index, block in enumerate(self.blocks):
            if isinstance(block, ToolBlock) and block.call_id == call_id:
                return index
        return None

    def _tool_for(self, event: dict[str, Any]) -> int:
        call_id = str(event.get("call_id", ""))
        index = self._tool(call_id)
        if index is None:  # progress or a result for a call we did not see start: show it anyway
            self.blocks.append(ToolBlock(call_id=call_id, tool=str(event.get("tool", "tool"))))
            index = len(self.blocks) - 1
        return index

    def _on_tool_start(self, event: dict[str, Any]) -> int:
        index = self._tool_for(event)
        block = self.blocks[index]
        assert isinstance(block, ToolBlock)
        args = event.get("args")
        block.args = args if isinstance(args, dict) else {"input": args}
        return index

    def _on_tool_progress(self, event: dict[str, Any]) -> tuple[int, int | None]:
        index = self._tool_for(event)
        block = self.blocks[index]
        assert isinstance(block, ToolBlock)
        progress = _number(event.get("progress"))
        if progress is not None:
            block.progress = min(1.0, max(0.0, progress))
        block.message = str(event.get("message") or block.message)
        return index, self._artifact(event.get("artifact"))

    def _on_tool_end(self, event: dict[str, Any]) -> tuple[int, int | None]:
        index = self._tool_for(event)
        block = self.blocks[index]
        assert isinstance(block, ToolBlock)
        block.result = "" if event.get("result") is None else str(event.get("result"))
        block.status = "error" if event.get("status") == "error" else "success"
        block.duration_ms = _number(event.get("duration_ms"))
        if block.status == "success":
            block.progress = 1.0
        return index, self._artifact(event.get("artifact"))

    def _artifact(self, artifact: Any) -> int | None:
        """Insert or update an artifact block by id; it stays where it first appeared."""
        if not isinstance(artifact, dict):
            return None
        key = str(artifact.get("id", ""))
        for index, block in enumerate(self.blocks):
            if isinstance(block, ArtifactBlock) and block.id == key:
                block.artifact = artifact
                return index
        self.blocks.append(ArtifactBlock(artifact=artifact))
        return len(self.blocks) - 1

    def _on_approval_required(self, event: dict[str, Any]) -> int:
        args = event.get("args")
        choices = event.get("choices")
        self.blocks.append(
            ApprovalBlock(
                approval_id=str(event.get("approval_id", "")),
                tool=str(event.get("tool", "tool")),
                call_id=str(event.get("call_id", "")),
                args=args if isinstance(args, dict) else {"input": args},
                choices=list(choices) if isinstance(choices, list) else ["approve", "reject", "edit"],
            )
        )
        return len(self.blocks) - 1

    def _on_interrupted(self, event: dict[str, Any]) -> str:
        if self.pending_approval is not None:
            self.status = "awaiting_approval"
        return STATUS

    def _on_error(self, event: dict[str, Any]) -> str:
        self.error = {
            "code": str(event.get("code", "error")),
            "message": str(event.get("message") or "Something went wrong."),
            "retryable": bool(event.get("retryable", True)),
        }
        return STATUS

    def _on_approval_expired(self, event: dict[str, Any]) -> str:
        message = str(event.get("message") or "Nobody answered the approval request in time.")
        self.error = {"code": "approval_expired", "message": message, "retryable": True}
        return STATUS

    def _on_cancelled(self, event: dict[str, Any]) -> str:
        self.stopped = True
        return STATUS

    def _on_done(self, event: dict[str, Any]) -> str:
        status = event.get("status")
        if status == "cancelled" or self.stopped:
            self.status = "cancelled"
        elif status == "error" or self.error is not None:
            self.status = "error"
            if self.error is None:
                self.error = {
                    "code": "error",
                    "message": "The agent stopped with an error.",
                    "retryable": True,
                }
        else:
            self.status = "complete"
        for block in self.blocks:  # a call the run ended without (stopped, or not approved)
            if isinstance(block, ToolBlock) and block.status == "running":
                block.status = "stopped"
        output = event.get("output")
        if isinstance(output, str) and output and not self.text and self.status == "complete":
            self.blocks.append(TextBlock(text=output))
        usage = event.get("usage")
        self.usage = usage if isinstance(usage, dict) else {}
        timings = event.get("node_timings_ms")
        self.node_timings_ms = timings if isinstance(timings, dict) else {}
        self.duration_ms = _number(event.get("duration_ms"))
        self.finished_ts = _number(event.get("ts"))
        return STATUS

    def decide(self, decision: str, edited_args: dict[str, Any] | None = None) -> ApprovalBlock | None:
        """Record the person's answer to the pending approval; the run then continues."""
        block = self.pending_approval
        if block is None:
            return None
        block.decision = decision
        block.edited_args = edited_args
        self.status = "streaming"
        return block


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
