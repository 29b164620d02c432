"""A schemathesis run over the BFF's own OpenAPI finds no 5xx.

The real app (guard rails included, in BFF_AUTH_MODE=jwt with a valid token, and without one)
is served by uvicorn on a free loopback port in a thread of its own; the upstream is a small echo
runtime, so every accepted request completes quickly. Schemathesis generates valid and invalid
requests for every operation (a bounded number of examples each, no shrinking, no example
database: the run stays fast and does not depend on earlier runs) and every answer must be < 500.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from bff.app import create_app
from bff.eventlog import MemoryEventLog
from bff.settings import Settings

SECRET = "schemathesis-secret-" + "s" * 32
EXAMPLES_PER_OPERATION = 8


class EchoUpstream:
    """Answers every invocation at once: a start, one token echoing the prompt, the end."""

    def stream(self, payload: dict[str, Any], session_id: str, user_id: str | None = None, **_: Any) -> Any:
        return self._open(payload, session_id)

    @asynccontextmanager
    async def _open(
        self, payload: dict[str, Any], session_id: str
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        prompt = str(payload.get("prompt", ""))[:40]

        async def events() -> AsyncIterator[dict[str, Any]]:
            base = {"timestamp": time.time(), "session_id": session_id}
            yield {**base, "type": "AGENT_START", "model": "echo", "input": prompt}
            yield {**base, "type": "TOKEN", "delta": prompt or "ok", "message_id": "m1"}
            yield {**base, "type": "AGENT_END", "output": prompt, "status": "complete", "usage": {}, "node_timings_ms": {}, "duration_ms": 1.0}  # fmt: skip

        yield events()

    async def stop_session(self, session_id: str, user_id: str | None = None) -> bool:
        return True

    async def invoke_json(self, payload: dict[str, Any], session_id: str, **_: Any) -> dict[str, Any]:
        return {"session_id": session_id, "messages": [{"role": "user", "content": "hi"}]}


class ThreadedServer:
    """uvicorn in a thread with its own event loop, so synchronous clients can call it."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the BFF did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    app = create_app(
        Settings(
            auth_mode="jwt",
            jwt_hs256_secret=SECRET,
            jwt_issuer="https://issuer.test",
            jwt_audience="bff",
            rate_limit_per_minute=0,
            heartbeat_interval_s=1.0,
        ),
        upstream=EchoUpstream(),
        event_log=MemoryEventLog(ttl_s=60),
    )
    with ThreadedServer(app) as url:
        yield url


def token() -> str:
    now = int(time.time())
    claims = {"sub": "fuzzer", "iss": "https://issuer.test", "aud": "bff", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("mode", "authenticated"),
    [(GenerationMode.POSITIVE, True), (GenerationMode.NEGATIVE, True), (GenerationMode.POSITIVE, False)],
    ids=["valid-requests", "invalid-requests", "no-token"],
)
def test_no_operation_answers_5xx(live_url: str, mode: GenerationMode, authenticated: bool) -> None:
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    headers = {"Authorization": f"Bearer {token()}"} if authenticated else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8  # chat, runs, approvals, sessions, health: the schema is complete
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=live_url, headers=headers, timeout=15)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        try:
            check()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing invalid to send (e.g. no parameters)
    assert failures == []
