"""The approval endpoint, the history endpoint and the three wire formats, over HTTP in process.

The real app (`create_app`), a scripted runtime (test_approval_fakes.py). Every native event is
checked against bff/schema/native-events.schema.json; AG-UI events against `ag_ui.core`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
from ag_ui.core import Event as AgUiEvent
from pydantic import TypeAdapter
from test_approval_fakes import ARGS, ScriptedRuntime

from bff.app import create_app
from bff.schema import native_events_schema
from bff.settings import Settings

VALIDATOR = jsonschema.Draft202012Validator(native_events_schema())
AGUI = TypeAdapter(AgUiEvent)
PROMPT = "Save a note titled groceries with the text milk and eggs."
REDIS_URL = "redis://127.0.0.1:6379/0"


class Client:
    def __init__(self, http: httpx.AsyncClient, runtime: ScriptedRuntime) -> None:
        self.http = http
        self.runtime = runtime

    async def native(self, method: str, url: str, **kw: Any) -> tuple[httpx.Response, list[dict[str, Any]]]:
        response = await self.http.request(method, url, **kw)
        events = []
        for block in response.text.split("\n\n"):
            data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
            if data:
                event = json.loads("\n".join(data))
                VALIDATOR.validate(event)
                events.append(event)
        return response, events

    async def frames(self, method: str, url: str, **kw: Any) -> tuple[httpx.Response, list[Any]]:
        response = await self.http.request(method, url, **kw)
        out: list[Any] = []
        for block in response.text.split("\n\n"):
            for line in block.split("\n"):
                if line.startswith("data: "):
                    out.append("[DONE]" if line == "data: [DONE]" else json.loads(line[6:]))
        return response, out

    async def pause(self) -> tuple[str, list[dict[str, Any]]]:
        response, events = await self.native("POST", "/v1/chat/stream", json={"message": PROMPT})
        assert response.status_code == 200
        return response.headers["x-run-id"], events


async def make_client(ttl_s: float = 60.0) -> AsyncIterator[Client]:
    runtime = ScriptedRuntime()
    app = create_app(Settings(auth_mode="local-dev", approval_ttl_s=ttl_s), upstream=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff", timeout=10) as http:
            yield Client(http, runtime)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async for c in make_client():
        yield c


async def test_native_pause_answer_and_follow(client: Client) -> None:
    run_id, first = await client.pause()
    assert [e["type"] for e in first][-2:] == ["approval_required", "interrupted"]
    required = first[-2]
    assert required["args"] == ARGS and required["tool"] == "save_note"
    status = (await client.http.get(f"/v1/runs/{run_id}")).json()
    assert status["status"] == "awaiting_approval"

    answer = await client.http.post(
        f"/v1/runs/{run_id}/approval", json={"approval_id": required["approval_id"], "decision": "approve"}
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["run_id"] == run_id and body["decision"] == "approve" and body["after"] == first[-1]["seq"]

    _, rest = await client.native(
        "GET", f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(first[-1]["seq"])}
    )
    assert [e["seq"] for e in rest] == list(range(first[-1]["seq"] + 1, first[-1]["seq"] + 1 + len(rest)))
    assert rest[-1]["type"] == "done" and rest[-1]["output"] == "Saved groceries."
    assert all(e["run_id"] == run_id for e in rest)
    assert (await client.http.get(f"/v1/runs/{run_id}")).json()["status"] == "done"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"approval_id": "nope", "decision": "approve"}, 404, "approval_not_found"),
        ({"approval_id": "apr_1", "decision": "maybe"}, 422, "invalid_decision"),
        ({"approval_id": "apr_1", "decision": "edit"}, 422, "edited_args_required"),
        ({"approval_id": "apr_1", "decision": "approve", "edited_args": {"a": 1}}, 422, "validation_error"),
        ({"decision": "approve"}, 422, "validation_error"),
        ({"approval_id": "apr_1", "decision": "approve", "extra": 1}, 422, "validation_error"),
    ],
)
async def test_bad_answers_get_a_code(client: Client, body: dict[str, Any], status: int, code: str) -> None:
    run_id, _ = await client.pause()
    response = await client.http.post(f"/v1/runs/{run_id}/approval", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not any("resume" in p for p in client.runtime.payloads)


async def test_unknown_run_is_404(client: Client) -> None:
    response = await client.http.post(
        "/v1/runs/run_nope/approval", json={"approval_id": "a", "decision": "approve"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "run_not_found")


async def test_second_answer_is_409(client: Client) -> None:
    run_id, first = await client.pause()
    body = {"approval_id": first[-2]["approval_id"], "decision": "reject"}
    assert (await client.http.post(f"/v1/runs/{run_id}/approval", json=body)).status_code == 202
    again = await client.http.post(f"/v1/runs/{run_id}/approval", json={**body, "decision": "approve"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "approval_already_answered")
    _, rest = await client.native("GET", f"/v1/runs/{run_id}/stream?last_event_id={first[-1]['seq']}")
    assert rest[-1]["output"] == "I did not save the note."


async def test_expired_approval_is_410_and_the_run_ends() -> None:
    async for client in make_client(ttl_s=0.2):
        run_id, first = await client.pause()
        _, rest = await client.native("GET", f"/v1/runs/{run_id}/stream?last_event_id={first[-1]['seq']}")
        assert [e["type"] for e in rest] == ["approval_expired", "done"]
        assert rest[-1]["status"] == "expired"
        response = await client.http.post(
            f"/v1/runs/{run_id}/approval",
            json={"approval_id": first[-2]["approval_id"], "decision": "approve"},
        )
        assert (response.status_code, response.json()["error"]["code"]) == (410, "approval_expired")
        assert (await client.http.get(f"/v1/runs/{run_id}")).json()["status"] == "expired"


async def test_agui_interrupt_outcome_and_resume(client: Client) -> None:
    run_input = {
        "threadId": "thread-1",
        "runId": "client-run-1",
        "messages": [{"id": "u1", "role": "user", "content": PROMPT}],
    }
    response, events = await client.frames("POST", "/v1/chat/stream", json=run_input)
    assert response.status_code == 200
    parsed = [AGUI.validate_python(e) for e in events]
    finished = events[-1]
    assert finished["type"] == "RUN_FINISHED" and len(parsed) == len(events)
    interrupt = finished["outcome"]["interrupts"][0]
    assert finished["outcome"]["type"] == "interrupt"
    assert interrupt["reason"] == "tool_approval" and interrupt["toolCallId"] == "tooluse_1"
    assert interrupt["metadata"] == {
        "tool": "save_note",
        "args": ARGS,
        "choices": ["approve", "reject", "edit"],
    }
    assert interrupt["expiresAt"].endswith("Z")

    resume_input = {
        **run_input,
        "runId": "client-run-2",
        "resume": [
            {
                "interruptId": interrupt["id"],
                "status": "resolved",
                "payload": {"decision": "edit", "editedArgs": {"title": "todo", "text": "call mum"}},
            }
        ],
    }
    response, events = await client.frames("POST", "/v1/chat/stream", json=resume_input)
    assert response.status_code == 200, response.text
    [AGUI.validate_python(e) for e in events]
    assert events[0]["type"] == "RUN_STARTED" and events[-1]["type"] == "RUN_FINISHED"
    assert events[-1]["outcome"]["type"] == "success" and events[-1]["result"] == "Saved todo."
    assert client.runtime.payloads[-1]["resume"]["edited_args"] == {"title": "todo", "text": "call mum"}
    again = await client.http.post("/v1/chat/stream", json=resume_input)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "approval_already_answered")


async def test_agui_cancelled_resume_rejects(client: Client) -> None:
    run_input = {
        "threadId": "thread-2",
        "runId": "r1",
        "messages": [{"id": "u1", "role": "user", "content": PROMPT}],
    }
    _, events = await client.frames("POST", "/v1/chat/stream", json=run_input)
    interrupt_id = events[-1]["outcome"]["interrupts"][0]["id"]
    resume = {**run_input, "resume": [{"interruptId": interrupt_id, "status": "cancelled"}]}
    _, events = await client.frames("POST", "/v1/chat/stream", json=resume)
    assert events[-1]["result"] == "I did not save the note."
    unknown = {**run_input, "resume": [{"interruptId": "nope", "status": "resolved"}]}
    response = await client.http.post("/v1/chat/stream", json=unknown)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "approval_not_found")


async def test_ai_sdk_tool_approval_request(client: Client) -> None:
    response, parts = await client.frames("POST", "/v1/chat/stream?protocol=ai-sdk", json={"message": PROMPT})
    run_id = response.headers["x-run-id"]
    types = [p if p == "[DONE]" else p["type"] for p in parts]
    assert types.index("tool-input-available") < types.index("tool-approval-request")
    request = parts[types.index("tool-approval-request")]
    assert set(request) == {"type", "approvalId", "toolCallId"}  # the v5/v6 schema is strict
    assert request["toolCallId"] == "tooluse_1"
    assert types[-2:] == ["finish", "[DONE]"]

    last_id = (await client.native("GET", f"/v1/runs/{run_id}/stream"))[1][-1]["seq"]
    await client.http.post(
        f"/v1/runs/{run_id}/approval", json={"approval_id": request["approvalId"], "decision": "approve"}
    )
    _, parts = await client.frames(
        "GET", f"/v1/runs/{run_id}/stream?protocol=ai-sdk", headers={"Last-Event-ID": str(last_id)}
    )
    types = [p if p == "[DONE]" else p["type"] for p in parts]
    assert types[0] == "start" and parts[0]["messageId"] == run_id
    assert "tool-output-available" in types and types[-2:] == ["finish", "[DONE]"]


async def test_history_after_two_turns(client: Client) -> None:
    response, events = await client.native("POST", "/v1/chat/stream", json={"message": "hello"})
    session_id = response.headers["x-session-id"]
    run_id = response.headers["x-run-id"]
    assert events[-1]["type"] == "done"
    _, second = await client.native(
        "POST", "/v1/chat/stream", json={"message": PROMPT, "session_id": session_id}
    )
    run_id = second[0]["run_id"]
    await client.http.post(
        f"/v1/runs/{run_id}/approval", json={"approval_id": second[-2]["approval_id"], "decision": "approve"}
    )
    await client.native("GET", f"/v1/runs/{run_id}/stream?last_event_id={second[-1]['seq']}")

    history = await client.http.get(f"/v1/sessions/{session_id}/messages")
    assert history.status_code == 200
    messages = history.json()["messages"]
    assert history.json()["session_id"] == session_id
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == "hello" and messages[2]["content"] == PROMPT
    assert messages[3]["tool_calls"] == [{"id": "tooluse_1", "name": "save_note", "args": ARGS}]
    assert messages[4]["tool_call_id"] == "tooluse_1" and messages[-1]["content"] == "Saved groceries."


async def test_history_of_unknown_or_bad_session(client: Client) -> None:
    unknown = await client.http.get(f"/v1/sessions/sess_{'9' * 32}/messages")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "session_not_found")
    bad = await client.http.get("/v1/sessions/short/messages")
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_session_id")
    assert not any(p.get("action") == "history" for p in client.runtime.payloads)


async def test_two_replicas_sharing_redis_pause_on_one_answer_on_the_other() -> None:
    """The run pauses on replica A; replica B takes the answer and runs the resumed leg; a client of
    A follows it to the end. A's expiry timer, armed at the pause, then finds it settled."""
    runtime = ScriptedRuntime()
    settings = Settings(auth_mode="local-dev", redis_url=REDIS_URL, approval_ttl_s=60)
    app_a = create_app(settings, upstream=runtime)
    app_b = create_app(settings, upstream=runtime)
    async with app_a.router.lifespan_context(app_a), app_b.router.lifespan_context(app_b):
        transport_a, transport_b = httpx.ASGITransport(app=app_a), httpx.ASGITransport(app=app_b)
        async with (
            httpx.AsyncClient(transport=transport_a, base_url="http://a", timeout=10) as a,
            httpx.AsyncClient(transport=transport_b, base_url="http://b", timeout=10) as b,
        ):
            client_a = Client(a, runtime)
            run_id, first = await client_a.pause()
            approval_id = first[-2]["approval_id"]
            response = await b.post(
                f"/v1/runs/{run_id}/approval", json={"approval_id": approval_id, "decision": "approve"}
            )
            assert response.status_code == 202, response.text
            _, rest = await client_a.native(
                "GET", f"/v1/runs/{run_id}/stream?last_event_id={first[-1]['seq']}"
            )
            assert rest[-1]["type"] == "done" and rest[-1]["output"] == "Saved groceries."
            again = await a.post(
                f"/v1/runs/{run_id}/approval", json={"approval_id": approval_id, "decision": "reject"}
            )
            assert (again.status_code, again.json()["error"]["code"]) == (409, "approval_already_answered")
            assert app_a.state.approvals.desk._timers, "A's timer is still armed"
            assert not await app_a.state.approvals.desk.expire(approval_id), "already settled on B"
