"""The turn model: native events folded into the blocks the page shows, each applied once."""

from __future__ import annotations

from typing import Any

from tests.ui.fake_bff import SESSION, done, scenario
from ui.history import turns_from_messages
from ui.turn import STATUS, THINKING, ApprovalBlock, ArtifactBlock, TextBlock, ToolBlock, Turn


def numbered(events: list[dict[str, Any]], start: int = 1) -> list[dict[str, Any]]:
    return [
        {**e, "seq": start + i, "run_id": "run_1", "session_id": SESSION, "ts": 100.0 + start + i}
        for i, e in enumerate(events)
    ]


def fold(events: list[dict[str, Any]], turn: Turn | None = None) -> Turn:
    turn = turn or Turn(prompt="q")
    for event in events:
        turn.apply(event)
    return turn


def test_tokens_grow_one_text_block_and_start_sets_the_ids() -> None:
    turn = Turn(prompt="q")
    events = numbered([{"type": "start"}, *scenario("hello")[0]])
    assert turn.apply(events[0]) == {STATUS}
    assert (turn.run_id, turn.session_id) == ("run_1", SESSION)
    changes = [turn.apply(e) for e in events[1:]]
    assert {THINKING} in changes and {0} in changes
    assert turn.thinking == "The user greets me."
    assert [type(b) for b in turn.blocks] == [TextBlock]
    assert turn.text.startswith("Hello there! I am a scripted fake")
    assert turn.status == "complete" and turn.finished
    assert turn.usage["total_tokens"] == 46 and turn.node_timings_ms == {"agent": 120.0, "tools": 30.5}
    assert turn.ttft_s is not None and turn.ttft_s > 0 and turn.total_s == 1.5


def test_an_event_is_applied_once_so_replays_do_not_duplicate_text() -> None:
    events = numbered([{"type": "start"}, *scenario("hello")[0]])
    turn = fold(events[:5])
    text = turn.text
    assert fold(events[:5], turn).text == text  # a replay of what we already have changes nothing
    fold(events, turn)
    assert turn.text == fold(events).text


def test_tools_and_text_stay_in_order_and_tool_fields_fill_in() -> None:
    turn = fold(numbered([{"type": "start"}, *scenario("calc")[0]]))
    tool, text = turn.blocks
    assert isinstance(tool, ToolBlock) and isinstance(text, TextBlock)
    assert tool.tool == "calculator" and tool.args == {"expression": "5+5"}
    assert (tool.result, tool.status, tool.duration_ms, tool.progress) == ("10", "success", 12.0, 1.0)
    assert text.text == "The answer is 10."


def test_progress_is_clamped_and_message_kept() -> None:
    turn = fold(
        numbered(
            [
                {"type": "tool_start", "tool": "t", "call_id": "c", "args": {}},
                {"type": "tool_progress", "tool": "t", "call_id": "c", "progress": 1.7, "message": "m"},
                {"type": "tool_progress", "tool": "t", "call_id": "c", "progress": None},
            ]
        )
    )
    tool = turn.blocks[0]
    assert isinstance(tool, ToolBlock) and tool.progress == 1.0 and tool.message == "m"


def test_artifacts_are_updated_in_place_from_in_progress_to_final() -> None:
    events = numbered(scenario("stats")[0])
    turn = Turn(prompt="q")
    changes = [turn.apply(e) for e in events]
    kinds = [b.kind for b in turn.blocks]
    assert kinds == ["tool", "artifact", "artifact", "text"]
    assert changes[1] == {0, 1}  # the tool's progress and the new table
    table, chart = turn.blocks[1], turn.blocks[2]
    assert isinstance(table, ArtifactBlock) and isinstance(chart, ArtifactBlock)
    assert table.artifact["status"] == "final" and len(table.artifact["rows"]) == 3
    assert chart.artifact["kind"] == "chart" and chart.artifact["status"] == "final"


def test_error_then_done_marks_the_turn_failed_with_a_safe_message() -> None:
    turn = fold(numbered(scenario("fail")[0]))
    assert turn.status == "error"
    assert turn.error == {
        "code": "model_error",
        "message": "The model is unavailable right now.",
        "retryable": True,
    }
    assert turn.text == "Let me"


def test_cancelled_then_done_is_cancelled() -> None:
    turn = fold(numbered([*scenario("hello")[0][:3], {"type": "cancelled"}, done(status="cancelled")]))
    assert turn.status == "cancelled" and turn.error is None


def test_approval_pauses_and_a_decision_resumes_in_the_same_turn() -> None:
    before, after = scenario("approve")
    turn = fold(numbered(before))
    assert turn.status == "awaiting_approval" and not turn.finished
    card = turn.pending_approval
    assert isinstance(card, ApprovalBlock) and card.tool == "delete_file" and card.args == {"path": "/tmp/x"}
    turn.decide("edit", {"path": "/tmp/y"})
    assert turn.status == "streaming" and turn.pending_approval is None
    assert card.decision == "edit" and card.edited_args == {"path": "/tmp/y"}
    fold(numbered(after, start=len(before) + 1), turn)
    assert turn.status == "complete" and [b.kind for b in turn.blocks] == ["approval", "tool", "text"]


def test_a_message_without_streamed_tokens_is_shown_once() -> None:
    turn = fold(
        numbered([{"type": "message", "message_id": "x", "content": "whole answer", "tool_calls": []}])
    )
    turn = fold(numbered([{"type": "message", "message_id": "x", "content": "whole answer"}], start=2), turn)
    assert turn.text == "whole answer"
    streamed = fold(
        numbered([*scenario("calc")[0][-3:-1], {"type": "message", "message_id": "m1", "content": "x"}])
    )
    assert "x" not in streamed.text


def test_done_output_is_shown_when_nothing_streamed() -> None:
    assert fold(numbered([done("only the output")])).text == "only the output"


def test_events_without_seq_still_apply_and_unknown_types_are_ignored() -> None:
    turn = Turn(prompt="q")
    assert turn.apply({"type": "node_start", "node": "agent"}) == set()
    assert turn.apply({"type": "token", "delta": "a"}) == {0}
    assert turn.apply({"type": "token", "delta": "b"}) == {0}
    assert turn.text == "ab"


def test_history_messages_become_turns() -> None:
    turns = turns_from_messages(
        [
            {"role": "user", "content": "what is 5+5"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c1", "name": "calculator", "args": {"e": "5+5"}}],
            },
            {"role": "tool", "content": "10", "tool_call_id": "c1"},
            {"role": "assistant", "content": [{"type": "text", "text": "It is 10."}]},
            {"role": "human", "content": "thanks"},
        ]
    )
    assert [t.prompt for t in turns] == ["what is 5+5", "thanks"]
    tool, text = turns[0].blocks
    assert isinstance(tool, ToolBlock) and tool.result == "10" and tool.status == "success"
    assert isinstance(text, TextBlock) and text.text == "It is 10."
    assert all(t.status == "complete" for t in turns)
