"""A scripted stand-in for `AgentCoreClient`, shared by the runs, routes, encoder and WebSocket tests.

The prompt picks the script (runtime event dicts as docs/architecture.md describes them):

    "hello"          agent start, a few tokens, done
    "tool"           a tool call with progress and an artifact, then the answer
    "long <n>"       n tokens (resume tests)
    "think"          reasoning, then an answer
    "hold"           starts, then stays silent until the stream is closed (cancel, disconnect tests)
    "gate <name>"    starts, waits for `fake.gate(name)`, then answers
    "fail open <c>"  the invoke itself fails with the UpstreamError of code c (before the first byte)
    "fail mid"       a token, then the stream breaks (UpstreamTimeout)
    "runtime error"  the runtime reports ERROR (code model_error)
    "truncated"      a token, then the stream just ends (no AGENT_END)
    "pause break"    AGENT_END interrupted, then the connection breaks ("done break": complete)

It records what a real runtime would see: the payloads, StopRuntimeSession calls, open streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import ASGIApp

from bff.exceptions import UpstreamBadGateway, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tests.e2e.servers import serve as serve_app

_FAILURES: dict[str, type[UpstreamError]] = {
    "upstream_unavailable": UpstreamUnavailable,
    "upstream_timeout": UpstreamTimeout,
    "upstream_bad_gateway": UpstreamBadGateway,
}


def rt(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "timestamp": 1763790000.0, "session_id": "s", **fields}


def end(output: str) -> dict[str, Any]:
    return rt(
        "AGENT_END",
        status="complete",
        output=output,
        node_timings_ms={"agent": 1.0},
        usage={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        duration_ms=2.0,
    )


def answer(text: str, message_id: str = "msg_1") -> list[dict[str, Any]]:
    return [rt("TOKEN", delta=word, message_id=message_id) for word in text.split(" ") if word] + [
        rt(
            "LLM_RESPONSE",
            message={"id": message_id, "content": text, "tool_calls": [], "usage": {"input_tokens": 3}},
        )
    ]


ARTIFACT = {
    "id": "art_1",
    "kind": "table",
    "title": "Rows",
    "status": "final",
    "columns": ["a", "b"],
    "rows": [[1, 2]],
}


def script_for(prompt: str) -> list[Any]:
    start = [rt("AGENT_START", model="offline-rules", input=prompt), rt("NODE_START", node="agent")]
    if prompt == "hello":
        return [
            *start,
            *answer("Hello there friend"),
            rt("NODE_END", node="agent", duration_ms=1.0),
            end("Hello there friend"),
        ]
    if prompt == "think":
        return [
            *start,
            rt("THINKING", delta="Let me "),
            rt("THINKING", delta="think."),
            *answer("Done thinking"),
            rt("NODE_END", node="agent", duration_ms=1.0),
            end("Done thinking"),
        ]
    if prompt == "tool":
        return [
            *start,
            *answer("Let me compute", "msg_1"),
            rt("TOOL_CALL", tool="calculator", call_id="tooluse_1", args={"expression": "5+5"}),
            rt("NODE_END", node="agent", duration_ms=1.0),
            rt("NODE_START", node="tools"),
            rt("TOOL_PROGRESS", tool="calculator", call_id="tooluse_1", progress=0.5, message="half"),
            rt(
                "TOOL_RESULT",
                tool="calculator",
                call_id="tooluse_1",
                result="10",
                status="success",
                artifact=ARTIFACT,
            ),
            rt("TOOL_CALL", tool="broken", call_id="tooluse_2", args={}),
            rt("TOOL_RESULT", tool="broken", call_id="tooluse_2", result="it broke", status="error"),
            rt("NODE_END", node="tools", duration_ms=1.0),
            rt("NODE_START", node="agent"),
            *answer("The answer is 10", "msg_2"),
            rt("NODE_END", node="agent", duration_ms=1.0),
            end("Let me compute The answer is 10"),
        ]
    if prompt.startswith("long "):
        n = int(prompt.split()[1])
        tokens = [rt("TOKEN", delta=f"t{i} ", message_id="msg_1") for i in range(n)]
        return [*start, *tokens, rt("NODE_END", node="agent", duration_ms=1.0), end("long")]
    if prompt == "hold":
        return [*start, ("hold",)]
    if prompt.startswith("gate "):
        return [*start, ("gate", prompt.split()[1]), *answer("after the gate"), end("after the gate")]
    if prompt.startswith("fail open "):
        code = prompt.split()[2]
        return [("fail_open", _FAILURES[code]("The agent runtime is not available right now."))]
    if prompt == "fail mid":
        return [
            *start,
            rt("TOKEN", delta="partial", message_id="m"),
            ("raise", UpstreamTimeout("The agent took too long.")),
        ]
    if prompt == "runtime error":
        return [*start, rt("ERROR", code="model_error", message="The model failed.")]
    if prompt in ("pause break", "done break"):
        status = "interrupted" if prompt == "pause break" else "complete"
        last = {**end(""), "status": status}
        return [*start, last, ("raise", UpstreamBadGateway("The agent runtime failed."))]
    if prompt == "truncated":
        return [*start, rt("TOKEN", delta="partial", message_id="m")]
    return [*start, *answer(f"echo {prompt}"), end(f"echo {prompt}")]


class FakeUpstream:
    """Implements the `AgentCoreClient` interface the run manager uses."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.stop_called = asyncio.Event()
        self.open_streams = 0
        self.closed = asyncio.Event()  # a stream was closed before its script ended
        self.holding = asyncio.Event()  # a "hold" script reached its silent part
        self._gates: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def gate(self, name: str) -> asyncio.Event:
        return self._gates[name]

    def stream(
        self,
        payload: dict[str, Any],
        session_id: str,
        user_id: str | None = None,
        trace_parent: str | None = None,
    ) -> Any:
        return self._open(payload, session_id)

    @asynccontextmanager
    async def _open(
        self, payload: dict[str, Any], session_id: str
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        self.payloads.append(payload)
        script = script_for(str(payload.get("prompt", "")))
        if script and isinstance(script[0], tuple) and script[0][0] == "fail_open":
            raise script[0][1]
        self.open_streams += 1
        finished = False

        async def events() -> AsyncIterator[dict[str, Any]]:
            nonlocal finished
            for step in script:
                await asyncio.sleep(0)
                if isinstance(step, dict):
                    yield {**step, "session_id": session_id}
                elif step[0] == "hold":
                    self.holding.set()
                    await asyncio.Event().wait()
                elif step[0] == "gate":
                    await self._gates[step[1]].wait()
                elif step[0] == "raise":
                    raise step[1]
            finished = True

        try:
            yield events()
        finally:
            self.open_streams -= 1
            if not finished:
                self.closed.set()

    async def stop_session(self, session_id: str, user_id: str | None = None) -> bool:
        self.stopped.append(session_id)
        self.stop_called.set()
        return True

    async def invoke_json(
        self, payload: dict[str, Any], session_id: str, user_id: str | None = None
    ) -> dict[str, Any]:
        return {"session_id": session_id, "messages": []}


def serve(app: ASGIApp) -> contextlib.AbstractAsyncContextManager[str]:
    """Run an ASGI app with uvicorn on a free loopback port, shutting down gracefully."""
    return serve_app(app, force_exit=False)
