"""The HTTP routes, served by uvicorn on a free loopback port, with the scripted upstream.

Covers the foundation's chat routes (stream, JSON, errors before and after the first byte) and
the runs issue's routes (background runs, status, resume by Last-Event-ID, cancel, disconnect
policies, heartbeats, formats chosen per request, sessions, health).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from ag_ui.core import Event as AgUiEvent
from pydantic import TypeAdapter

from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.runs import RunManager
from bff.schema import native_events_schema
from bff.settings import Settings
from bff.sse import ServerSentEvent, SSEDecoder, decode_all
from tests.bff.test_runs_fakes import FakeUpstream, serve

VALIDATOR = jsonschema.Draft202012Validator(native_events_schema())
SESSION_RE = re.compile(r"[A-Za-z0-9_-]{33,256}")
GIVEN_SESSION = "sess_" + "c" * 32


@dataclass
class Stack:
    url: str
    upstream: FakeUpstream
    runs: RunManager
    client: httpx.AsyncClient


@pytest.fixture
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    overrides = getattr(request, "param", {})
    settings = Settings(
        auth_mode="local-dev",
        heartbeat_interval_s=overrides.get("heartbeat_interval_s", 5.0),
        max_message_chars=100,
        max_body_bytes=2000,
    )
    upstream = FakeUpstream()
    app = create_app(settings, upstream=upstream, event_log=MemoryEventLog(ttl_s=60))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield Stack(url, upstream, app.state.runs, client)


async def _frames(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    decoder = SSEDecoder()
    async for chunk in response.aiter_bytes():
        for frame in decoder.feed(chunk):
            yield frame


def native(frames: list[ServerSentEvent]) -> list[dict[str, Any]]:
    bodies = [json.loads(f.data) for f in frames]
    for body, frame in zip(bodies, frames, strict=True):
        VALIDATOR.validate(body)
        assert frame.id == str(body["seq"]) and frame.event == body["type"]
    return bodies


async def take(frames: AsyncIterator[ServerSentEvent], count: int) -> list[ServerSentEvent]:
    """The next `count` events of an open stream, as they arrive."""
    return [await anext(frames) for _ in range(count)]


async def wait_status(stack: Stack, run_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        async for event in stack.runs.follow(run_id, 0, heartbeat_s=0.05):
            if event is not None and event.type == "done":
                break
    body = (await stack.client.get(f"/v1/runs/{run_id}")).json()
    assert body["status"] == status
    return body


# --- the stream endpoint ---------------------------------------------------------------------


async def test_stream_answers_native_sse_with_ids_headers_and_a_new_session(stack: Stack) -> None:
    response = await stack.client.post("/v1/chat/stream", json={"message": "tool"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
    events = native(decode_all(response.content))
    session_id, run_id = response.headers["x-session-id"], response.headers["x-run-id"]
    assert SESSION_RE.fullmatch(session_id)
    assert events[0]["type"] == "start" and events[0]["schema_version"] == "1"
    assert events[-1]["type"] == "done" and events[-1]["status"] == "complete"
    assert {e["session_id"] for e in events} == {session_id} and {e["run_id"] for e in events} == {run_id}
    assert stack.upstream.payloads[-1] == {"prompt": "tool", "session_id": session_id}


async def test_stream_keeps_a_given_session(stack: Stack) -> None:
    response = await stack.client.post(
        "/v1/chat/stream", json={"message": "hello", "session_id": GIVEN_SESSION}
    )
    assert response.headers["x-session-id"] == GIVEN_SESSION
    assert native(decode_all(response.content))[0]["session_id"] == GIVEN_SESSION


BAD_INPUTS = [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 422, "validation_error"),
    (b"{}", 422, "empty_message"),
    (b'{"message": "   "}', 422, "empty_message"),
    (b'{"message": 5}', 422, "validation_error"),
    (json.dumps({"message": "x" * 101}).encode(), 413, "message_too_long"),
    (json.dumps({"message": "hi", "pad": "x" * 3000}).encode(), 413, "payload_too_large"),
    (b'{"message": "hi", "session_id": "short"}', 422, "invalid_session_id"),
    (json.dumps({"message": "hi", "session_id": "a" * 40 + "/"}).encode(), 422, "invalid_session_id"),
    (b'{"message": "hi", "on_disconnect": "explode"}', 422, "invalid_on_disconnect"),
]


@pytest.mark.parametrize("path", ["/v1/chat/stream", "/v1/chat", "/v1/runs"])
@pytest.mark.parametrize(("body", "status", "code"), BAD_INPUTS)
async def test_bad_input_is_a_4xx_json_error_with_a_stable_code(
    stack: Stack, path: str, body: bytes, status: int, code: str
) -> None:
    response = await stack.client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"]}}
    assert stack.upstream.payloads == []


@pytest.mark.parametrize("path", ["/v1/chat/stream", "/v1/chat", "/v1/runs"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_body_that_is_not_declared_json_is_415(stack: Stack, path: str, content_type: str) -> None:
    """A browser sends these cross-origin without a preflight: they must not start a run."""
    body = b'{"message": "hello"}'
    response = await stack.client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
    ok = await stack.client.post(
        path, content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert ok.status_code in (200, 202)
    assert stack.upstream.payloads == [
        {"prompt": "hello", "session_id": stack.upstream.payloads[0]["session_id"]}
    ]


@pytest.mark.parametrize(
    ("header", "status"),
    [("007", 200), (" 7 ", 200), ("-1", 400), ("1.5", 400), ("1e3", 400), ("٣", 400), ("0x7", 400)],
)
async def test_last_event_id_is_a_decimal_number(stack: Stack, header: str, status: int) -> None:
    full = native(decode_all((await stack.client.post("/v1/chat/stream", json={"message": "tool"})).content))
    url = f"/v1/runs/{full[0]['run_id']}/stream"
    if header.isascii() and header == header.strip():
        response = await stack.client.get(url, headers={"Last-Event-ID": header})
    else:  # not a legal header value for httpx: the query parameter takes the same parser
        response = await stack.client.get(url, params={"last_event_id": header})
    assert response.status_code == status
    if status == 200:
        assert native(decode_all(response.content)) == full[7:]  # "007" is 7, not the string "007"
    else:
        assert response.json()["error"]["code"] == "invalid_last_event_id"


@pytest.mark.parametrize(
    ("code", "status"),
    [("upstream_unavailable", 503), ("upstream_timeout", 504), ("upstream_bad_gateway", 502)],
)
@pytest.mark.parametrize("path", ["/v1/chat/stream", "/v1/chat"])
async def test_an_upstream_failure_before_the_first_byte_is_a_5xx_json_error(
    stack: Stack, path: str, code: str, status: int
) -> None:
    response = await stack.client.post(path, json={"message": f"fail open {code}"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code and "arn:" not in body["error"]["message"]


async def test_a_failure_after_the_first_byte_is_an_error_event_then_done(stack: Stack) -> None:
    response = await stack.client.post("/v1/chat/stream", json={"message": "fail mid"})
    assert response.status_code == 200
    events = native(decode_all(response.content))
    assert [e["type"] for e in events][-2:] == ["error", "done"]
    assert events[-2]["code"] == "upstream_timeout" and events[-1]["status"] == "error"


async def test_events_arrive_incrementally_not_in_one_flush(stack: Stack) -> None:
    async with stack.client.stream("POST", "/v1/chat/stream", json={"message": "gate slow"}) as response:
        frames = _frames(response)
        first = await take(frames, 2)  # start, agent_start: before the runtime goes on
        assert [json.loads(f.data)["type"] for f in first] == ["start", "agent_start"]
        stack.upstream.gate("slow").set()
        rest = [f async for f in frames]
    assert json.loads(rest[-1].data)["type"] == "done"


# --- JSON and background runs ----------------------------------------------------------------


async def test_chat_answers_the_final_result_as_json(stack: Stack) -> None:
    response = await stack.client.post("/v1/chat", json={"message": "tool"})
    assert response.status_code == 200
    body = response.json()
    assert body["output"] == "Let me compute The answer is 10" and body["status"] == "complete"
    assert SESSION_RE.fullmatch(body["session_id"]) and body["run_id"] == response.headers["x-run-id"]
    assert [c["tool"] for c in body["tool_calls"]] == ["calculator", "broken"]
    assert body["tool_calls"][0]["args"] == {"expression": "5+5"} and body["tool_calls"][0]["result"] == "10"
    assert body["tool_calls"][1]["status"] == "error"
    assert body["usage"] == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


async def test_chat_reports_a_failure_mid_run_as_an_upstream_error(stack: Stack) -> None:
    response = await stack.client.post("/v1/chat", json={"message": "fail mid"})
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"


async def test_a_background_run_answers_202_and_its_status_shows_the_output(stack: Stack) -> None:
    response = await stack.client.post("/v1/runs", json={"message": "hello"})
    assert response.status_code == 202
    body = response.json()
    assert body["stream_url"] == f"/v1/runs/{body['run_id']}/stream" and response.headers["location"]
    done = await wait_status(stack, body["run_id"], "done")
    assert done["output"] == "Hello there friend" and done["usage"]["total_tokens"] == 7
    replay = await stack.client.get(body["stream_url"])
    events = native(decode_all(replay.content))
    assert events[0]["type"] == "start" and events[-1]["type"] == "done"


# --- resume, cancel, disconnects ----------------------------------------------------------------


async def test_resume_by_last_event_id_header_or_query_replays_exactly_the_rest(stack: Stack) -> None:
    full = native(decode_all((await stack.client.post("/v1/chat/stream", json={"message": "tool"})).content))
    run_id = full[0]["run_id"]
    for cut in (0, 1, 5, 9, 10, len(full) - 1):
        by_header = await stack.client.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(cut)})
        by_query = await stack.client.get(f"/v1/runs/{run_id}/stream", params={"last_event_id": cut})
        for response in (by_header, by_query):
            assert response.status_code == 200
            assert native(decode_all(response.content)) == full[cut:]


async def test_a_client_that_has_every_event_of_a_finished_run_gets_204(stack: Stack) -> None:
    """A browser EventSource reconnects after every end of stream, unless the answer is 204."""
    full = native(decode_all((await stack.client.post("/v1/chat/stream", json={"message": "hello"})).content))
    again = await stack.client.get(
        f"/v1/runs/{full[0]['run_id']}/stream", headers={"Last-Event-ID": str(full[-1]["seq"])}
    )
    assert again.status_code == 204 and again.content == b""


async def test_a_live_run_is_followed_after_the_replay(stack: Stack) -> None:
    async with stack.client.stream("POST", "/v1/chat/stream", json={"message": "gate live"}) as first:
        seen = await take(_frames(first), 2)
        run_id = first.headers["x-run-id"]
    async with stack.client.stream(
        "GET", f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": seen[-1].id or ""}
    ) as again:
        stack.upstream.gate("live").set()
        rest = [f async for f in _frames(again)]
    seqs = [int(f.id or 0) for f in seen + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert json.loads(rest[-1].data)["type"] == "done"


async def test_bad_or_unknown_ids_are_clean_errors(stack: Stack) -> None:
    missing = await stack.client.get("/v1/runs/run_nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "run_not_found"
    assert (await stack.client.get("/v1/runs/run_nope/stream")).status_code == 404
    assert (await stack.client.post("/v1/runs/run_nope/cancel")).status_code == 404
    run_id = (await stack.client.post("/v1/chat/stream", json={"message": "hello"})).headers["x-run-id"]
    bad = await stack.client.get(f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_last_event_id"
    nowhere = await stack.client.get("/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
    wrong = await stack.client.put("/v1/chat")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    limit = await stack.client.get("/v1/sessions", params={"limit": "many"})
    assert limit.status_code == 422 and limit.json()["error"]["code"] == "validation_error"


async def test_cancel_stops_the_run_upstream_and_ends_the_stream(stack: Stack) -> None:
    async with stack.client.stream("POST", "/v1/chat/stream", json={"message": "hold"}) as response:
        frames = _frames(response)
        await take(frames, 2)
        await asyncio.wait_for(stack.upstream.holding.wait(), 5)
        run_id = response.headers["x-run-id"]
        cancel = await stack.client.post(f"/v1/runs/{run_id}/cancel")
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
        rest = [json.loads(f.data) async for f in frames]
    assert [e["type"] for e in rest][-2:] == ["cancelled", "done"] and rest[-1]["status"] == "cancelled"
    assert stack.upstream.stopped == [response.headers["x-session-id"]]
    assert stack.upstream.open_streams == 0


async def test_a_client_that_goes_away_leaves_the_run_running_by_default(stack: Stack) -> None:
    async with stack.client.stream("POST", "/v1/chat/stream", json={"message": "gate away"}) as response:
        await take(_frames(response), 2)
        run_id = response.headers["x-run-id"]
    stack.upstream.gate("away").set()
    body = await wait_status(stack, run_id, "done")
    assert body["output"] == "after the gate" and stack.upstream.stopped == []


@pytest.mark.parametrize("where", ["query", "body"])
async def test_a_client_that_asked_for_cancel_on_disconnect_stops_the_run(stack: Stack, where: str) -> None:
    params = {"on_disconnect": "cancel"} if where == "query" else {}
    body = {"message": "hold", **({"on_disconnect": "cancel"} if where == "body" else {})}
    async with stack.client.stream("POST", "/v1/chat/stream", json=body, params=params) as response:
        await take(_frames(response), 2)
        await asyncio.wait_for(stack.upstream.holding.wait(), 5)
        run_id = response.headers["x-run-id"]
    await asyncio.wait_for(stack.upstream.stop_called.wait(), 5)
    await wait_status(stack, run_id, "cancelled")
    assert stack.upstream.open_streams == 0 and not stack.runs.is_local(run_id)


@pytest.mark.parametrize("stack", [{"heartbeat_interval_s": 0.05}], indirect=True)
async def test_a_silent_run_gets_heartbeat_comments(stack: Stack) -> None:
    raw = b""
    async with stack.client.stream("POST", "/v1/chat/stream", json={"message": "hold"}) as response:
        async for chunk in response.aiter_bytes():
            raw += chunk
            if raw.count(b": heartbeat\n\n") >= 3:
                break
        run_id = response.headers["x-run-id"]
    await stack.client.post(f"/v1/runs/{run_id}/cancel")
    assert [json.loads(f.data)["type"] for f in decode_all(raw)][:3] == ["start", "agent_start", "node_start"]


# --- formats, sessions, health -----------------------------------------------------------------


async def test_an_ag_ui_run_agent_input_body_streams_ag_ui(stack: Stack) -> None:
    run_input = {
        "threadId": "thread-1",
        "runId": "r-1",
        "messages": [{"id": "u1", "role": "user", "content": "hello"}],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
    }
    response = await stack.client.post("/v1/chat/stream", json=run_input)
    assert response.status_code == 200
    parsed = [TypeAdapter(AgUiEvent).validate_json(f.data) for f in decode_all(response.content)]
    assert parsed[0].type.value == "RUN_STARTED" and parsed[-1].type.value == "RUN_FINISHED"
    assert parsed[0].thread_id == response.headers["x-session-id"]
    assert SESSION_RE.fullmatch(parsed[0].thread_id)
    again = await stack.client.post("/v1/chat/stream", json=run_input)
    assert again.headers["x-session-id"] == response.headers["x-session-id"]  # same thread, same session


async def test_a_vercel_ai_sdk_body_streams_the_ui_message_protocol(stack: Stack) -> None:
    body = {
        "id": "chat-123",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hello"}]}],
        "trigger": "submit-message",
    }
    response = await stack.client.post("/v1/chat/stream", json=body)
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    frames = decode_all(response.content)
    assert frames[-1].data == "[DONE]"
    types = [json.loads(f.data)["type"] for f in frames[:-1]]
    assert types[0] == "start" and types[-1] == "finish" and "text-delta" in types
    assert stack.upstream.payloads[-1]["prompt"] == "hello"


@pytest.mark.parametrize(
    ("params", "headers", "first"),
    [
        ({"protocol": "ag-ui"}, {}, "RUN_STARTED"),
        ({}, {"accept": "text/event-stream; protocol=ai-sdk"}, "start"),
        ({}, {"accept": "text/event-stream"}, "start"),
    ],
)
async def test_resume_speaks_the_format_it_is_asked_for(
    stack: Stack, params: dict[str, str], headers: dict[str, str], first: str
) -> None:
    run_id = (await stack.client.post("/v1/chat/stream", json={"message": "hello"})).headers["x-run-id"]
    response = await stack.client.get(f"/v1/runs/{run_id}/stream", params=params, headers=headers)
    data = [f.data for f in decode_all(response.content) if f.data != "[DONE]"]
    assert json.loads(data[0])["type"] == first
    bad = await stack.client.get(f"/v1/runs/{run_id}/stream", params={"protocol": "smoke-signals"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_protocol"


async def test_sessions_lists_the_callers_conversations_newest_first(stack: Stack) -> None:
    await stack.client.post("/v1/chat", json={"message": "hello", "session_id": GIVEN_SESSION})
    other = (await stack.client.post("/v1/chat", json={"message": "tool"})).json()
    sessions = (await stack.client.get("/v1/sessions")).json()["sessions"]
    assert [s["session_id"] for s in sessions] == [other["session_id"], GIVEN_SESSION]
    assert sessions[0]["preview"] == "tool" and sessions[0]["last_run_id"] == other["run_id"]


async def test_healthz_is_cheap_and_says_what_it_knows(stack: Stack) -> None:
    body = (await stack.client.get("/healthz")).json()
    assert body["status"] == "ok" and body["event_log"] is True and body["version"]
    assert body["upstream"] == "not_checked"  # this upstream has no cheap probe: said, not guessed
    assert stack.upstream.payloads == []


class _Probed(FakeUpstream):
    def __init__(self, answer: bool | None) -> None:
        super().__init__()
        self.answer = answer

    async def ping(self) -> bool | None:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "upstream", "status"),
    [(True, "ok", "ok"), (False, "unreachable", "degraded"), (None, "not_checked", "ok")],
)
async def test_healthz_reports_the_upstream_probe(answer: bool | None, upstream: str, status: str) -> None:
    app = create_app(Settings(auth_mode="local-dev"), upstream=_Probed(answer), event_log=MemoryEventLog())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["upstream"] == upstream and response.json()["status"] == status


async def test_token_coalescing_when_switched_on_merges_deltas_and_keeps_the_text() -> None:
    settings = Settings(
        auth_mode="local-dev", coalesce_tokens=True, coalesce_max_chars=20, coalesce_max_ms=1000
    )
    upstream = FakeUpstream()
    app = create_app(settings, upstream=upstream, event_log=MemoryEventLog())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.post("/v1/chat/stream", json={"message": "long 40"})
    events = native(decode_all(response.content))
    tokens = [e for e in events if e["type"] == "token"]
    assert "".join(t["delta"] for t in tokens) == "".join(f"t{i} " for i in range(40))
    assert len(tokens) < 40 and events[-1]["type"] == "done"
