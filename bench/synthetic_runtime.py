"""A synthetic agent runtime: a real `BedrockAgentCoreApp` that emits N events, no model.

Runs in `.venv-runtime` (`python -m bench.synthetic_runtime --port P`). The entrypoint reads its
parameters from the payload, or from the payload's `prompt` parsed as JSON (that is what the BFF
forwards: `{"prompt": <the chat message>, ...}`):

    {"events": N, "size": bytes, "rate": per_s, "bridge": "sdk" | "response", "batch": k}

and yields `AGENT_START`, N `TOKEN` events, then `AGENT_END` (docs/architecture.md vocabulary).
`rate` 0 means as fast as possible.

Every TOKEN's `delta` starts with its own emit time, `time.time()` formatted `%.6f` (17
characters: 10 digits, a dot, 6 digits), padded with `x` to `size` characters (at least 18).
The emit time survives every hop that keeps the text (the BFF's `token` events, coalesced or
not), so a client measures emit -> receive latency per delta: `STAMP_RE` finds every stamp in a
received buffer. The event's `timestamp` field carries the same time, per the contract.

Two ways out of the app:

- `bridge: "sdk"` (default): the entrypoint returns an async generator and the SDK streams it
  the way every real agent streams: a worker event-loop thread, a `queue.Queue(maxsize=100)`, and
  Starlette iterating a sync generator in its thread pool (one pool thread per `next()`). That
  path is shared by the direct and the BFF measurements, so ratios isolate the BFF.
- `bridge: "response"`: the entrypoint returns a Starlette `StreamingResponse` (the SDK passes a
  Response through untouched) over an async generator on the main loop, writing `batch` frames
  per chunk. It is a cheaper producer, for figures where the SDK bridge would be the bottleneck
  rather than what is measured (throughput, thousands of concurrent streams). The bytes on the
  wire are the same `data: <json>\\n\\n` frames.

The Starlette thread pool (anyio's default limiter, 40 threads) is raised at start-up to
`--threads` (default 4096): with the SDK bridge every open stream parks one pool thread in
`queue.get()` between events, so 40 would cap a process at 40 streams making progress. One
AgentCore session runs one stream per microVM in the cloud; this process serves hundreds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from bedrock_agentcore.runtime import BedrockAgentCoreApp
from starlette.responses import StreamingResponse

STAMP_LEN = 17
MIN_SIZE = STAMP_LEN + 1
STAMP_RE = re.compile(rb"(\d{10}\.\d{6})x")
MODEL = "synthetic"

_threads = 4096


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = _threads
    yield


app = BedrockAgentCoreApp(lifespan=_lifespan)


def parse_params(payload: dict[str, Any]) -> dict[str, Any]:
    """The run parameters, from the payload itself or from its `prompt` (a JSON object)."""
    params: dict[str, Any] = {}
    prompt = payload.get("prompt")
    if isinstance(prompt, str) and prompt.lstrip().startswith("{"):
        try:
            loaded = json.loads(prompt)
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            params.update(loaded)
    params.update({k: v for k, v in payload.items() if k in {"events", "size", "rate", "bridge", "batch"}})
    return {
        "events": max(0, int(params.get("events", 10))),
        "size": max(MIN_SIZE, int(params.get("size", 64))),
        "rate": max(0.0, float(params.get("rate", 0))),
        "bridge": "response" if params.get("bridge") == "response" else "sdk",
        "batch": max(1, int(params.get("batch", 64))),
    }


def token(session_id: str, message_id: str, size: int) -> dict[str, Any]:
    now = time.time()
    return {
        "type": "TOKEN",
        "timestamp": now,
        "session_id": session_id,
        "delta": f"{now:.6f}".ljust(size, "x"),
        "message_id": message_id,
    }


async def events(params: dict[str, Any], session_id: str) -> AsyncIterator[dict[str, Any]]:
    """AGENT_START, N TOKENs paced at `rate` (on a fixed schedule, no drift), AGENT_END."""
    started = time.time()
    n, size, rate = params["events"], params["size"], params["rate"]
    message_id = f"msg_{uuid.uuid4().hex[:12]}"
    yield {"type": "AGENT_START", "timestamp": started, "session_id": session_id, "model": MODEL, "input": ""}
    t0 = time.perf_counter()
    for i in range(n):
        if rate > 0:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        elif i % 256 == 255:
            await asyncio.sleep(0)  # as fast as possible, but let other streams run
        yield token(session_id, message_id, size)
    ended = time.time()
    yield {
        "type": "AGENT_END",
        "timestamp": ended,
        "session_id": session_id,
        "output": f"{n} synthetic events",
        "node_timings_ms": {},
        "usage": {"input_tokens": 0, "output_tokens": n, "total_tokens": n},
        "duration_ms": (ended - started) * 1000,
        "status": "complete",
    }


def frame(event: dict[str, Any]) -> bytes:
    """The SDK's own framing (`BedrockAgentCoreApp._convert_to_sse`)."""
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def framed(params: dict[str, Any], session_id: str) -> AsyncIterator[bytes]:
    """`batch` frames per chunk while the producer is ahead; never holds a frame back to wait."""
    batch: list[bytes] = []
    n, rate = params["events"], params["rate"]
    for_batching = rate == 0 or rate > 1000
    async for event in events(params, session_id):
        batch.append(frame(event))
        if not for_batching or len(batch) >= params["batch"] or event["type"] != "TOKEN" or n == 0:
            yield b"".join(batch)
            batch.clear()
    if batch:
        yield b"".join(batch)


@app.entrypoint
async def invoke(payload: dict[str, Any], context: Any) -> Any:
    params = parse_params(payload if isinstance(payload, dict) else {})
    session_id = getattr(context, "session_id", None) or str(payload.get("session_id") or "synthetic")
    if params["bridge"] == "response":
        return StreamingResponse(framed(params, session_id), media_type="text/event-stream")
    return events(params, session_id)


def main() -> None:
    global _threads
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=_threads)
    args = parser.parse_args()
    _threads = args.threads
    logging.getLogger("bedrock_agentcore.app").setLevel(logging.WARNING)
    app.run(host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
