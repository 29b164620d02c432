"""StopRuntimeSession on the local AgentCore endpoint stops the real agent's work inside the runtime."""

from __future__ import annotations

import re
import time

import aioboto3
import pytest

from bff.settings import LOCAL_RUNTIME_ARN
from scripts.devstack import Stack

pytestmark = pytest.mark.slow

SID = "stop-test-" + "e" * 40


async def test_stop_runtime_session_stops_the_long_tool_inside_the_runtime(stack: Stack) -> None:
    session = aioboto3.Session()
    async with session.client(
        "bedrock-agentcore",
        endpoint_url=stack.url("agentcore"),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        response = await client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN,
            runtimeSessionId=SID,
            payload=b'{"prompt": "Analyse the data set"}',
        )
        body = response["response"]
        seen = b""
        async for chunk in body.iter_chunks():  # read until the tool reports its first progress
            seen += chunk
            if b"TOOL_PROGRESS" in seen:
                break
        call_id = re.search(rb'"call_id": ?"([^"]+)"', seen.split(b"TOOL_PROGRESS", 1)[1]).group(1).decode()  # type: ignore[union-attr]
        stopped = await client.stop_runtime_session(agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId=SID)
        stopped_at = time.monotonic()
        assert stopped["statusCode"] == 200
        rest = b"".join([chunk async for chunk in body.iter_chunks()])
        assert b"AGENT_END" not in rest  # the stream ended without the agent finishing

    # The runtime logs each step of the tool: it logs the cancellation, and no step after it.
    deadline = stopped_at + 5
    while f"call_id={call_id} cancelled" not in stack.output("runtime"):
        assert time.monotonic() < deadline, stack.output("runtime")[-3000:]
        time.sleep(0.05)
    assert f"call_id={call_id} completed" not in stack.output("runtime")
