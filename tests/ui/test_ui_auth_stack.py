"""The UI against the real stack with authentication on: the BFF in `jwt` mode (an HS256 dev secret
and a hashed API key), started by `scripts.devstack.start_stack` on free ports.

The token is minted here with the standard library (HS256 is an HMAC-SHA256 over two base64url
JSON parts), so the UI's environment needs no JWT library. What it proves: without credentials the
real BFF refuses and the UI's client says sign in; with `BFF_BEARER_TOKEN` the page (AppTest, real
HTTP) streams an answer; with `BFF_API_KEY` the client streams as another principal, who does not
see the token user's session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from scripts.devstack import Ports, Stack, start_stack
from ui.client import BffClient
from ui.exceptions import BffHttpError
from ui.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
SECRET = "a-development-secret-of-at-least-32-bytes"
ISSUER = "https://issuer.test"
AUDIENCE = "agentcore-bff-ui"
API_KEY = "ui-shared-key-0123456789"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(sub: str, secret: str = SECRET, ttl_s: int = 600) -> str:
    """An HS256 JWT, as PyJWT would encode it."""
    now = int(time.time())
    claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl_s}
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {
        "BFF_AUTH_MODE": "jwt",
        "BFF_JWT_HS256_SECRET": SECRET,
        "BFF_JWT_ISSUER": ISSUER,
        "BFF_JWT_AUDIENCE": AUDIENCE,
        "BFF_API_KEYS": f"ui:{hashlib.sha256(API_KEY.encode()).hexdigest()}",
    }
    with start_stack(ports=Ports.free(), env=env) as running:
        yield running


async def stream(client: BffClient, message: str) -> list[dict[str, Any]]:
    return [event async for event in client.chat(message, session_id=None)]


async def test_without_credentials_the_real_bff_refuses_and_the_client_says_sign_in(stack: Stack) -> None:
    for settings in (
        Settings(bff_url=stack.url("bff")),
        Settings(bff_url=stack.url("bff"), bff_bearer_token=mint("alice", secret="x" * 40)),
    ):
        client = BffClient(settings)
        with pytest.raises(BffHttpError) as refused:
            await stream(client, "hello")
        assert refused.value.status == 401 and client.auth_refused
        assert refused.value.message.startswith("The BFF needs you to sign in.")


def test_the_page_streams_an_answer_with_a_minted_token(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BFF_URL", stack.url("bff"))
    monkeypatch.setenv("BFF_BEARER_TOKEN", mint("alice"))
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.chat_input(key="prompt").set_value("what is 5+5?").run()
    assert not app.exception and not app.error
    assert not app.sidebar.text_input  # never refused: no sign-in field
    [turn] = app.session_state["history"]
    assert turn.status == "complete" and turn.text.strip()
    assert turn.text in [m.value for m in app.markdown]
    alice = BffClient(Settings(bff_url=stack.url("bff"), bff_bearer_token=mint("alice")))
    assert turn.session_id in [s["session_id"] for s in alice.sessions() or []]


async def test_the_shared_api_key_streams_as_its_own_principal(stack: Stack) -> None:
    client = BffClient(Settings(bff_url=stack.url("bff"), bff_api_key=API_KEY))
    events = await stream(client, "what is 5+5?")
    assert events[-1]["type"] == "done" and events[-1]["status"] == "complete"
    assert any(e["type"] == "token" for e in events)
    mine = {s["session_id"] for s in client.sessions() or []}
    assert mine == {events[0]["session_id"]}  # apikey:ui sees only its own session, not alice's
