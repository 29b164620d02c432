"""The common alternative to the BFF's async upstream, built only to be measured against it.

Sync boto3 `invoke_agent_runtime` run in `asyncio.to_thread`, then the raw body relayed chunk by
chunk with `read1()` (each blocking read in `asyncio.to_thread` too), bytes passed through as
the runtime framed them. `POST /v1/chat/stream {"message", "session_id"}` like the BFF, minus
everything else the BFF does (no normalising, no event log, no ids): a lower bound on work.

What is kept as people usually write it: `asyncio.to_thread` uses the loop's default executor,
`min(32, cpu_count + 4)` threads (6 on a 2-core machine), and every open stream needs a thread
for each blocking `read1()`. What is made fair: boto3's connection pool is raised from 10 to
`--pool` (default 512), so the pool is not what limits it.

Run: `.venv-bff/bin/python -m bench.alt_relay --port 8010 --endpoint http://127.0.0.1:8090`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import boto3
import uvicorn
from botocore.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.stack import LOCAL_ARN

READ_SIZE = 64 * 1024


def create_app(endpoint: str, arn: str = LOCAL_ARN, pool: int = 512) -> Starlette:
    client = boto3.client(
        "bedrock-agentcore",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=pool, read_timeout=300, retries={"max_attempts": 1}),
    )

    async def chat_stream(request: Request) -> Response:
        body = await request.json()
        session_id = str(body["session_id"])
        payload = json.dumps({"prompt": body["message"], "session_id": session_id}).encode()
        response: dict[str, Any] = await asyncio.to_thread(
            client.invoke_agent_runtime, agentRuntimeArn=arn, runtimeSessionId=session_id, payload=payload
        )
        raw = response["response"]._raw_stream  # urllib3 HTTPResponse under botocore's StreamingBody

        async def relay() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(raw.read1, READ_SIZE):
                    yield chunk
            finally:
                raw.release_conn()

        return StreamingResponse(relay(), media_type="text/event-stream")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/v1/chat/stream", chat_stream, methods=["POST"]), Route("/health", health)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--endpoint", default="http://127.0.0.1:8090")
    parser.add_argument("--pool", type=int, default=512)
    args = parser.parse_args()
    app = create_app(args.endpoint, pool=args.pool)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
