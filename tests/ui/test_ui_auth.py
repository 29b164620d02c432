"""Signing in to a BFF that requires it, under AppTest with the fake BFF wanting a bearer token.

Without credentials every call but /healthz is refused (401): the page says "The BFF needs you to
sign in" and offers a password field; a pasted token (or `BFF_BEARER_TOKEN`, or `BFF_API_KEY`)
goes on every request and the answer streams.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.fake_bff import SESSION, FakeBff
from ui.client import BffClient
from ui.exceptions import BffHttpError
from ui.settings import Settings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.test-token.signature"
ANSWER = "Hello there!"


def ask(app: AppTest, message: str) -> AppTest:
    if not app.chat_input:
        app.run()
    return app.chat_input(key="prompt").set_value(message).run()


def answers(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if m.value.startswith(ANSWER)]


def authorizations(fake: FakeBff, path: str) -> list[str | None]:
    return [r[2].get("authorization") for r in fake.requests if r[1] == path]


def test_without_a_token_the_page_says_sign_in_and_no_stack_trace(app: AppTest, fake: FakeBff) -> None:
    fake.require_token = TOKEN
    ask(app, "hello")
    assert not app.exception
    assert [w.value for w in app.sidebar.warning] == ["The BFF needs you to sign in."]
    [field] = app.sidebar.text_input
    assert field.key == "token_input" and field.proto.type == field.proto.PASSWORD
    [error] = app.error
    assert error.value == "The BFF needs you to sign in. Paste a bearer token in the sidebar."
    assert not answers(app) and not fake.runs  # nothing ran
    assert not [b for b in app.button if b.key and b.key.startswith("retry")]


def test_a_pasted_token_is_sent_and_the_refused_question_is_asked_again(app: AppTest, fake: FakeBff) -> None:
    fake.require_token = TOKEN
    ask(app, "hello")
    app.text_input(key="token_input").input(TOKEN).run()
    assert not app.exception
    assert authorizations(fake, "/v1/chat/stream") == [None, f"Bearer {TOKEN}"]
    [turn] = app.session_state["history"]  # the refused turn was replaced by the answered one
    assert turn.status == "complete" and turn.prompt == "hello"
    assert answers(app) == [fake.runs["run_1"].events[-1]["output"]]
    assert not app.sidebar.warning and not app.error
    assert app.session_state["auth_token"] == TOKEN
    # the token stays for the next question, the session list and the rest
    ask(app, "calc 5+5")
    assert authorizations(fake, "/v1/chat/stream")[-1] == f"Bearer {TOKEN}"
    assert authorizations(fake, "/v1/sessions")[-1] == f"Bearer {TOKEN}"
    assert "The answer is 10." in [m.value for m in app.markdown]


def test_a_wrong_token_is_refused_again_and_says_so(app: AppTest, fake: FakeBff) -> None:
    fake.require_token = TOKEN
    ask(app, "hello")
    app.text_input(key="token_input").input("not-the-token").run()
    assert not app.exception
    assert [w.value for w in app.sidebar.warning] == ["The BFF needs you to sign in."]
    [error] = app.error
    assert error.value.startswith("The BFF needs you to sign in. Authentication required.")
    app.text_input(key="token_input").input(TOKEN).run()
    assert answers(app) and not app.error


def test_bff_bearer_token_from_the_environment_goes_on_every_request(
    app: AppTest, fake: FakeBff, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.require_token = TOKEN
    monkeypatch.setenv("BFF_BEARER_TOKEN", TOKEN)
    ask(app, "please approve this")
    app.button(key="approval-ap1-approve").click().run()
    assert not app.exception
    assert not app.sidebar.text_input  # nothing refused: no sign-in field
    calls = [(r[1], r[2].get("authorization")) for r in fake.requests if r[1] != "/healthz"]
    assert {path for path, _ in calls} == {
        "/v1/sessions",
        "/v1/chat/stream",
        "/v1/runs/run_1/approval",
        "/v1/runs/run_1/stream",
    }
    assert {auth for _, auth in calls} == {f"Bearer {TOKEN}"}
    [turn] = app.session_state["history"]
    assert turn.status == "complete" and "Done, the file is gone." in [m.value for m in app.markdown]


def test_a_session_whose_history_was_refused_loads_once_signed_in(app: AppTest, fake: FakeBff) -> None:
    fake.require_token = TOKEN
    fake.history[SESSION] = [
        {"role": "user", "content": "what is 5+5"},
        {"role": "assistant", "content": "It is 10."},
    ]
    app.query_params["session"] = SESSION
    app.run()
    assert "Could not load this conversation's history: The BFF needs you to sign in." in app.warning[0].value
    app.text_input(key="token_input").input(TOKEN).run()
    assert not app.exception
    assert "It is 10." in [m.value for m in app.markdown]


def test_the_client_sends_one_kind_of_credential_and_never_shows_it(fake: FakeBff) -> None:
    fake.require_token = TOKEN
    settings = Settings(bff_url="http://bff.test", bff_api_key="shared-ui-key", bff_bearer_token="env-token")
    assert "shared-ui-key" not in repr(settings) and "env-token" not in repr(settings)
    assert BffClient(settings)._auth_headers() == {"Authorization": "Bearer env-token"}
    assert BffClient(settings, token=TOKEN)._auth_headers() == {"Authorization": f"Bearer {TOKEN}"}
    key_only = Settings(bff_url="http://bff.test", bff_api_key="shared-ui-key")
    assert BffClient(key_only)._auth_headers() == {"X-API-Key": "shared-ui-key"}
    refused = BffClient(key_only)
    with pytest.raises(BffHttpError) as raised:
        refused.sessions()
    assert raised.value.status == 401 and refused.auth_refused
    assert fake.requests[-1][2]["x-api-key"] == "shared-ui-key"
    assert "shared-ui-key" not in raised.value.message
    assert BffClient(key_only, token=TOKEN).sessions() is None  # accepted; the fake offers no list (404)
