"""Every wire format against the real stack, parsed with that format's own models or grammar
(tests/bff/test_encoders_grammar.py): native JSON Schema, `ag_ui.core` events, the AI SDK's UI
message chunk schema; plus a resume in a stateful format and the WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from bff.sse import ServerSentEvent, SSEDecoder, decode_all
from scripts.devstack import Stack
from tests.bff.test_encoders_grammar import (
    AGUI_EVENT,
    AISDK_VALIDATOR,
    NATIVE_VALIDATOR,
    check_agui_order,
    check_aisdk_order,
)

pytestmark = pytest.mark.slow

CALCULATOR = "What is 5 plus 5?"
LONG_TASK = "Analyse the data set"


def post_stream(stack: Stack, body: dict[str, Any], **params: str) -> httpx.Response:
    response = httpx.post(stack.url("bff") + "/v1/chat/stream", json=body, params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response


def test_native_events_validate_against_the_published_schema(stack: Stack) -> None:
    for message in (CALCULATOR, LONG_TASK):
        frames = decode_all(post_stream(stack, {"message": message}).content)
        for frame in frames:
            body = json.loads(frame.data)
            NATIVE_VALIDATOR.validate(body)
            assert frame.event == body["type"] and frame.id == str(body["seq"])


def test_ag_ui_from_a_run_agent_input_body(stack: Stack) -> None:
    run_input = {
        "threadId": "e2e-thread-agui",
        "runId": "client-run-1",
        "messages": [{"id": "u1", "role": "user", "content": CALCULATOR}],
        "tools": [],
        "context": [],
        "state": {},
        "forwardedProps": {},
    }
    response = post_stream(stack, run_input)
    parsed = [AGUI_EVENT.validate_json(f.data) for f in decode_all(response.content)]
    check_agui_order(parsed)
    types = [e.type.value for e in parsed]
    assert {"TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT", "STEP_STARTED"} <= set(
        types
    )
    assert types[-1] == "RUN_FINISHED" and "10" in str(parsed[-1].result)
    result = next(e for e in parsed if e.type.value == "TOOL_CALL_RESULT")
    assert result.content == "10"


def test_ag_ui_long_tool_progress_is_custom_and_steps_pair_up(stack: Stack) -> None:
    response = post_stream(stack, {"message": LONG_TASK}, protocol="ag-ui")
    parsed = [AGUI_EVENT.validate_json(f.data) for f in decode_all(response.content)]
    check_agui_order(parsed)
    progress = [e for e in parsed if e.type.value == "CUSTOM" and e.name == "tool_progress"]
    assert len(progress) >= 3 and all(0 < e.value["progress"] <= 1 for e in progress)


def test_ai_sdk_from_a_use_chat_body(stack: Stack) -> None:
    body = {
        "id": "e2e-chat",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": CALCULATOR}]}],
        "trigger": "submit-message",
        "messageId": None,
    }
    response = post_stream(stack, body)
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    frames = decode_all(response.content)
    assert frames[-1].data == "[DONE]"
    parts = [json.loads(f.data) for f in frames[:-1]]
    for part in parts:
        AISDK_VALIDATOR.validate(part)
    check_aisdk_order(parts)
    types = [p["type"] for p in parts]
    assert "tool-input-available" in types and "tool-output-available" in types and "text-delta" in types


@pytest.mark.parametrize("protocol", ["ag-ui", "ai-sdk"])
def test_a_resume_in_a_stateful_format_continues_the_same_stream(stack: Stack, protocol: str) -> None:
    """First part live until some events, the rest through the resume endpoint: together they are
    exactly the stream a client that never left would have read."""
    bff = stack.url("bff")
    head: list[ServerSentEvent] = []
    with (
        httpx.Client(base_url=bff, timeout=60) as client,
        client.stream(
            "POST", "/v1/chat/stream", json={"message": LONG_TASK}, params={"protocol": protocol}
        ) as r,
    ):
        run_id = r.headers["x-run-id"]
        decoder = SSEDecoder()
        for chunk in r.iter_raw():
            head += decoder.feed(chunk)
            if sum(f.id is not None for f in head) >= 6:
                break
    last_id = [f.id for f in head if f.id is not None][-1]
    head = head[: max(i for i, f in enumerate(head) if f.id == last_id) + 1]  # whole events only
    tail = decode_all(
        httpx.get(
            f"{bff}/v1/runs/{run_id}/stream",
            params={"protocol": protocol},
            headers={"Last-Event-ID": last_id},
            timeout=60,
        ).content
    )
    whole = decode_all(
        httpx.get(f"{bff}/v1/runs/{run_id}/stream", params={"protocol": protocol}, timeout=60).content
    )
    assert [f.data for f in head + tail] == [f.data for f in whole]
    if protocol == "ag-ui":
        check_agui_order([AGUI_EVENT.validate_json(f.data) for f in head + tail])
    else:
        assert tail[-1].data == "[DONE]"
        check_aisdk_order([json.loads(f.data) for f in (head + tail)[:-1]])


def test_native_events_over_the_websocket_with_a_cancel(stack: Stack) -> None:
    url = stack.url("bff").replace("http://", "ws://") + "/v1/chat/ws"

    async def scenario() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        sent = False
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "start", "message": LONG_TASK}))
            while not got or got[-1]["type"] != "done":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
                if got[-1]["type"] == "tool_progress" and not sent:
                    await ws.send(json.dumps({"type": "cancel"}))
                    sent = True
        return got

    events = asyncio.run(scenario())
    for event in events:
        NATIVE_VALIDATOR.validate(event)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events][-2:] == ["cancelled", "done"]
