"""Limits through the running app (uvicorn on a free port, scripted upstream), on memory and on
the real Redis: rate limits and run caps trip exactly at their thresholds, every 429 carries
Retry-After and comes before any stream opens, and a run's slot is held until the run ends."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.limits import Limiter
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream, serve

SECRET = "limits-secret-" + "z" * 32
REDIS_URL = "redis://127.0.0.1:6379/0"


def token_for(sub: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": sub, "iss": "https://issuer.test", "aud": "bff", "iat": now, "exp": now + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@dataclass
class Stack:
    client: httpx.AsyncClient
    upstream: FakeUpstream
    limiter: Limiter

    async def wait_slots_free(self, principal: str) -> None:
        """Until the limiter holds no slot of `principal` (a released slot is freed in a task)."""
        async with asyncio.timeout(5):
            while self.limiter.active_runs or await self.limiter.runs_of(principal):
                await asyncio.sleep(0.01)


Start = Callable[..., Any]


@pytest.fixture(params=["memory", "redis"])
async def start(request: pytest.FixtureRequest) -> AsyncIterator[Start]:
    @asynccontextmanager
    async def run(**limits: Any) -> AsyncIterator[Stack]:
        settings = Settings(
            auth_mode="jwt",
            jwt_hs256_secret=SECRET,
            jwt_issuer="https://issuer.test",
            jwt_audience="bff",
            redis_url=REDIS_URL if request.param == "redis" else None,
            **limits,
        )
        upstream = FakeUpstream()
        app = create_app(settings, upstream=upstream, event_log=MemoryEventLog(ttl_s=60))
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield Stack(client, upstream, app.state.limiter)

    yield run


def principal() -> str:
    return f"user-{uuid.uuid4().hex}"  # fresh per test: Redis keys never collide across tests


def assert_429(response: httpx.Response, code: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"  # not a stream
    assert response.json()["error"]["code"] == code
    assert int(response.headers["retry-after"]) >= 1


async def test_rate_limit_trips_at_exactly_n_requests_per_minute(start: Start) -> None:
    async with start(rate_limit_per_minute=5, max_concurrent_runs_per_principal=0) as stack:
        alice, bob = token_for(principal()), token_for(principal())
        for _ in range(5):
            assert (await stack.client.get("/v1/sessions", headers=alice)).status_code == 200
        refused = await stack.client.get("/v1/sessions", headers=alice)
        assert_429(refused, "rate_limited")
        assert int(refused.headers["retry-after"]) <= 60
        assert (await stack.client.get("/v1/sessions", headers=bob)).status_code == 200  # per principal


async def test_rate_limited_stream_request_never_opens_a_stream(start: Start) -> None:
    async with start(rate_limit_per_minute=1, max_concurrent_runs_per_principal=0) as stack:
        alice = token_for(principal())
        first = await stack.client.post("/v1/chat/stream", json={"message": "hello"}, headers=alice)
        assert first.headers["content-type"].startswith("text/event-stream")
        refused = await stack.client.post("/v1/chat/stream", json={"message": "hello"}, headers=alice)
        assert_429(refused, "rate_limited")
        assert len(stack.upstream.payloads) == 1  # the refused one never reached the runtime


async def test_principal_run_cap_trips_at_exactly_the_cap_and_frees_when_runs_end(start: Start) -> None:
    async with start(rate_limit_per_minute=0, max_concurrent_runs_per_principal=2) as stack:
        who = principal()
        alice = token_for(who)
        runs = []
        for _ in range(2):
            made = await stack.client.post("/v1/runs", json={"message": "hold"}, headers=alice)
            assert made.status_code == 202
            runs.append(made.json()["run_id"])
        refused = await stack.client.post("/v1/chat/stream", json={"message": "hello"}, headers=alice)
        assert_429(refused, "too_many_runs")
        other = await stack.client.post("/v1/chat", json={"message": "hello"}, headers=token_for(principal()))
        assert other.status_code == 200  # another principal has slots of its own
        assert (await stack.client.post(f"/v1/runs/{runs[0]}/cancel", headers=alice)).status_code == 200
        async with asyncio.timeout(5):
            while (made := await stack.client.post("/v1/runs", json={"message": "hold"}, headers=alice)).status_code == 429:  # fmt: skip
                await asyncio.sleep(0.01)  # the cancelled run's slot comes back when its leg has ended
        assert made.status_code == 202
        for run_id in (runs[1], made.json()["run_id"]):
            await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=alice)
        await stack.wait_slots_free(who)


async def test_a_run_holds_its_slot_after_its_client_leaves_until_it_ends(start: Start) -> None:
    async with start(rate_limit_per_minute=0, max_concurrent_runs_per_principal=1) as stack:
        who = principal()
        alice = token_for(who)
        async with stack.client.stream(
            "POST", "/v1/chat/stream", json={"message": "gate open"}, headers=alice
        ) as response:
            run_id = response.headers["x-run-id"]
        # the client is gone; the run goes on (on_disconnect=continue) and keeps its slot
        assert_429(
            await stack.client.post("/v1/chat", json={"message": "hello"}, headers=alice), "too_many_runs"
        )
        stack.upstream.gate("open").set()
        async with asyncio.timeout(5):
            while (await stack.client.get(f"/v1/runs/{run_id}", headers=alice)).json()["status"] != "done":
                await asyncio.sleep(0.01)
        await stack.wait_slots_free(who)
        assert (
            await stack.client.post("/v1/chat", json={"message": "hello"}, headers=alice)
        ).status_code == 200


async def test_process_run_cap_trips_at_exactly_the_cap(start: Start) -> None:
    async with start(rate_limit_per_minute=0, max_concurrent_runs=2) as stack:
        holders = [token_for(principal()) for _ in range(2)]
        runs = []
        for headers in holders:
            made = await stack.client.post("/v1/runs", json={"message": "hold"}, headers=headers)
            runs.append((made.json()["run_id"], headers))
        refused = await stack.client.post(
            "/v1/runs", json={"message": "hold"}, headers=token_for(principal())
        )
        assert_429(refused, "server_busy")
        assert stack.limiter.active_runs == 2
        for run_id, headers in runs:
            await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=headers)


async def test_refusals_are_counted_in_the_metrics(start: Start) -> None:
    async with start(rate_limit_per_minute=1) as stack:
        alice = token_for(principal())
        await stack.client.get("/v1/sessions", headers=alice)
        await stack.client.get("/v1/sessions", headers=alice)
        await stack.client.get("/v1/sessions")
        text = (await stack.client.get("/metrics")).text
    assert 'bff_requests_rejected_total{code="rate_limited"} 1.0' in text
    assert 'bff_requests_rejected_total{code="unauthorized"} 1.0' in text


async def test_a_run_that_fails_before_its_first_byte_gives_its_slot_back(start: Start) -> None:
    async with start(rate_limit_per_minute=0, max_concurrent_runs_per_principal=1) as stack:
        who = principal()
        alice = token_for(who)
        failed = await stack.client.post(
            "/v1/chat/stream", json={"message": "fail open upstream_unavailable"}, headers=alice
        )
        assert failed.status_code == 503
        await stack.wait_slots_free(who)
        assert (
            await stack.client.post("/v1/chat", json={"message": "hello"}, headers=alice)
        ).status_code == 200


async def test_websocket_messages_count_against_the_rate(start: Start) -> None:
    async with start(rate_limit_per_minute=3, max_concurrent_runs_per_principal=0) as stack:
        now = int(time.time())
        claims = {
            "sub": principal(),
            "iss": "https://issuer.test",
            "aud": "bff",
            "iat": now,
            "exp": now + 600,
        }
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        url = str(stack.client.base_url).replace("http://", "ws://") + f"/v1/chat/ws?access_token={token}"
        async with asyncio.timeout(10), connect(url) as ws:  # the handshake: request 1
            for _ in range(2):  # requests 2 and 3
                await ws.send(json.dumps({"type": "start", "message": "hello"}))
                while json.loads(await ws.recv())["type"] != "done":
                    pass
            await ws.send(json.dumps({"type": "start", "message": "hello"}))
            refused = json.loads(await ws.recv())
        assert refused["type"] == "rejected" and refused["error"]["code"] == "rate_limited"
        assert 1 <= refused["error"]["retry_after"] <= 60
        assert len(stack.upstream.payloads) == 2  # the refused start never reached the runtime
