"""Approvals belong to the run's principal: another principal answering a real pending approval,
natively or as an AG-UI `resume`, gets 404, the approval stays pending and the runtime hears nothing;
the owner can still answer it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from test_approval_fakes import ScriptedRuntime

from bff.app import create_app
from bff.settings import Settings

SECRET = "approvals-secret-" + "w" * 32
PROMPT = "Save a note titled groceries with the text milk and eggs."


def bearer(sub: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": sub, "iss": "https://issuer.test", "aud": "bff", "iat": now, "exp": now + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, ScriptedRuntime]]:
    runtime = ScriptedRuntime()
    settings = Settings(
        auth_mode="jwt",
        jwt_hs256_secret=SECRET,
        jwt_issuer="https://issuer.test",
        jwt_audience="bff",
        rate_limit_per_minute=0,
    )
    app = create_app(settings, upstream=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff", timeout=10) as client:
            yield client, runtime


async def test_another_principal_cannot_answer_a_pending_approval(
    http: tuple[httpx.AsyncClient, ScriptedRuntime],
) -> None:
    client, runtime = http
    alice, bob = bearer("alice"), bearer("bob")
    paused = await client.post("/v1/chat/stream", json={"message": PROMPT}, headers=alice)
    assert paused.status_code == 200
    run_id, session_id = paused.headers["x-run-id"], paused.headers["x-session-id"]
    approval_id = paused.text.split('"approval_id":')[1].split('"')[1]
    answer = {"approval_id": approval_id, "decision": "approve"}
    resume: dict[str, Any] = {
        "threadId": session_id,
        "runId": "r2",
        "state": {},
        "messages": [],
        "tools": [],
        "context": [],
        "forwardedProps": {},
        "resume": [{"interruptId": approval_id, "status": "resolved", "payload": {"decision": "approve"}}],
    }
    refused = [
        await client.post(f"/v1/runs/{run_id}/approval", json=answer, headers=bob),
        await client.post("/v1/chat/stream", json=resume, headers=bob),
    ]
    for response in refused:
        assert response.status_code == 404, response.text
        assert run_id not in response.text
    assert [p for p in runtime.payloads if "resume" in p] == []  # the tool never ran for bob
    status = await client.get(f"/v1/runs/{run_id}", headers=alice)
    assert status.json()["status"] == "awaiting_approval"
    accepted = await client.post(f"/v1/runs/{run_id}/approval", json=answer, headers=alice)
    assert accepted.status_code == 202, accepted.text
