"""A scripted stand-in for the BFF's HTTP API (docs/events.md), for the UI's tests.

`FakeBff` keeps runs like the BFF does: every run has an event log with `seq` 1, 2, 3, ...; the
chat stream serves it (optionally cut short, as a dropped connection or an interrupted script
would), `GET /v1/runs/{id}/stream` replays after `Last-Event-ID`, cancel appends `cancelled` and
`done`, an approval answer appends the rest of the script. It is used two ways:

- `FakeBff.transport()`: an `httpx.MockTransport` for Streamlit's `AppTest` (no sockets);
- `fake_bff_app(...)`: the same logic as an ASGI app served by uvicorn, streaming with real delays,
  for the browser tests of behaviour the real stack cannot be made to show on demand.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

SESSION = "session-0123456789abcdef0123456789abcdef"


def frame(event: dict[str, Any]) -> bytes:
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def tokens(text: str, message_id: str = "m1") -> list[dict[str, Any]]:
    return [{"type": "token", "delta": word, "message_id": message_id} for word in _split(text)]


def _split(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def done(output: str = "", status: str = "complete") -> dict[str, Any]:
    return {
        "type": "done",
        "status": status,
        "output": output,
        "usage": {"input_tokens": 12, "output_tokens": 34, "total_tokens": 46},
        "node_timings_ms": {"agent": 120.0, "tools": 30.5},
        "duration_ms": 1500.0,
    }


ARTIFACT_ROWS = [[1, 2.0], [2, 4.0], [3, 6.0]]


def scenario(message: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events before an approval pause or all of them, events after the approval)."""
    text = message.lower()
    if "calc" in text:
        return [
            {"type": "agent_start", "model": "offline-rules"},
            {"type": "node_start", "node": "agent"},
            {"type": "tool_start", "tool": "calculator", "call_id": "c1", "args": {"expression": "5+5"}},
            {
                "type": "tool_progress",
                "tool": "calculator",
                "call_id": "c1",
                "progress": 0.5,
                "message": "adding",
            },
            {
                "type": "tool_end",
                "tool": "calculator",
                "call_id": "c1",
                "result": "10",
                "status": "success",
                "duration_ms": 12.0,
            },
            *tokens("The answer is 10."),
            done("The answer is 10."),
        ], []
    if "stats" in text:
        table = {"id": "a1", "kind": "table", "title": "Summary", "columns": ["n", "mean"]}
        chart = {
            "id": "a2",
            "kind": "chart",
            "title": "Trend",
            "columns": ["n", "mean"],
            "x": "n",
            "y": "mean",
        }
        return [
            {"type": "tool_start", "tool": "statistics", "call_id": "s1", "args": {"dataset": "demo"}},
            {
                "type": "tool_progress",
                "tool": "statistics",
                "call_id": "s1",
                "progress": 0.3,
                "message": "reading",
                "artifact": {**table, "status": "in_progress", "rows": ARTIFACT_ROWS[:1]},
            },
            {
                "type": "tool_progress",
                "tool": "statistics",
                "call_id": "s1",
                "progress": 0.7,
                "message": "summing",
                "artifact": {**chart, "status": "in_progress", "rows": ARTIFACT_ROWS[:2]},
            },
            {
                "type": "tool_end",
                "tool": "statistics",
                "call_id": "s1",
                "result": '{"mean": 4.0}',
                "status": "success",
                "duration_ms": 2100.0,
                "artifact": {**table, "status": "final", "rows": ARTIFACT_ROWS},
            },
            {
                "type": "tool_progress",
                "tool": "statistics",
                "call_id": "s1",
                "progress": 1.0,
                "message": "charted",
                "artifact": {**chart, "status": "final", "rows": ARTIFACT_ROWS},
            },
            *tokens("The mean is 4."),
            done("The mean is 4."),
        ], []
    if "fail" in text:
        return [
            *tokens("Let me"),
            {
                "type": "error",
                "code": "model_error",
                "message": "The model is unavailable right now.",
                "retryable": True,
            },
            done(status="error"),
        ], []
    if "approve" in text:
        return [
            {
                "type": "approval_required",
                "approval_id": "ap1",
                "tool": "delete_file",
                "call_id": "d1",
                "args": {"path": "/tmp/x"},
                "choices": ["approve", "reject", "edit"],
            },
            {"type": "interrupted", "reason": "approval_required"},
        ], [
            {"type": "tool_start", "tool": "delete_file", "call_id": "d1", "args": {"path": "/tmp/x"}},
            {
                "type": "tool_end",
                "tool": "delete_file",
                "call_id": "d1",
                "result": "deleted",
                "status": "success",
                "duration_ms": 5.0,
            },
            *tokens("Done, the file is gone."),
            done("Done, the file is gone."),
        ]
    if "long" in text:
        steps = [
            {
                "type": "tool_progress",
                "tool": "long_statistics",
                "call_id": "l1",
                "progress": i / 100,
                "message": f"step {i}",
            }
            for i in range(1, 100)
        ]
        return [
            {"type": "tool_start", "tool": "long_statistics", "call_id": "l1", "args": {"rows": 1000}},
            *steps,
            {
                "type": "tool_end",
                "tool": "long_statistics",
                "call_id": "l1",
                "result": "ok",
                "status": "success",
                "duration_ms": 9000.0,
            },
            *tokens("All done."),
            done("All done."),
        ], []
    answer = "Hello there! I am a scripted fake of the BFF, streaming this answer word by word so the page can show it growing."
    return [
        {"type": "agent_start", "model": "offline-rules"},
        {"type": "thinking", "delta": "The user greets me."},
        *tokens(answer),
        done(answer),
    ], []


@dataclass
class Run:
    """A run's event log; each event becomes visible at its `due` time (monotonic clock), as if
    the agent produced it then. Listeners see only what is due, like the BFF's live log."""

    run_id: str
    session_id: str
    message: str
    delay_s: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    due: list[float] = field(default_factory=list)
    after_approval: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False

    def log(self, event: dict[str, Any], *, hold: bool = False) -> None:
        now = time.monotonic()
        due = float("inf") if hold else max(self.due[-1] if self.due else now, now) + self.delay_s
        self.events.append(
            {
                **event,
                "run_id": self.run_id,
                "session_id": self.session_id,
                "seq": len(self.events) + 1,
                "ts": time.time(),
            }
        )
        self.due.append(due)

    def visible(self, after: int = 0) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [e for e, due in zip(self.events, self.due, strict=True) if due <= now and e["seq"] > after]

    @property
    def over(self) -> bool:
        last = self.visible()
        return bool(last) and last[-1]["type"] in ("done", "interrupted")


class FakeBff:
    """The BFF's routes the UI calls, over one in-memory run store. `requests` records them."""

    def __init__(
        self,
        *,
        sessions: list[dict[str, Any]] | None = None,
        cut_after: int | None = None,
        hold_after: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.runs: dict[str, Run] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.sessions = sessions  # None: the BFF does not offer the list (404)
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.cut_after = cut_after  # the chat stream stops after this many events (connection drop)
        self.hold_after = hold_after  # the run itself stops progressing after this many events
        self.delay_s = delay_s  # the run produces one event every delay_s
        self.unreachable = False
        self.chat_status: tuple[int, dict[str, Any]] | None = None  # an error before the stream opens
        self.approval_status: tuple[int, dict[str, Any]] | None = None  # refuse approval answers so
        self.require_token: str | None = None  # every route but /healthz wants `Bearer <this>`
        self._changed = threading.Condition()

    def wait_for(self, predicate: Callable[[FakeBff], bool], timeout: float = 30.0) -> None:
        """Block until `predicate(self)` holds after some request (for tests in another thread)."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout=timeout):
                raise TimeoutError("the fake BFF never saw what the test waited for")

    # --- shared logic -----------------------------------------------------------------------
    def start(self, body: dict[str, Any]) -> Run:
        run = Run(
            run_id=f"run_{len(self.runs) + 1}",
            session_id=body.get("session_id") or SESSION,
            message=body["message"],
            delay_s=self.delay_s,
        )
        self.runs[run.run_id] = run
        before, after = scenario(run.message)
        for event in [{"type": "start", "schema_version": "1", "protocol": "native"}, *before]:
            run.log(event, hold=self.hold_after is not None and len(run.events) >= self.hold_after)
        run.after_approval = after
        return run

    def cancel(self, run: Run) -> None:
        if run.over:
            return
        run.cancelled = True
        keep = len(run.visible())
        del run.events[keep:], run.due[keep:]
        run.delay_s = 0.0
        run.log({"type": "cancelled"})
        run.log(done(status="cancelled"))

    def approve(self, run: Run, body: dict[str, Any]) -> None:
        if body.get("decision") == "reject":
            run.log(
                {
                    "type": "tool_end",
                    "tool": "delete_file",
                    "call_id": "d1",
                    "result": "rejected by the user",
                    "status": "error",
                }
            )
            run.log(done("I did not delete it.", status="complete"))
            return
        for event in run.after_approval:
            run.log(event)

    def route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        """(status, JSON body or list of events to stream)."""
        with self._changed:
            self.requests.append((method, path, headers, body))
            self._changed.notify_all()
        parts = path.strip("/").split("/")
        if path == "/healthz":
            return 200, {"status": "ok"}
        if self.require_token is not None and headers.get("authorization") != f"Bearer {self.require_token}":
            code = "invalid_token" if headers.get("authorization") else "unauthorized"
            return 401, {"error": {"code": code, "message": "Authentication required."}}
        if path == "/v1/sessions":
            return (
                (404, {"error": {"code": "not_found", "message": "no"}})
                if self.sessions is None
                else (200, {"sessions": self.sessions})
            )
        if parts[:2] == ["v1", "sessions"] and parts[-1] == "messages":
            history = self.history.get(parts[2])
            return (
                (404, {"error": {"code": "not_found", "message": "no"}})
                if history is None
                else (200, {"session_id": parts[2], "messages": history})
            )
        if path == "/v1/chat/stream":
            if self.chat_status is not None:
                return self.chat_status
            run = self.start(body)
            return 200, (run, 0, self.cut_after)
        if parts[:2] == ["v1", "runs"] and len(parts) >= 3:
            run = self.runs.get(parts[2])
            if run is None:
                return 404, {"error": {"code": "run_not_found", "message": "No such run."}}
            if len(parts) == 3:
                status = "complete" if run.over else "running"
                return 200, {"run_id": run.run_id, "status": status, "message": run.message}
            if parts[3] == "stream":
                after = int(headers.get("last-event-id", "0") or 0)
                return 200, (run, after, None)
            if parts[3] == "cancel" and method == "POST":
                self.cancel(run)
                return 202, {"run_id": run.run_id, "status": "cancelling"}
            if parts[3] == "approval" and method == "POST":
                if self.approval_status is not None:
                    return self.approval_status
                self.approve(run, body)
                return 200, {"run_id": run.run_id, "status": "running"}
        return 404, {"error": {"code": "not_found", "message": "Not found."}}

    # --- as an httpx transport (AppTest) ------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        body = json.loads(request.content) if request.content else None
        status, payload = self.route(request.method, request.url.path, dict(request.headers), body)
        if isinstance(payload, tuple):  # no delays here: whatever is due now, then the stream ends
            run, after, cut = payload
            events = run.visible(after)[:cut]
            return httpx.Response(
                status,
                headers={"content-type": "text/event-stream"},
                content=b"".join(frame(e) for e in events),
            )
        return httpx.Response(status, json=payload)

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p, _, _ in self.requests if method is None or m == method]


def fake_bff_app(fake: FakeBff) -> Callable[..., Any]:
    """The fake as an ASGI app: each stream follows its run live, as events become due."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = json.loads(raw) if raw else None
        status, payload = fake.route(scope["method"], scope["path"], headers, body)
        if not isinstance(payload, tuple):
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": json.dumps(payload).encode()})
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        async for event in _live(*payload):
            await send({"type": "http.response.body", "body": frame(event), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


async def _live(run: Run, after: int, cut: int | None) -> AsyncIterator[dict[str, Any]]:
    """Follow a run: yield each event once it is due, until `done` or a pause (or `cut` events)."""
    sent = 0
    while cut is None or sent < cut:
        pending = run.visible(after)
        if not pending:
            await asyncio.sleep(0.01)
            continue
        event = pending[0]
        after = event["seq"]
        sent += 1
        yield event
        if event["type"] in ("done", "interrupted"):
            return
