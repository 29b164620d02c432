"""The page under Streamlit's AppTest, with the BFF faked at its HTTP boundary (tests/ui/fake_bff.py)."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.ui.fake_bff import SESSION, FakeBff
from ui.turn import Turn


def ask(app: AppTest, message: str) -> AppTest:
    if not app.chat_input:
        app.run()
    return app.chat_input(key="prompt").set_value(message).run()


def texts(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown]


def codes(app: AppTest) -> list[str]:
    return [c.value for c in app.code]


def assistant_messages(app: AppTest) -> int:
    return sum(1 for m in app.chat_message if m.name == "assistant")


def test_first_page_is_empty_with_health_and_no_session_list(app: AppTest, fake: FakeBff) -> None:
    app.run()
    assert not app.exception
    assert ":green[:material/check_circle:] BFF online" in [m.value for m in app.sidebar.markdown]
    assert "What can I help you with?" in "".join(texts(app))
    assert fake.paths() == ["/healthz", "/v1/sessions"]  # the list is not offered (404): hidden
    assert not app.sidebar.subheader


def test_an_answer_streams_into_the_history_with_reasoning_and_metrics(app: AppTest, fake: FakeBff) -> None:
    ask(app, "hello")
    assert not app.exception
    assert "hello" in texts(app)
    answer = [t for t in texts(app) if t.startswith("Hello there!")]
    assert answer == [fake.runs["run_1"].events[-1]["output"]]  # whole, once, without the cursor
    assert [e.label for e in app.expander][:1] == ["Reasoning"]
    assert "The user greets me." in texts(app)
    captions = [c.value for c in app.caption]
    assert any(
        "s to first token" in c and "1.50 s total" in c and "46 tokens (12 in · 34 out)" in c
        for c in captions
    )
    # the session id is shown and kept in the URL; the run id is gone from it once done
    assert SESSION in [c.value for c in app.sidebar.code]
    assert app.query_params.get("session") == SESSION and "run" not in app.query_params
    # the next question goes to the same session
    ask(app, "calc 5+5")
    chats = [r[3] for r in fake.requests if r[1] == "/v1/chat/stream"]
    assert chats == [{"message": "hello"}, {"message": "calc 5+5", "session_id": SESSION}]
    assert assistant_messages(app) == 2


def test_a_tool_call_is_a_status_block_with_arguments_progress_result_and_duration(app: AppTest) -> None:
    ask(app, "calc 5+5")
    assert not app.exception
    [status] = app.status
    assert status.label == "`calculator` done · 12 ms"
    assert json.loads(status.code[0].value) == {"expression": "5+5"}
    assert status.code[1].value == "10"
    [bar] = status.get("progress")
    assert bar.value == 100 and "adding" in bar.proto.text
    assert "The answer is 10." in texts(app)


def test_artifacts_show_as_a_table_and_a_chart_marked_final(app: AppTest) -> None:
    ask(app, "stats please")
    assert not app.exception
    assert "**Summary** &nbsp; :green-badge[:material/check: final]" in texts(app)
    assert "**Trend** &nbsp; :green-badge[:material/check: final]" in texts(app)
    [table] = app.dataframe[:1]
    assert table.value.to_dict("list") == {"n": [1, 2, 3], "mean": [2.0, 4.0, 6.0]}
    assert app.get("arrow_vega_lite_chart") or app.get("vega_lite_chart")


def test_an_error_event_is_shown_with_retry_that_asks_again(app: AppTest, fake: FakeBff) -> None:
    ask(app, "fail please")
    assert [e.value for e in app.error] == ["The model is unavailable right now."]
    assert "error code `model_error`" in [c.value for c in app.caption]
    app.button(key="retry-h0").click().run()
    chats = [r[3]["message"] for r in fake.requests if r[1] == "/v1/chat/stream"]
    assert chats == ["fail please", "fail please"]
    assert len(app.session_state["history"]) == 1  # the failed turn was replaced by the new attempt


def test_a_refused_request_shows_the_bffs_message_without_retry(app: AppTest, fake: FakeBff) -> None:
    fake.chat_status = (413, {"error": {"code": "message_too_long", "message": "The message is too long."}})
    ask(app, "x")
    assert [e.value for e in app.error] == ["The message is too long."]
    assert not [b for b in app.button if b.key and b.key.startswith("retry")]


def test_an_unreachable_bff_is_said_plainly_and_retry_works_once_it_is_back(
    app: AppTest, fake: FakeBff
) -> None:
    fake.unreachable = True
    ask(app, "hello")
    assert ":red[:material/error:] BFF unreachable" in [m.value for m in app.sidebar.markdown]
    [error] = app.error
    assert error.value.startswith("Cannot reach the BFF at http://")
    fake.unreachable = False
    app.button(key="retry-h0").click().run()
    assert [t for t in texts(app) if t.startswith("Hello there!")]
    assert not app.error


def test_past_sessions_are_listed_and_one_can_be_reopened(app: AppTest, fake: FakeBff) -> None:
    other = "other-0123456789abcdef0123456789abcdef"
    fake.sessions = [{"session_id": other, "created": 1.0, "preview": "what is 5+5"}]
    fake.history[other] = [
        {"role": "user", "content": "what is 5+5"},
        {"role": "assistant", "content": "It is 10."},
    ]
    app.run()
    assert [s.value for s in app.sidebar.subheader] == ["Past sessions"]
    app.button(key=f"session-{other}").click().run()
    assert not app.exception
    assert "what is 5+5" in texts(app) and "It is 10." in texts(app)
    assert app.query_params.get("session") == other
    ask(app, "calc")
    assert [r[3] for r in fake.requests if r[1] == "/v1/chat/stream"][-1]["session_id"] == other


def test_new_chat_starts_over(app: AppTest, fake: FakeBff) -> None:
    ask(app, "hello")
    app.sidebar.button[0].click().run()
    assert app.session_state["history"] == [] and app.session_state["session_id"] is None
    assert "session" not in app.query_params
    ask(app, "calc")
    assert [r[3] for r in fake.requests if r[1] == "/v1/chat/stream"][-1] == {"message": "calc"}


def test_a_dropped_stream_is_followed_again_from_the_last_id_without_duplicates(
    app: AppTest, fake: FakeBff
) -> None:
    fake.cut_after = 6
    ask(app, "hello")
    assert not app.exception
    follows = [r for r in fake.requests if r[1] == "/v1/runs/run_1/stream"]
    assert [r[2].get("last-event-id") for r in follows] == ["6"]
    [turn] = app.session_state["history"]
    assert turn.status == "complete" and turn.text == fake.runs["run_1"].events[-1]["output"]


def _interrupted_turn(fake: FakeBff, message: str, seen: int) -> Turn:
    run = fake.start({"message": message})
    turn = Turn(prompt=message, session_id=SESSION)
    for event in run.visible()[:seen]:
        turn.apply(event)
    return turn


def _preset(app: AppTest, **values: object) -> None:
    defaults = {
        "session_id": SESSION,
        "history": [],
        "active": None,
        "stop": False,
        "decision": None,
        "pending_prompt": None,
        "notice": None,
        "adopt_run": None,
    }
    for key, value in {**defaults, **values}.items():
        app.session_state[key] = value


def test_stop_cancels_the_run_and_follows_it_from_the_last_drawn_id(app: AppTest, fake: FakeBff) -> None:
    # The state a Stop click leaves: the streaming loop was interrupted after event 6, the
    # Stop callback set `stop`; this rerun must cancel, then follow the run to its end.
    fake.hold_after = 10
    turn = _interrupted_turn(fake, "long job", seen=6)
    _preset(app, active=turn, stop=True)
    app.query_params["run"] = "run_1"
    app.run()
    assert not app.exception
    assert ("POST", "/v1/runs/run_1/cancel") in [(r[0], r[1]) for r in fake.requests]
    follows = [r[2].get("last-event-id") for r in fake.requests if r[1] == "/v1/runs/run_1/stream"]
    assert follows == ["6"]
    [done] = app.session_state["history"]
    assert done.status == "cancelled" and done.last_seq == 12
    assert ":material/stop_circle: Stopped before the answer was complete." in [c.value for c in app.caption]
    assert "run" not in app.query_params


def test_a_reload_resumes_the_running_answer_from_the_start_once(app: AppTest, fake: FakeBff) -> None:
    run = fake.start({"message": "calc 5+5"})
    app.query_params["run"] = run.run_id
    app.query_params["session"] = SESSION
    app.run()
    assert not app.exception
    assert [r[1] for r in fake.requests if r[1].startswith("/v1/runs")] == [
        "/v1/runs/run_1",
        "/v1/runs/run_1/stream",
    ]
    assert "last-event-id" not in next(r for r in fake.requests if r[1].endswith("/stream"))[2]
    assert texts(app).count("The answer is 10.") == 1
    assert "calc 5+5" in texts(app)  # the question, from the run's status
    assert assistant_messages(app) == 1


def test_an_approval_card_pauses_and_approve_continues_the_same_answer(app: AppTest, fake: FakeBff) -> None:
    ask(app, "please approve this")
    assert not app.exception
    assert ":material/front_hand: **Approval needed**: the agent wants to run `delete_file`" in texts(app)
    assert app.chat_input(key="prompt").disabled
    assert app.query_params.get("run") == "run_1"
    app.button(key="approval-ap1-approve").click().run()
    assert not app.exception
    posts = [r for r in fake.requests if r[1] == "/v1/runs/run_1/approval"]
    assert [p[3] for p in posts] == [{"approval_id": "ap1", "decision": "approve"}]
    assert [r[2].get("last-event-id") for r in fake.requests if r[1] == "/v1/runs/run_1/stream"] == ["3"]
    [turn] = app.session_state["history"]
    assert [b.kind for b in turn.blocks] == ["approval", "tool", "text"] and turn.status == "complete"
    assert ":material/check_circle: Approved" in [c.value for c in app.caption]
    assert "Done, the file is gone." in texts(app) and assistant_messages(app) == 1
    assert not app.chat_input(key="prompt").disabled


def test_reject_and_edit_send_their_decision(app: AppTest, fake: FakeBff) -> None:
    ask(app, "approve 1")
    app.button(key="approval-ap1-reject").click().run()
    assert "I did not delete it." in texts(app)
    ask(app, "approve 2")
    app.text_area(key="approval-ap1-edited").set_value('{"path": "/tmp/safe"}')
    app.button(key="approval-ap1-edit").click().run()
    posts = [r[3] for r in fake.requests if r[1].endswith("/approval")]
    assert posts[-1] == {"approval_id": "ap1", "decision": "edit", "edited_args": {"path": "/tmp/safe"}}
    assert "Done, the file is gone." in texts(app)


def test_an_approval_answered_elsewhere_still_continues_the_answer(app: AppTest, fake: FakeBff) -> None:
    ask(app, "please approve")
    fake.approve(fake.runs["run_1"], {"decision": "approve"})  # another tab answered first
    fake.approval_status = (
        409,
        {"error": {"code": "approval_already_answered", "message": "Already answered."}},
    )
    app.button(key="approval-ap1-approve").click().run()
    assert not app.exception
    assert "Could not send your decision: Already answered." in [w.value for w in app.warning]
    [turn] = app.session_state["history"]
    assert turn.status == "complete" and "Done, the file is gone." in texts(app)
