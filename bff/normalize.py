"""Runtime events -> native BFF events, sans-IO.

`RuntimeEventMapper` reads the runtime's upper-case event dicts (docs/architecture.md, "Runtime
event payloads") of ONE upstream invocation (a "leg" of a run) and returns native
`(type, payload)` pairs (docs/events.md). It never emits `start` (the run does) and never assigns
`seq` or `ts` (the event log does); payloads hold only the documented fields, so nothing the
runtime adds by accident (its `session_id`, `timestamp`, internal details) reaches a client.

    mapper = RuntimeEventMapper()
    for runtime_event in upstream:
        for type_, payload in mapper.feed(runtime_event):
            log.append(type_, payload)
    for type_, payload in mapper.finish():     # upstream ended: done(error) if it never finished
        log.append(type_, payload)

Terminal output of a leg, exactly one of:

- `done` (status `complete`) from `AGENT_END`;
- `error` then `done` (status `error`) from `ERROR`, from the SDK's own failure frame
  `{"error", "error_type", "message"}`, from `fail(...)` (the caller saw the upstream break) or
  from `finish()` when the stream ended without a terminal event (code `upstream_incomplete`);
- the marker `("interrupted", {...})` (`bff.events.INTERRUPTED`) from an `AGENT_END` whose status
  is `interrupted`: the graph paused for a human approval. No `done` follows: the run pauses and
  is resumed later by a new leg with a new mapper. Its payload: `approval_id` (of the last
  `approval_required` of this leg, or None), `output`, `usage`, `node_timings_ms`, `duration_ms`.

After a terminal, further runtime events are dropped. `HEARTBEAT` maps to nothing; an unknown
type is dropped with a debug log (a newer runtime must not break an older BFF).

Error codes and messages: a runtime `ERROR` keeps its stable `code` and its message (the runtime
contract says it is safe for users; it is still capped in length). The SDK's failure frame carries
`str(exception)` in `error`, which may hold anything: it is never forwarded; the client gets code
`runtime_error` and a fixed message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from bff import events as ev

log = logging.getLogger(__name__)

NativeEvent = tuple[str, dict[str, Any]]

INTERRUPTED: Final = ev.INTERRUPTED
MAX_ERROR_MESSAGE_CHARS: Final = 500

# Codes a client may retry (same request, later) without changing anything.
RETRYABLE_CODES: Final = frozenset(
    {
        "model_error",
        "model_throttled",
        "runtime_error",
        "upstream_incomplete",
        "upstream_timeout",
        "upstream_bad_gateway",
        "upstream_unavailable",
    }
)

RUNTIME_ERROR_MESSAGE: Final = "The agent failed while answering. Please try again."
INCOMPLETE_MESSAGE: Final = "The agent's answer ended unexpectedly. Please try again."


def _usage(value: Any) -> dict[str, int]:
    usage = value if isinstance(value, dict) else {}
    out = {k: int(usage.get(k) or 0) for k in ("input_tokens", "output_tokens", "total_tokens")}
    if not out["total_tokens"]:
        out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
    return out


def _timestamp(e: dict[str, Any]) -> float | None:
    ts = e.get("timestamp")
    return float(ts) if isinstance(ts, int | float) else None


class RuntimeEventMapper:
    """Maps one upstream leg's runtime events to native `(type, payload)` pairs."""

    __slots__ = (
        "_approval_id",
        "_clock",
        "_handlers",
        "_node_timings",
        "_started",
        "_tool_started",
        "_usage",
        "terminated",
    )

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        # call_id -> (runtime timestamp or None, our clock): the runtime's clock when both ends carry it
        self._tool_started: dict[str, tuple[float | None, float]] = {}
        self._usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        self._node_timings: dict[str, float] = {}
        self._approval_id: str | None = None
        self.terminated: str | None = None  # "done", "error" or "interrupted" once the leg is over
        self._handlers: dict[str, Callable[[dict[str, Any]], list[NativeEvent]]] = {
            "TOKEN": self._token,
            "AGENT_START": self._agent_start,
            "NODE_START": self._node_start,
            "NODE_END": self._node_end,
            "THINKING": self._thinking,
            "TOOL_CALL": self._tool_call,
            "TOOL_PROGRESS": self._tool_progress,
            "TOOL_RESULT": self._tool_result,
            "LLM_RESPONSE": self._llm_response,
            "AGENT_END": self._agent_end,
            "ERROR": self._error,
            "APPROVAL_REQUIRED": self._approval_required,
            "HEARTBEAT": self._nothing,
        }

    # --- public API -------------------------------------------------------------------------

    def feed(self, runtime_event: dict[str, Any]) -> list[NativeEvent]:
        if self.terminated is not None:
            log.debug("runtime event after the end of the leg dropped: %s", runtime_event.get("type"))
            return []
        kind = runtime_event.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            return handler(runtime_event)
        if kind is None and "error" in runtime_event and "error_type" in runtime_event:
            log.warning("runtime failed mid-stream: %s", runtime_event.get("error_type"))
            return self.fail("runtime_error", RUNTIME_ERROR_MESSAGE)
        log.debug("unknown runtime event type dropped: %r", kind)
        return []

    def finish(self) -> list[NativeEvent]:
        """The upstream stream ended. If the leg never reached a terminal event, it failed."""
        if self.terminated is not None:
            return []
        return self.fail("upstream_incomplete", INCOMPLETE_MESSAGE)

    def fail(self, code: str, message: str, *, retryable: bool | None = None) -> list[NativeEvent]:
        """`error` then `done(error)`, unless the leg is already over (then nothing)."""
        if self.terminated is not None:
            return []
        self.terminated = "error"
        if retryable is None:
            retryable = code in RETRYABLE_CODES
        error = {"code": code, "message": message[:MAX_ERROR_MESSAGE_CHARS], "retryable": retryable}
        return [(ev.ERROR, error), (ev.DONE, self._done_payload("error", "", None, None, None))]

    # --- handlers ---------------------------------------------------------------------------

    def _nothing(self, e: dict[str, Any]) -> list[NativeEvent]:
        return []

    def _token(self, e: dict[str, Any]) -> list[NativeEvent]:
        return [(ev.TOKEN, {"delta": e.get("delta", ""), "message_id": e.get("message_id")})]

    def _agent_start(self, e: dict[str, Any]) -> list[NativeEvent]:
        return [(ev.AGENT_START, {"model": e.get("model")})]

    def _node_start(self, e: dict[str, Any]) -> list[NativeEvent]:
        return [(ev.NODE_START, {"node": e.get("node")})]

    def _node_end(self, e: dict[str, Any]) -> list[NativeEvent]:
        node, duration = e.get("node"), e.get("duration_ms")
        if isinstance(node, str) and isinstance(duration, int | float):
            self._node_timings[node] = self._node_timings.get(node, 0.0) + duration
        return [(ev.NODE_END, {"node": node, "duration_ms": duration})]

    def _thinking(self, e: dict[str, Any]) -> list[NativeEvent]:
        return [(ev.THINKING, {"delta": e.get("delta", "")})]

    def _tool_call(self, e: dict[str, Any]) -> list[NativeEvent]:
        call_id = e.get("call_id")
        if isinstance(call_id, str):
            self._tool_started[call_id] = (_timestamp(e), self._clock())
        return [(ev.TOOL_START, {"tool": e.get("tool"), "call_id": call_id, "args": e.get("args") or {}})]

    def _tool_progress(self, e: dict[str, Any]) -> list[NativeEvent]:
        payload = {
            "tool": e.get("tool"),
            "call_id": e.get("call_id"),
            "progress": e.get("progress"),
            "message": e.get("message", ""),
        }
        if e.get("artifact") is not None:
            payload["artifact"] = e["artifact"]
        return [(ev.TOOL_PROGRESS, payload)]

    def _tool_result(self, e: dict[str, Any]) -> list[NativeEvent]:
        call_id = e.get("call_id")
        payload: dict[str, Any] = {
            "tool": e.get("tool"),
            "call_id": call_id,
            "result": e.get("result"),
            "status": e.get("status", "success"),
        }
        started = self._tool_started.pop(call_id, None) if isinstance(call_id, str) else None
        if started is not None:
            began, ended = started[0], _timestamp(e)
            seconds = ended - began if began is not None and ended is not None else self._clock() - started[1]
            payload["duration_ms"] = round(max(0.0, seconds) * 1000.0, 3)
        if e.get("artifact") is not None:
            payload["artifact"] = e["artifact"]
        return [(ev.TOOL_END, payload)]

    def _llm_response(self, e: dict[str, Any]) -> list[NativeEvent]:
        raw = e.get("message")
        message: dict[str, Any] = raw if isinstance(raw, dict) else {}
        payload: dict[str, Any] = {
            "message_id": message.get("id"),
            "content": message.get("content", ""),
            "tool_calls": message.get("tool_calls") or [],
        }
        if message.get("usage") is not None:
            usage = _usage(message["usage"])
            payload["usage"] = usage
            for key, value in usage.items():
                self._usage[key] += value
        return [(ev.MESSAGE, payload)]

    def _approval_required(self, e: dict[str, Any]) -> list[NativeEvent]:
        self._approval_id = e.get("approval_id")
        return [
            (
                ev.APPROVAL_REQUIRED,
                {
                    "approval_id": e.get("approval_id"),
                    "tool": e.get("tool"),
                    "call_id": e.get("call_id"),
                    "args": e.get("args") or {},
                    "choices": e.get("choices") or ["approve", "reject", "edit"],
                },
            )
        ]

    def _agent_end(self, e: dict[str, Any]) -> list[NativeEvent]:
        output = e.get("output") or ""
        payload = self._done_payload(
            "complete", output, e.get("usage"), e.get("node_timings_ms"), e.get("duration_ms")
        )
        if e.get("status") == "interrupted":
            self.terminated = INTERRUPTED
            del payload["status"]
            return [(INTERRUPTED, {"approval_id": self._approval_id, **payload})]
        self.terminated = ev.DONE
        return [(ev.DONE, payload)]

    def _error(self, e: dict[str, Any]) -> list[NativeEvent]:
        code, message, retryable = e.get("code"), e.get("message"), e.get("retryable")
        return self.fail(
            code if isinstance(code, str) and code else "runtime_error",
            message if isinstance(message, str) and message else RUNTIME_ERROR_MESSAGE,
            retryable=retryable if isinstance(retryable, bool) else None,
        )

    # --- helpers ----------------------------------------------------------------------------

    def _done_payload(
        self, status: str, output: str, usage: Any, node_timings: Any, duration_ms: Any
    ) -> dict[str, Any]:
        return {
            "status": status,
            "output": output,
            "usage": _usage(usage) if usage is not None else dict(self._usage),
            "node_timings_ms": node_timings if isinstance(node_timings, dict) else dict(self._node_timings),
            "duration_ms": duration_ms
            if isinstance(duration_ms, int | float)
            else round((self._clock() - self._started) * 1000.0, 3),
        }
