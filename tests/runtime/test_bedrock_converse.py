"""The real `ChatBedrockConverse` against a local converse-stream server, through the real graph.

The server answers `POST /model/{modelId}/converse-stream` with AWS event-stream frames encoded by
moto's `EventStreamEncoder`, with the headers botocore's event-stream parser reads:
`:message-type: event`, `:event-type: <member of the ConverseStreamOutput union>` and
`:content-type: application/json`; the payload is the member's JSON.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from moto.core.eventstream import EventStreamEncoder
from runtime_helpers import RuntimeProcess, parse_sse

from agent_runtime.payloads import Turn
from agent_runtime.service import AgentService
from agent_runtime.settings import Settings

MODEL_ID = "test.converse-model-v1"
USAGE_1 = {"inputTokens": 20, "outputTokens": 12, "totalTokens": 32}
USAGE_2 = {"inputTokens": 40, "outputTokens": 5, "totalTokens": 45}


def _frame(event_type: str, body: dict[str, Any]) -> bytes:
    headers = {":message-type": "event", ":event-type": event_type, ":content-type": "application/json"}
    return EventStreamEncoder().encode_message(headers, json.dumps(body).encode())


def _first_turn() -> list[bytes]:
    """Reasoning, a sentence, then a calculator call whose input arrives as partial JSON."""
    return [
        _frame("messageStart", {"role": "assistant"}),
        _frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "The user wants "}}},
        ),
        _frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "a product."}}},
        ),
        _frame(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}
        ),
        _frame("contentBlockStop", {"contentBlockIndex": 0}),
        _frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Let me "}}),
        _frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "calculate."}}),
        _frame("contentBlockStop", {"contentBlockIndex": 1}),
        _frame(
            "contentBlockStart",
            {
                "contentBlockIndex": 2,
                "start": {"toolUse": {"toolUseId": "tooluse_abc", "name": "calculator"}},
            },
        ),
        _frame(
            "contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"expression": '}}}
        ),
        _frame("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '"6*7"}'}}}),
        _frame("contentBlockStop", {"contentBlockIndex": 2}),
        _frame("messageStop", {"stopReason": "tool_use"}),
        _frame("metadata", {"usage": USAGE_1, "metrics": {"latencyMs": 12}}),
    ]


def _second_turn() -> list[bytes]:
    return [
        _frame("messageStart", {"role": "assistant"}),
        _frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "6*7"}}),
        _frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " is 42."}}),
        _frame("contentBlockStop", {"contentBlockIndex": 0}),
        _frame("messageStop", {"stopReason": "end_turn"}),
        _frame("metadata", {"usage": USAGE_2, "metrics": {"latencyMs": 7}}),
    ]


class ConverseServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                if "please fail" in json.dumps(body["messages"]):
                    error = {
                        "message": "Malformed input at arn:aws:bedrock:us-east-1:123456789012:foundation-model/x"
                    }
                    payload = json.dumps(error).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("x-amzn-ErrorType", "ValidationException")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                has_result = any("toolResult" in block for m in body["messages"] for block in m["content"])
                frames = b"".join(_second_turn() if has_result else _first_turn())
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Content-Length", str(len(frames)))
                self.end_headers()
                self.wfile.write(frames)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def converse_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConverseServer]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    server = ConverseServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    server.thread.join()


async def test_bedrock_converse_stream_becomes_runtime_events(converse_server: ConverseServer) -> None:
    settings = Settings(model_id=MODEL_ID, bedrock_endpoint_url=converse_server.url, aws_region="us-east-1")
    agent = await AgentService.open(settings)
    try:
        events = [e async for e in agent.events(Turn("What is 6 times 7?", None, True), "s-bedrock")]
    finally:
        await agent.aclose()

    paths = [path for path, _ in converse_server.requests]
    assert paths == [f"/model/{MODEL_ID}/converse-stream"] * 2
    first_request = converse_server.requests[0][1]
    assert [t["toolSpec"]["name"] for t in first_request["toolConfig"]["tools"]][:3] == [
        "calculator",
        "current_time",
        "analyze_dataset",
    ]
    tool_result = next(
        b["toolResult"]
        for m in converse_server.requests[1][1]["messages"]
        for b in m["content"]
        if "toolResult" in b
    )
    assert tool_result["toolUseId"] == "tooluse_abc" and tool_result["content"] == [{"text": "42"}]

    assert events[0] == {**events[0], "type": "AGENT_START", "model": MODEL_ID}
    assert "".join(e["delta"] for e in events if e["type"] == "THINKING") == "The user wants a product."
    call = next(e for e in events if e["type"] == "TOOL_CALL")
    assert (call["tool"], call["call_id"], call["args"]) == (
        "calculator",
        "tooluse_abc",
        {"expression": "6*7"},
    )
    result = next(e for e in events if e["type"] == "TOOL_RESULT")
    assert (result["call_id"], result["result"], result["status"]) == ("tooluse_abc", "42", "success")
    tokens = [e["delta"] for e in events if e["type"] == "TOKEN"]
    assert tokens == ["Let me ", "calculate.", "6*7", " is 42."]
    responses = [e["message"] for e in events if e["type"] == "LLM_RESPONSE"]
    assert [r["content"] for r in responses] == ["Let me calculate.", "6*7 is 42."]
    assert responses[0]["usage"] == {"input_tokens": 20, "output_tokens": 12, "total_tokens": 32}
    types = [e["type"] for e in events]
    assert types.index("NODE_START") < types.index("THINKING") < types.index("TOKEN")
    end = events[-1]
    assert end["type"] == "AGENT_END" and end["status"] == "complete"
    assert end["output"] == "6*7 is 42."
    assert end["usage"] == {"input_tokens": 60, "output_tokens": 17, "total_tokens": 77}


async def test_a_bedrock_error_is_a_model_error_event_that_leaks_nothing(
    converse_server: ConverseServer,
) -> None:
    settings = Settings(model_id=MODEL_ID, bedrock_endpoint_url=converse_server.url, aws_region="us-east-1")
    agent = await AgentService.open(settings)
    try:
        events = [e async for e in agent.events(Turn("please fail", None, True), "s-bedrock-error")]
    finally:
        await agent.aclose()
    assert [e["type"] for e in events] == ["AGENT_START", "NODE_START", "ERROR"]
    assert (events[-1]["code"], events[-1]["message"]) == ("model_error", "The model failed to answer.")
    assert "arn:" not in json.dumps(events) and "127.0.0.1" not in json.dumps(events)


@pytest.mark.slow
def test_the_runtime_process_uses_bedrock_when_agent_model_id_is_set(converse_server: ConverseServer) -> None:
    runtime = RuntimeProcess(
        {
            "AGENT_MODEL_ID": MODEL_ID,
            "AGENT_BEDROCK_ENDPOINT_URL": converse_server.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    try:
        runtime.wait_healthy()
        with httpx.stream(
            "POST", f"{runtime.url}/invocations", json={"prompt": "What is 6 times 7?"}, timeout=30
        ) as response:
            events = parse_sse(list(response.iter_lines()))
    finally:
        runtime.stop()
    assert events[0]["model"] == MODEL_ID
    assert [e["delta"] for e in events if e["type"] == "TOKEN"] == ["Let me ", "calculate.", "6*7", " is 42."]
    assert events[-1]["type"] == "AGENT_END" and events[-1]["output"] == "6*7 is 42."
