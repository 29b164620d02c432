"""Helpers of the approval and history end-to-end tests (no tests here): a native stream reader,
the approval call, and a stack with the runtime's workspace and checkpointer set."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bff.sse import SSEDecoder
from scripts.devstack import Ports, Stack, start_stack

PROMPT = "Save a note titled groceries with the text milk and eggs."
FAST_ENV = {"AGENT_OFFLINE_TOKEN_DELAY_S": "0.005"}


@dataclass
class Received:
    type: str
    id: int
    data: dict[str, Any]
    at: float


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    events: list[Received] = field(default_factory=list)
    body: Any = None

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def first(self, type_: str) -> Received:
        return next(e for e in self.events if e.type == type_)

    @property
    def last_id(self) -> int:
        return self.events[-1].id


def read(
    response: httpx.Response, into: Stream, stop_after: str | None = None, deadline_s: float = 90.0
) -> Stream:
    """Events until the stream ends; fails (rather than hangs) when the run outlives `deadline_s`
    (heartbeats every few seconds give the loop its turns)."""
    decoder = SSEDecoder()
    deadline = time.monotonic() + deadline_s
    for chunk in response.iter_raw():
        now = time.monotonic()
        assert now < deadline, f"the stream did not end within {deadline_s} s; got {into.types()}"
        for sse in decoder.feed(chunk):
            assert sse.id is not None, "every native event carries an id"
            into.events.append(Received(sse.event, int(sse.id), json.loads(sse.data), now))
            if stop_after is not None and sse.event == stop_after:
                return into
    return into


def open_stream(
    base_url: str,
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | None = None,
    after: int | None = None,
    stop_after: str | None = None,
) -> Stream:
    headers = {} if after is None else {"Last-Event-ID": str(after)}
    with (
        httpx.Client(base_url=base_url, timeout=60) as client,
        client.stream(method, path, json=body, headers=headers) as response,
    ):
        result = Stream(response.status_code, response.headers)
        if response.status_code != 200:
            result.body = json.loads(response.read())
            return result
        return read(response, result, stop_after)


def chat(base_url: str, message: str, **extra: Any) -> Stream:
    return open_stream(base_url, "POST", "/v1/chat/stream", body={"message": message, **extra})


def follow(base_url: str, run_id: str, after: int) -> Stream:
    return open_stream(base_url, "GET", f"/v1/runs/{run_id}/stream", after=after)


def pause(base_url: str, message: str = PROMPT, **extra: Any) -> Stream:
    result = chat(base_url, message, **extra)
    assert result.status == 200, result.body
    assert result.types()[-2:] == ["approval_required", "interrupted"], result.types()
    return result


def answer(base_url: str, run_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/runs/{run_id}/approval", json=body, timeout=30)


def notes(workspace: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in workspace.glob("*.md")}


def clear(workspace: Path) -> None:
    for p in workspace.glob("*.md"):
        p.unlink()


def approval_stack(workspace: Path, **env: str) -> Iterator[Stack]:
    """The stack with the runtime writing notes into `workspace`; E2E_ECHO=1 prints the processes' output."""
    merged = {**FAST_ENV, "BFF_HEARTBEAT_INTERVAL_S": "2", "AGENT_WORKSPACE_DIR": str(workspace), **env}
    with start_stack(Ports.free(), env=merged, echo=bool(os.environ.get("E2E_ECHO"))) as running:
        yield running


def restart(stack: Stack, name: str) -> None:
    """Kill one process of the stack (SIGKILL: nothing is flushed on the way out) and start it again."""
    stack.kill(name)
    process = stack.processes[name]
    process.start()
    process.wait_healthy()
