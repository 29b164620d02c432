"""The local AgentCore endpoint answers like the service: botocore raises the modelled exceptions,
bodies are relayed untouched and incrementally, and StopRuntimeSession stops the agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aioboto3
import httpx
import pytest
from aiobotocore.config import AioConfig

from agentcore_local.app import create_app
from agentcore_local.settings import LocalSettings
from bff.settings import LOCAL_RUNTIME_ARN
from scripts.devstack import free_port
from tests.e2e.servers import StubRuntime, serve, wait_for

SID = "session-" + "d" * 40
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"


@pytest.fixture
async def runtime() -> AsyncIterator[tuple[StubRuntime, str]]:
    stub = StubRuntime()
    async with serve(stub.app) as url:
        yield stub, url


@pytest.fixture
async def endpoint(runtime: tuple[StubRuntime, str]) -> AsyncIterator[str]:
    async with serve(create_app(LocalSettings(runtime_url=runtime[1]))) as url:
        yield url


def boto_client(endpoint_url: str) -> Any:
    """The real aioboto3 client, without client-side validation so the endpoint's own checks show."""
    config = AioConfig(parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1})
    return aioboto3.Session().client(
        "bedrock-agentcore",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


async def invoke_error(endpoint_url: str, **kwargs: Any) -> tuple[str, int]:
    args = {
        "agentRuntimeArn": LOCAL_RUNTIME_ARN,
        "runtimeSessionId": SID,
        "payload": b'{"script": []}',
    } | kwargs
    async with boto_client(endpoint_url) as client:
        with pytest.raises(client.exceptions.ClientError) as caught:
            await client.invoke_agent_runtime(**args)
    error = caught.value
    return type(error).__name__, error.response["ResponseMetadata"]["HTTPStatusCode"]


async def test_a_short_session_id_is_a_validation_exception(endpoint: str) -> None:
    assert await invoke_error(endpoint, runtimeSessionId="too-short") == ("ValidationException", 400)


async def test_an_unknown_runtime_arn_is_resource_not_found(endpoint: str) -> None:
    arn = LOCAL_RUNTIME_ARN.replace("local_agent", "missing")
    assert await invoke_error(endpoint, agentRuntimeArn=arn) == ("ResourceNotFoundException", 404)


async def test_a_runtime_error_status_is_a_runtime_client_error(endpoint: str) -> None:
    assert await invoke_error(endpoint, payload=b'{"status": 500}') == ("RuntimeClientError", 424)


async def test_an_unreachable_runtime_is_a_runtime_client_error() -> None:
    async with serve(create_app(LocalSettings(runtime_url=f"http://127.0.0.1:{free_port()}"))) as url:
        assert await invoke_error(url) == ("RuntimeClientError", 424)


async def test_over_the_rate_is_a_throttling_exception(runtime: tuple[StubRuntime, str]) -> None:
    local = LocalSettings(runtime_url=runtime[1], max_invocations_per_s=1)
    async with serve(create_app(local)) as url, boto_client(url) as client:
        args = {"agentRuntimeArn": LOCAL_RUNTIME_ARN, "runtimeSessionId": SID, "payload": b"{}"}
        # two at once: one within the rate, one over it
        results = await asyncio.gather(
            *(client.invoke_agent_runtime(**args) for _ in range(2)), return_exceptions=True
        )
        throttled = [r for r in results if isinstance(r, client.exceptions.ThrottlingException)]
        for ok in results:
            if isinstance(ok, dict):
                await ok["response"].read()
    assert len(throttled) == 1
    assert throttled[0].response["ResponseMetadata"]["HTTPStatusCode"] == 429


async def test_errors_have_the_rest_json_shape(endpoint: str) -> None:
    path = f"/runtimes/{quote(LOCAL_RUNTIME_ARN, safe='')}/invocations"
    async with httpx.AsyncClient() as http:
        response = await http.post(endpoint + path, content=b"{}")  # no session header at all
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert set(response.json()) == {"message"}


async def test_the_body_is_relayed_untouched_and_as_it_is_produced(
    runtime: tuple[StubRuntime, str], endpoint: str
) -> None:
    stub, _ = runtime
    first, second = ': comment\r\ndata: {"a": 1}\r\n\r\n', "data: é\n\nevent: x\ndata: split"
    payload = b'{"script": [{"raw": "%s"}, {"gate": "g"}, {"raw": "%s"}]}' % (
        first.replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n").encode(),
        second.replace('"', '\\"').replace("\n", "\\n").encode("utf-8"),
    )
    async with boto_client(endpoint) as client:
        response = await client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId=SID, payload=payload, qualifier="DEFAULT"
        )
        assert response["contentType"].startswith("text/event-stream")
        assert response["runtimeSessionId"] == SID
        body = response["response"]
        received = await body.read(len(first.encode()))  # arrives while the runtime waits on the gate
        assert received == first.encode()
        stub.gate("g").set()
        rest = b"".join([chunk async for chunk in body.iter_chunks()])
    assert rest == second.encode()


async def test_forwarded_headers_reach_the_runtime(runtime: tuple[StubRuntime, str], endpoint: str) -> None:
    stub, _ = runtime
    async with boto_client(endpoint) as client:
        response = await client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId=SID, payload=b'{"json": {"ok": true}}',
            runtimeUserId="user-1", traceParent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            baggage="k=v",
        )  # fmt: skip
        assert await response["response"].read() == b'{"ok":true}'
        assert response["contentType"] == "application/json"
    headers = stub.sessions[SID].headers[0]
    assert headers["x-amzn-bedrock-agentcore-runtime-user-id"] == "user-1"
    assert headers["traceparent"].startswith("00-0af7") and headers["baggage"] == "k=v"
    assert "authorization" not in headers and "x-amz-date" not in headers


async def test_stop_runtime_session_closes_the_stream_and_unknown_sessions_are_not_found(
    runtime: tuple[StubRuntime, str], endpoint: str
) -> None:
    stub, _ = runtime
    async with boto_client(endpoint) as client:
        response = await client.invoke_agent_runtime(
            agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId=SID, payload=b'{"script": [{"hold": true}]}'
        )
        await wait_for(stub.sessions[SID].started)
        stopped = await client.stop_runtime_session(agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId=SID)
        assert stopped["runtimeSessionId"] == SID and stopped["statusCode"] == 200
        await wait_for(stub.sessions[SID].disconnected)
        assert await response["response"].read() == b""  # the caller's stream ends
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            await client.stop_runtime_session(
                agentRuntimeArn=LOCAL_RUNTIME_ARN, runtimeSessionId="never-" + "x" * 40
            )
    async with httpx.AsyncClient() as http:
        assert (await http.get(endpoint + "/ping")).json()["active_streams"] == 0
