"""`WS /v1/chat/ws`: native events over a WebSocket, start / cancel / resume messages, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from websockets.asyncio.client import ClientConnection, connect

from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.runs import RunManager
from bff.schema import native_events_schema
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream, serve

VALIDATOR = jsonschema.Draft202012Validator(native_events_schema())


@dataclass
class Stack:
    ws_url: str
    upstream: FakeUpstream
    runs: RunManager


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    upstream = FakeUpstream()
    app = create_app(
        Settings(auth_mode="local-dev", max_message_chars=100), upstream=upstream, event_log=MemoryEventLog()
    )
    async with serve(app) as url:
        yield Stack(url.replace("http://", "ws://") + "/v1/chat/ws", upstream, app.state.runs)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def until(ws: ClientConnection, type_: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while not got or got[-1]["type"] != type_:
        got.append(await receive(ws))
    return got


async def test_a_start_message_streams_native_events_until_done(stack: Stack) -> None:
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "tool"}))
        events = await until(ws, "done")
        for event in events:
            VALIDATOR.validate(event)
        assert events[0]["type"] == "start" and [e["seq"] for e in events] == list(range(1, len(events) + 1))
        await ws.send(
            json.dumps({"type": "start", "message": "hello", "session_id": events[0]["session_id"]})
        )
        second = await until(ws, "done")
        assert (
            second[0]["session_id"] == events[0]["session_id"] and second[0]["run_id"] != events[0]["run_id"]
        )


async def test_a_cancel_message_stops_the_run_upstream(stack: Stack) -> None:
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "hold"}))
        first = await until(ws, "node_start")
        await asyncio.wait_for(stack.upstream.holding.wait(), 5)
        await ws.send(json.dumps({"type": "cancel"}))
        rest = await until(ws, "done")
        assert [e["type"] for e in rest][-2:] == ["cancelled", "done"]
        assert stack.upstream.stopped == [first[0]["session_id"]] and stack.upstream.open_streams == 0


async def test_resume_replays_after_the_last_id(stack: Stack) -> None:
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "tool"}))
        full = await until(ws, "done")
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "resume", "run_id": full[0]["run_id"], "last_event_id": 4}))
        rest = await until(ws, "done")
    assert rest == full[4:]


async def test_closing_the_socket_cancels_only_when_asked(stack: Stack) -> None:
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "gate ws"}))
        kept = (await until(ws, "node_start"))[0]["run_id"]
    stack.upstream.gate("ws").set()
    async with asyncio.timeout(5):
        async for event in stack.runs.follow(kept, 0, heartbeat_s=1):
            if event is not None and event.type == "done":
                assert event.data["status"] == "complete"
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "hold", "on_disconnect": "cancel"}))
        stopped = (await until(ws, "node_start"))[0]["run_id"]
        await asyncio.wait_for(stack.upstream.holding.wait(), 5)
    await asyncio.wait_for(stack.upstream.stop_called.wait(), 5)
    async with asyncio.timeout(5):
        async for event in stack.runs.follow(stopped, 0, heartbeat_s=1):
            if event is not None and event.type == "done":
                assert event.data["status"] == "cancelled"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        (json.dumps([1]), "validation_error"),
        (json.dumps({"type": "dance"}), "invalid_message"),
        (json.dumps({"type": "start", "message": ""}), "empty_message"),
        (json.dumps({"type": "start", "message": "x" * 101}), "message_too_long"),
        (json.dumps({"type": "start", "message": "hi", "session_id": "bad"}), "invalid_session_id"),
        (json.dumps({"type": "start", "message": "fail open upstream_unavailable"}), "upstream_unavailable"),
        (json.dumps({"type": "resume", "run_id": "run_nope"}), "run_not_found"),
        *[
            (json.dumps({"type": "resume", "run_id": "run_nope", "last_event_id": bad}), "validation_error")
            for bad in (-1, "5", 1.5, True)  # a number, never a string; JSON true is not 1
        ],
        (json.dumps({"type": "cancel"}), "no_run"),
    ],
)
async def test_a_refused_message_is_answered_and_the_socket_stays_open(
    stack: Stack, message: str, code: str
) -> None:
    async with connect(stack.ws_url) as ws:
        await ws.send(message)
        refusal = await receive(ws)
        assert refusal == {
            "type": "rejected",
            "error": {"code": code, "message": refusal["error"]["message"]},
        }
        await ws.send(json.dumps({"type": "start", "message": "hello"}))
        assert (await until(ws, "done"))[-1]["status"] == "complete"


async def test_a_second_start_while_streaming_is_refused(stack: Stack) -> None:
    async with connect(stack.ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "hold"}))
        await until(ws, "node_start")
        await ws.send(json.dumps({"type": "start", "message": "hello"}))
        refusal = await receive(ws)
        assert refusal["type"] == "rejected" and refusal["error"]["code"] == "run_in_progress"
        await ws.send(json.dumps({"type": "cancel"}))
        assert (await until(ws, "done"))[-1]["status"] == "cancelled"
