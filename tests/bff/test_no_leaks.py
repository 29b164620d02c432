"""No stack trace, internal address or ARN reaches a client, whatever fails upstream.

The real BFF app (real aioboto3 client) -> the local AgentCore endpoint -> a runtime that fails
on purpose, each way it can, with error text full of what must not leak (a traceback, addresses,
an ARN, a marker word). Every body a client can see is checked: the 5xx JSON of the stream and
JSON endpoints, the SSE `error` events, the background run's status and replay, and the
WebSocket's messages.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from websockets.asyncio.client import connect

from agentcore_local.app import create_app as create_endpoint
from agentcore_local.settings import LocalSettings
from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.settings import Settings
from tests.bff.test_runs_fakes import serve

SECRET = "LEAKME"
LEAKY = (
    f'Traceback (most recent call last):\n  File "/app/agent_runtime/service.py", line 9\n'
    f"RuntimeError: {SECRET} at 10.0.3.7 / 127.0.0.1:8080 / ip-10-0-3-7.ec2.internal "
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/secret_agent-abc"
)
FORBIDDEN = (SECRET, "Traceback", 'File "', "arn:", "127.0.0.1", "10.0.3.7", "localhost", ".internal")


def assert_clean(text: str) -> None:
    for needle in FORBIDDEN:
        assert needle not in text, f"{needle!r} reached a client: {text[:400]}"


def frame(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def start_event(session_id: str) -> dict[str, Any]:
    return {"type": "AGENT_START", "timestamp": 1.0, "session_id": session_id, "model": "m"}


class LeakyRuntime:
    """A runtime container whose failures are chosen by the prompt."""

    def __init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/invocations", self.invoke, methods=["POST"]),
                Route("/ping", lambda r: JSONResponse({"status": "Healthy"}), methods=["GET"]),
            ]
        )

    async def invoke(self, request: Request) -> Response:
        payload = await request.json()
        prompt, sid = payload.get("prompt", ""), payload.get("session_id", "")
        if prompt == "status 500":
            return PlainTextResponse(LEAKY, status_code=500)
        if prompt == "status 400":
            return JSONResponse({"message": LEAKY, "error": LEAKY}, status_code=400)
        if prompt == "slow headers":
            await asyncio.sleep(5)
        return StreamingResponse(self.body(prompt, sid), media_type="text/event-stream")

    async def body(self, prompt: str, sid: str) -> AsyncIterator[bytes]:
        yield frame(start_event(sid))
        if prompt == "break":
            raise RuntimeError(LEAKY)  # the chunked body is cut
        if prompt == "sdk failure":  # what the SDK writes when the entrypoint raises
            yield frame({"error": LEAKY, "error_type": "RuntimeError", "message": LEAKY})
        elif prompt == "silent":
            await asyncio.sleep(5)
        elif prompt == "garbage":
            yield f"data: {LEAKY}\n\n".encode()
        # every case ends without AGENT_END


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def visible(client: httpx.AsyncClient, message: str) -> list[str]:
    """Everything a client sees of one message: stream, JSON, background run status and replay."""
    texts = []
    stream = await client.post("/v1/chat/stream", json={"message": message})
    texts.append(stream.text)
    texts.append((await client.post("/v1/chat", json={"message": message})).text)
    started = await client.post("/v1/runs", json={"message": message})
    texts.append(started.text)
    if started.status_code == 202:
        run = started.json()
        texts.append((await client.get(run["stream_url"])).text)  # follows the run to its end
        texts.append((await client.get(run["status_url"])).text)
    return texts


async def websocket_texts(url: str, message: str) -> list[str]:
    texts = []
    async with connect(url.replace("http", "ws", 1) + "/v1/chat/ws") as ws:
        await ws.send(json.dumps({"type": "start", "message": message}))
        while True:
            text = str(await asyncio.wait_for(ws.recv(), 10))
            texts.append(text)
            if json.loads(text).get("type") in ("done", "rejected"):
                return texts


FAILURES = ["status 500", "status 400", "slow headers", "break", "sdk failure", "silent", "garbage"]


@pytest.mark.slow
@pytest.mark.parametrize("message", FAILURES)
async def test_a_failing_runtime_leaks_nothing_to_any_client(message: str) -> None:
    runtime = LeakyRuntime()
    async with (
        serve(runtime.app) as runtime_url,
        serve(create_endpoint(LocalSettings(runtime_url))) as endpoint,
    ):
        settings = Settings(
            auth_mode="local-dev",
            agentcore_endpoint_url=endpoint,
            first_byte_timeout_s=1.0,
            event_timeout_s=1.0,
        )
        app = create_app(settings, event_log=MemoryEventLog())
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
            texts = await visible(client, message) + await websocket_texts(url, message)
    for text in texts:
        assert_clean(text)
    assert "error" in texts[0]  # it failed, visibly: a 5xx JSON error or an `error` event


@pytest.mark.parametrize(
    "where", ["endpoint unreachable", "runtime down behind the endpoint", "unknown runtime"]
)
async def test_an_unreachable_or_unknown_upstream_leaks_nothing(where: str) -> None:
    arn = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/secret_agent-abc"
    dead = f"http://127.0.0.1:{unused_port()}"
    async with serve(create_endpoint(LocalSettings(dead))) as endpoint:
        overrides: dict[str, Any] = {
            "endpoint unreachable": {"agentcore_endpoint_url": dead},
            "runtime down behind the endpoint": {"agentcore_endpoint_url": endpoint},
            "unknown runtime": {"agentcore_endpoint_url": endpoint, "agent_runtime_arn": arn},
        }[where]
        app = create_app(Settings(auth_mode="local-dev", **overrides), event_log=MemoryEventLog())
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
            texts = await visible(client, "hello") + await websocket_texts(url, "hello")
            health = (await client.get("/healthz")).text
    for text in [*texts, health]:
        assert_clean(text)
    assert json.loads(texts[1])["error"]["code"].startswith("upstream_")
