"""Every endpoint of the real app (uvicorn on a free port, scripted upstream) in BFF_AUTH_MODE=jwt:
no token, a bad signature, an expired token, the wrong audience or issuer -> 401; another
principal's run and session ids -> 404; API keys for service clients; WebSocket refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bff.app import create_app
from bff.auth import AuthConfigError, hash_api_key
from bff.eventlog import MemoryEventLog
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream, serve

SECRET = "test-secret-" + "x" * 32
ISSUER = "https://issuer.test"
AUDIENCE = "bff-web"
SERVICE_KEY = "svc-key-" + "k" * 24
SESSION = "sess_" + "a" * 32


def mint(sub: str = "alice", *, secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Every authenticated endpoint: (method, path, JSON body). `{run}` / `{session}` are filled in.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/chat/stream", {"message": "hello"}),
    ("POST", "/v1/chat", {"message": "hello"}),
    ("POST", "/v1/runs", {"message": "hello"}),
    ("GET", "/v1/runs/{run}", None),
    ("GET", "/v1/runs/{run}/stream", None),
    ("POST", "/v1/runs/{run}/cancel", None),
    ("POST", "/v1/runs/{run}/approval", {"approval_id": "appr_1", "decision": "approve"}),
    ("GET", "/v1/sessions", None),
    ("GET", "/v1/sessions/{session}/messages", None),
]
OPEN_ENDPOINTS = ["/healthz", "/metrics", "/openapi.json"]

BAD_CREDENTIALS: dict[str, tuple[dict[str, str], str]] = {
    "no-token": ({}, "unauthorized"),
    "not-bearer": ({"Authorization": "Basic YWxpY2U6cGFzcw=="}, "unauthorized"),
    "garbage": (bearer("not.a.jwt"), "invalid_token"),
    "bad-signature": (bearer(mint(secret="another-secret-" + "y" * 32)), "invalid_token"),
    "expired": (bearer(mint(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)), "token_expired"),
    "wrong-audience": (bearer(mint(aud="another-app")), "invalid_token"),
    "wrong-issuer": (bearer(mint(iss="https://evil.test")), "invalid_token"),
    "unknown-api-key": ({"X-API-Key": "not-a-key"}, "invalid_api_key"),
}


@dataclass
class Stack:
    url: str
    client: httpx.AsyncClient
    upstream: FakeUpstream

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str], **ids: str
    ) -> httpx.Response:
        return await self.client.request(method, path.format(**ids), json=body, headers=headers)


def jwt_settings(**extra: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_mode": "jwt",
        "jwt_hs256_secret": SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "api_keys": f"reporting:{hash_api_key(SERVICE_KEY)}",
        "rate_limit_per_minute": 0,
    }
    values.update(extra)
    return Settings(**values)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    upstream = FakeUpstream()
    app = create_app(jwt_settings(), upstream=upstream, event_log=MemoryEventLog(ttl_s=60))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield Stack(url, client, upstream)


def test_the_bff_refuses_to_start_in_jwt_mode_without_anything_to_verify() -> None:
    with pytest.raises(AuthConfigError):
        create_app(Settings(auth_mode="jwt"), upstream=FakeUpstream())


def test_the_bff_refuses_to_start_in_an_unknown_auth_mode() -> None:
    with pytest.raises(AuthConfigError):
        create_app(Settings(auth_mode="disabled"), upstream=FakeUpstream())


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
async def test_every_endpoint_refuses_bad_credentials(stack: Stack, case: str) -> None:
    # ids that exist, so a 401 cannot be a 404 in disguise
    made = await stack.client.post("/v1/chat", json={"message": "hello"}, headers=bearer(mint()))
    assert made.status_code == 200
    ids = {"run": made.json()["run_id"], "session": made.json()["session_id"]}
    headers, code = BAD_CREDENTIALS[case]
    for method, path, body in ENDPOINTS:
        response = await stack.call(method, path, body, headers, **ids)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"]}}
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Traceback" not in response.text


async def test_nothing_reaches_the_runtime_without_valid_credentials(stack: Stack) -> None:
    for headers, _ in BAD_CREDENTIALS.values():
        await stack.client.post("/v1/chat/stream", json={"message": "hello"}, headers=headers)
    assert stack.upstream.payloads == []


async def test_open_endpoints_need_no_credentials(stack: Stack) -> None:
    for path in OPEN_ENDPOINTS:
        assert (await stack.client.get(path)).status_code == 200, path


async def test_a_valid_token_reaches_every_endpoint(stack: Stack) -> None:
    alice = bearer(mint("alice"))
    made = await stack.client.post(
        "/v1/chat", json={"message": "hello", "session_id": SESSION}, headers=alice
    )
    ids = {"run": made.json()["run_id"], "session": made.json()["session_id"]}
    for method, path, body in ENDPOINTS:
        response = await stack.call(method, path, body, alice, **ids)
        assert response.status_code != 401, (method, path)
        assert response.status_code < 500, (method, path, response.text)


@pytest.mark.parametrize("intruder", ["jwt", "api-key"])
async def test_another_principals_run_and_session_are_not_found(stack: Stack, intruder: str) -> None:
    alice = bearer(mint("alice"))
    bob = bearer(mint("bob")) if intruder == "jwt" else {"X-API-Key": SERVICE_KEY}
    made = await stack.client.post(
        "/v1/chat", json={"message": "hello", "session_id": SESSION}, headers=alice
    )
    run_id = made.json()["run_id"]
    ids = {"run": run_id, "session": SESSION}
    for method, path, body in ENDPOINTS[3:]:
        if path == "/v1/sessions":
            listed = await stack.call(method, path, body, bob)
            assert listed.json()["sessions"] == []  # bob sees none of alice's sessions
            continue
        response = await stack.call(method, path, body, bob, **ids)
        assert response.status_code == 404, (method, path, response.text)
        assert run_id not in response.text
    # bob cannot continue alice's conversation either
    hijack = await stack.client.post(
        "/v1/chat", json={"message": "hello", "session_id": SESSION}, headers=bob
    )
    assert hijack.status_code == 404
    # and alice still can, and still sees her run
    assert (await stack.client.get(f"/v1/runs/{run_id}", headers=alice)).status_code == 200
    again = await stack.client.post(
        "/v1/chat", json={"message": "hello", "session_id": SESSION}, headers=alice
    )
    assert again.status_code == 200


async def test_the_principal_goes_to_the_runtime_as_its_user(stack: Stack) -> None:
    seen: list[str | None] = []
    original = stack.upstream.stream

    def recording_stream(
        payload: dict[str, Any], session_id: str, user_id: str | None = None, **kw: Any
    ) -> Any:
        seen.append(user_id)
        return original(payload, session_id, user_id, **kw)

    stack.upstream.stream = recording_stream  # type: ignore[method-assign]
    await stack.client.post("/v1/chat", json={"message": "hello"}, headers=bearer(mint("carol")))
    await stack.client.post("/v1/chat", json={"message": "hello"}, headers={"X-API-Key": SERVICE_KEY})
    assert seen == ["carol", "apikey:reporting"]


async def test_service_clients_use_hashed_api_keys(stack: Stack) -> None:
    response = await stack.client.post(
        "/v1/chat", json={"message": "hello"}, headers={"X-API-Key": SERVICE_KEY}
    )
    assert response.status_code == 200
    run_id = response.json()["run_id"]
    # the key's principal owns the run; a user does not
    assert (
        await stack.client.get(f"/v1/runs/{run_id}", headers={"X-API-Key": SERVICE_KEY})
    ).status_code == 200
    assert (await stack.client.get(f"/v1/runs/{run_id}", headers=bearer(mint()))).status_code == 404


async def test_websocket_without_a_token_is_refused_before_the_handshake(stack: Stack) -> None:
    ws_url = stack.url.replace("http://", "ws://") + "/v1/chat/ws"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with connect(f"{ws_url}?access_token={mint(exp=int(time.time()) - 3600)}"):
            pass


async def test_websocket_with_a_token_in_the_query_streams(stack: Stack) -> None:
    ws_url = stack.url.replace("http://", "ws://") + f"/v1/chat/ws?access_token={mint()}"
    async with asyncio.timeout(10), connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "start", "message": "hello"}))
        types: list[str] = []
        while not types or types[-1] != "done":
            types.append(json.loads(await ws.recv())["type"])
    assert types[0] == "start"


async def test_another_principals_run_and_session_are_not_found_over_the_websocket(stack: Stack) -> None:
    alice = bearer(mint("alice"))
    made = await stack.client.post("/v1/runs", json={"message": "hold", "session_id": SESSION}, headers=alice)
    run_id = made.json()["run_id"]
    ws_url = stack.url.replace("http://", "ws://") + f"/v1/chat/ws?access_token={mint('bob')}"
    async with asyncio.timeout(10), connect(ws_url) as ws:
        for message, code in [
            ({"type": "cancel", "run_id": run_id}, "run_not_found"),
            ({"type": "resume", "run_id": run_id, "last_event_id": 0}, "run_not_found"),
            ({"type": "start", "message": "hello", "session_id": SESSION}, "session_not_found"),
        ]:
            await ws.send(json.dumps(message))
            answer = json.loads(await ws.recv())
            assert answer == {
                "type": "rejected",
                "error": {"code": code, "message": answer["error"]["message"]},
            }
    status = await stack.client.get(f"/v1/runs/{run_id}", headers=alice)
    assert status.json()["status"] == "running"  # bob's cancel did nothing
    assert len(stack.upstream.payloads) == 1  # and bob's start never reached the runtime
    await stack.client.post(f"/v1/runs/{run_id}/cancel", headers=alice)


async def test_ag_ui_and_ai_sdk_bodies_cannot_continue_another_principals_session(stack: Stack) -> None:
    alice, bob = bearer(mint("alice")), bearer(mint("bob"))
    made = await stack.client.post(
        "/v1/chat", json={"message": "hello", "session_id": SESSION}, headers=alice
    )
    assert made.status_code == 200
    user = {"id": "m1", "role": "user", "content": "hello"}
    agui = {"threadId": SESSION, "runId": "r1", "state": {}, "messages": [user], "tools": [], "context": []}
    aisdk = {
        "id": SESSION,
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
    }
    for body in (agui, aisdk):
        for path in ("/v1/chat/stream", "/v1/chat", "/v1/runs"):
            response = await stack.client.post(path, json=body, headers=bob)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"]["code"] == "session_not_found"
    assert len(stack.upstream.payloads) == 1
    # a short frontend conversation id is mapped per principal: the same id, two conversations
    short = {**aisdk, "id": "chat-1"}
    mine = await stack.client.post("/v1/chat", json=short, headers=alice)
    theirs = await stack.client.post("/v1/chat", json=short, headers=bob)
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["session_id"] != theirs.json()["session_id"]
