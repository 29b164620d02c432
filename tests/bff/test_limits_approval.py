"""Run caps across an approval pause: a paused run gives its slot back, and answering it when the
principal is at the cap is refused (429, Retry-After) without using up the answer, so the same
answer succeeds once a slot is free (docs/security.md, Limits)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from test_approval_fakes import ScriptedRuntime

from bff.app import create_app
from bff.settings import Settings
from tests.bff.test_runs_fakes import FakeUpstream

PROMPT = "Save a note titled groceries with the text milk and eggs."


class Runtime:
    """ScriptedRuntime (pause for approval, resume) for most prompts; FakeUpstream for "hold"."""

    def __init__(self) -> None:
        self.scripted = ScriptedRuntime()
        self.fake = FakeUpstream()

    def stream(self, payload: dict[str, Any], session_id: str, **kw: Any) -> Any:
        target: Any = self.fake if payload.get("prompt") == "hold" else self.scripted
        return target.stream(payload, session_id, **kw)

    async def invoke_json(self, payload: dict[str, Any], session_id: str, **kw: Any) -> Any:
        return await self.scripted.invoke_json(payload, session_id, **kw)

    async def stop_session(self, session_id: str, user_id: str | None = None) -> None:
        return None


@asynccontextmanager
async def app_client(**limits: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = Settings(auth_mode="local-dev", rate_limit_per_minute=0, **limits)
    app = create_app(settings, upstream=Runtime())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bff", timeout=10) as http:
            yield http, app.state.limiter


async def slots_free(limiter: Any) -> None:
    async with asyncio.timeout(5):
        while limiter.active_runs or await limiter.runs_of("local"):
            await asyncio.sleep(0.01)


async def pause(http: httpx.AsyncClient) -> tuple[str, str]:
    response = await http.post("/v1/chat/stream", json={"message": PROMPT})
    assert response.status_code == 200, response.text
    assert '"type":"interrupted"' in response.text.replace(" ", "")
    run_id = response.headers["x-run-id"]
    approval_id = response.text.split('"approval_id":')[1].split('"')[1]
    return run_id, approval_id


async def test_a_paused_run_gives_its_slot_back_and_its_answer_waits_for_one() -> None:
    async with app_client(max_concurrent_runs_per_principal=1) as (http, limiter):
        run_id, approval_id = await pause(http)
        await slots_free(limiter)  # paused: no slot held
        holder = await http.post("/v1/runs", json={"message": "hold"})
        assert holder.status_code == 202, holder.text  # so another run may start meanwhile
        answer = {"approval_id": approval_id, "decision": "approve"}
        refused = await http.post(f"/v1/runs/{run_id}/approval", json=answer)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_runs"
        assert int(refused.headers["retry-after"]) >= 1
        assert (await http.get(f"/v1/runs/{run_id}")).json()["status"] == "awaiting_approval"
        await http.post(f"/v1/runs/{holder.json()['run_id']}/cancel")
        await slots_free(limiter)
        accepted = await http.post(f"/v1/runs/{run_id}/approval", json=answer)  # the same answer
        assert accepted.status_code == 202, accepted.text
        async with asyncio.timeout(5):
            while (await http.get(f"/v1/runs/{run_id}")).json()["status"] != "done":
                await asyncio.sleep(0.01)
        await slots_free(limiter)
