"""A scripted runtime for the approval tests: a prompt pauses for approval, a resume finishes.

It speaks the runtime event contract (docs/architecture.md) and remembers each session's turns,
so `invoke_json({"action": "history"})` answers like the runtime's checkpointer would.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

SESSION = "sess_" + "0" * 32
ARGS = {"title": "groceries", "text": "milk and eggs"}


def rt(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "timestamp": 1.0, "session_id": SESSION, **fields}


def end(output: str, status: str = "complete") -> dict[str, Any]:
    usage = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    return rt("AGENT_END", status=status, output=output, usage=usage, node_timings_ms={}, duration_ms=1.0)


class ScriptedRuntime:
    """Answers a prompt with a pause for approval (or, for "hello", a plain answer), and a resume
    according to its decision. Records every payload it was sent."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.drained = asyncio.Event()
        self.history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.pending: dict[str, str] = {}  # session -> approval id the graph waits on
        self._count = 0

    def script(self, payload: dict[str, Any], session_id: str) -> list[dict[str, Any]]:
        turns = self.history[session_id]
        if "prompt" in payload:
            turns.append({"role": "user", "content": payload["prompt"]})
            if payload["prompt"] == "hello":
                turns.append({"role": "assistant", "content": "Hello!"})
                return [
                    rt("AGENT_START", model="offline-rules", input="hello"),
                    rt("TOKEN", delta="Hello!", message_id="m0"),
                    end("Hello!"),
                ]
            self._count += 1
            approval_id = f"apr_{self._count}"
            self.pending[session_id] = approval_id
            call = {"id": "tooluse_1", "name": "save_note", "args": ARGS}
            turns.append({"role": "assistant", "content": "", "tool_calls": [call]})
            return [
                rt("AGENT_START", model="offline-rules", input=payload["prompt"]),
                rt("TOOL_CALL", tool="save_note", call_id="tooluse_1", args=ARGS),
                rt(
                    "APPROVAL_REQUIRED",
                    approval_id=approval_id,
                    tool="save_note",
                    call_id="tooluse_1",
                    args=ARGS,
                    choices=["approve", "reject", "edit"],
                ),
                end("", status="interrupted"),
            ]
        resume = payload["resume"]
        if self.pending.pop(session_id, None) != resume["approval_id"]:
            return [rt("ERROR", code="unknown_approval", message="No approval is pending with that id.")]
        args = resume.get("edited_args") or ARGS
        if resume["decision"] == "reject":
            text, result, status = (
                "I did not save the note.",
                "Not run: the user rejected this call.",
                "error",
            )
        else:
            text, result, status = f"Saved {args['title']}.", f"saved {args['title']}.md", "success"
        turns.append({"role": "tool", "content": result, "tool_call_id": "tooluse_1", "name": "save_note"})
        turns.append({"role": "assistant", "content": text})
        return [
            rt("AGENT_START", model="offline-rules", input=""),
            rt("TOOL_RESULT", tool="save_note", call_id="tooluse_1", result=result, status=status),
            rt("TOKEN", delta=text, message_id="m1"),
            end(text),
        ]

    @asynccontextmanager
    async def _open(
        self, payload: dict[str, Any], session_id: str
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        self.payloads.append(payload)
        events = self.script(payload, session_id)

        async def gen() -> AsyncIterator[dict[str, Any]]:
            for e in events:
                await asyncio.sleep(0)
                yield e
            if "resume" in payload:
                self.drained.set()

        yield gen()

    def stream(
        self,
        payload: dict[str, Any],
        session_id: str,
        user_id: str | None = None,
        trace_parent: str | None = None,
    ) -> Any:
        return self._open(payload, session_id)

    async def invoke_json(self, payload: dict[str, Any], session_id: str, **_: Any) -> dict[str, Any]:
        self.payloads.append(payload)
        assert payload == {"action": "history", "session_id": session_id}
        return {"session_id": session_id, "messages": list(self.history.get(session_id, []))}

    async def stop_session(self, session_id: str, user_id: str | None = None) -> None:
        return None
