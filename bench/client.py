"""The load client: opens S streams against one target and times every event it receives.

Runs as its own process (`python -m bench.client '<json spec>'`, writes its JSON result to `spec["out"]`) so
that it never shares an event loop, or a GIL, with the orchestrator or with what it measures.

Targets (every one reads the synthetic runtime, bench/synthetic_runtime.py):

- `bff`: `POST /v1/chat/stream` on the BFF, the runtime parameters as the chat message.
- `direct`: `POST /runtimes/{arn}/invocations` on the local AgentCore endpoint, the same HTTP hop
  the BFF's upstream client makes, read by the same lean reader as `bff`. This is the baseline:
  both paths share the runtime, the endpoint and the reader, so the difference is the BFF.
- `alt`: the alternative relay (bench/alt_relay.py), same request shape as `bff`.
- `boto`: aioboto3 `invoke_agent_runtime` against the endpoint, read with `iter_chunks()` or read
  whole (`"read": "whole"`): what a Python client of AgentCore itself sees.

The lean reader (aiohttp, its C HTTP parser de-chunks) cuts the byte stream at the last blank
line, counts frames with `bytes.count` and finds every delta's emit stamp with one C regex, so
it stays well under the rates it measures. An event's receive time is when its last byte arrived.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

STAMP_RE = re.compile(rb"(\d{10}\.\d{6})x")  # as bench/synthetic_runtime.py stamps deltas
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"


@dataclass
class StreamResult:
    ok: bool = False
    error: str = ""
    ttfb_ms: float = -1.0  # request sent -> first complete frame
    first_upstream_ms: float = -1.0  # request sent -> the runtime's AGENT_START (BFF: agent_start)
    first_token_ms: float = -1.0  # request sent -> first TOKEN
    frames: int = 0
    bytes: int = 0
    stamps: int = 0
    done: bool = False


@dataclass
class Reader:
    """Incremental frame splitter over any chunking; records latencies as frames complete."""

    started: float
    result: StreamResult
    latencies_ms: list[float] | None
    tail: bytes = b""
    _seen_upstream: bool = field(default=False)

    def feed(self, chunk: bytes) -> None:
        now = time.time()
        self.result.bytes += len(chunk)
        data = self.tail + chunk
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self.tail = data
            return
        complete, self.tail = data[: cut + 2], data[cut + 2 :]
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        if self.result.frames == 0:
            self.result.ttfb_ms = elapsed_ms
        self.result.frames += complete.count(b"\n\n")
        if not self._seen_upstream and (b"AGENT_START" in complete or b"agent_start" in complete):
            self._seen_upstream = True
            self.result.first_upstream_ms = elapsed_ms
        stamps = STAMP_RE.findall(complete)
        if stamps:
            if self.result.stamps == 0:
                self.result.first_token_ms = elapsed_ms
            self.result.stamps += len(stamps)
            if self.latencies_ms is not None:
                self.latencies_ms.extend((now - float(s)) * 1000 for s in stamps)
        if b"AGENT_END" in complete or b"event: done" in complete:
            self.result.done = True


def session_id() -> str:
    return f"bench-{uuid.uuid4().hex}"


async def http_stream(
    http: aiohttp.ClientSession, spec: dict[str, Any], latencies: list[float] | None
) -> StreamResult:
    result = StreamResult()
    message = json.dumps(spec["params"])
    sid = session_id()
    if spec["target"] == "direct":
        url = f"{spec['url']}/runtimes/{quote(spec['arn'], safe='')}/invocations"
        body: dict[str, Any] = {"prompt": message, "session_id": sid}
        headers = {SESSION_HEADER: sid, "Accept": "text/event-stream"}
    else:
        url = f"{spec['url']}/v1/chat/stream"
        body = {"message": message, "session_id": sid}
        headers = {"Accept": "text/event-stream", **spec.get("headers", {})}
    started = time.perf_counter()
    reader = Reader(started, result, latencies)
    try:
        async with http.post(url, json=body, headers=headers) as resp:
            if resp.status != 200:
                result.error = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                return result
            async for chunk in resp.content.iter_any():
                reader.feed(chunk)
        result.ok = result.done
        if not result.done:
            result.error = "stream ended without a terminal event"
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    return result


async def boto_stream(client: Any, spec: dict[str, Any], latencies: list[float] | None) -> StreamResult:
    result = StreamResult()
    sid = session_id()
    payload = json.dumps({"prompt": json.dumps(spec["params"]), "session_id": sid}).encode()
    started = time.perf_counter()
    reader = Reader(started, result, latencies)
    try:
        response = await client.invoke_agent_runtime(
            agentRuntimeArn=spec["arn"], runtimeSessionId=sid, payload=payload
        )
        body = response["response"]
        if spec.get("read") == "whole":
            reader.feed(await body.read())
        else:
            async for chunk in body.iter_chunks():
                reader.feed(chunk)
        result.ok = result.done
    except Exception as exc:  # a benchmark reports every failure as data
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    return result


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    streams = int(spec.get("streams", 1))
    ramp_s = float(spec.get("ramp_s", 0.0))
    sequential = bool(spec.get("sequential", False))
    latencies: list[float] | None = [] if spec.get("latency", True) else None
    results: list[StreamResult] = []

    async def one(i: int, call: Any) -> None:
        if ramp_s and not sequential:
            await asyncio.sleep(ramp_s * i / streams)
        results.append(await call())

    t0 = time.time()
    warmup = {**spec, "params": {**spec["params"], "events": 1, "rate": 0}}
    if spec["target"] == "boto":
        import aioboto3
        from botocore.config import Config

        config = Config(
            max_pool_connections=max(10, streams + 10),
            read_timeout=300,
            retries={"max_attempts": 1},
        )
        session = aioboto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench")
        async with session.client(
            "bedrock-agentcore", endpoint_url=spec["url"], region_name="us-east-1", config=config
        ) as client:
            if spec.get("warmup"):  # the first call of a fresh client loads models, signs, connects
                await boto_stream(client, warmup, None)
            calls = [lambda: boto_stream(client, spec, latencies) for _ in range(streams)]
            t0 = time.time()
            await _drive(calls, one, sequential)
    else:
        connector = aiohttp.TCPConnector(limit=0, force_close=bool(spec.get("fresh_connections", False)))
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            if spec.get("warmup"):
                await http_stream(http, warmup, None)
            calls = [lambda: http_stream(http, spec, latencies) for _ in range(streams)]
            t0 = time.time()
            await _drive(calls, one, sequential)
    t1 = time.time()
    return {
        "t_start": t0,
        "t_end": t1,
        "wall_s": t1 - t0,
        "cpu_s": time.process_time(),
        "streams": [asdict(r) for r in results],
        "latencies_ms": latencies or [],
    }


async def _drive(calls: list[Any], one: Any, sequential: bool) -> None:
    if sequential:
        for i, call in enumerate(calls):
            await one(i, call)
        return
    async with asyncio.TaskGroup() as tg:
        for i, call in enumerate(calls):
            tg.create_task(one(i, call))


def main() -> None:
    spec = json.loads(sys.argv[1])
    import uvloop  # the loop uvicorn gives the BFF; a fair, fast client

    result = uvloop.run(run(spec))
    with open(spec["out"], "w") as out:  # a file, not stdout: uvloop may leave stdout non-blocking
        json.dump(result, out)


if __name__ == "__main__":
    main()
