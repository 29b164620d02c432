"""Runtime events become the native events of docs/events.md; every leg ends exactly once."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bff import events as ev
from bff.normalize import INTERRUPTED, RuntimeEventMapper

SID = "s" * 40


def rt(type_: str, ts: float = 1000.0, **fields: object) -> dict[str, object]:
    return {"type": type_, "timestamp": ts, "session_id": SID, **fields}


CALCULATOR_RUN = [
    rt("AGENT_START", model="offline-rules", input="what is 5+5?"),
    rt("NODE_START", node="agent"),
    rt("LLM_RESPONSE", message={"id": "m1", "content": "", "tool_calls": [{"id": "t1", "name": "calculator", "args": {"expression": "5+5"}}], "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}),
    rt("NODE_END", node="agent", duration_ms=3.5),
    rt("TOOL_CALL", ts=1000.0, tool="calculator", call_id="t1", args={"expression": "5+5"}),
    rt("HEARTBEAT"),
    rt("TOOL_PROGRESS", tool="calculator", call_id="t1", progress=0.5, message="adding"),
    rt("TOOL_RESULT", ts=1000.25, tool="calculator", call_id="t1", result="10", status="success"),
    rt("NODE_START", node="agent"),
    rt("TOKEN", delta="The answer ", message_id="m2"),
    rt("TOKEN", delta="is 10.", message_id="m2"),
    rt("AGENT_END", output="The answer is 10.", status="complete", usage={"input_tokens": 20, "output_tokens": 9, "total_tokens": 29}, node_timings_ms={"agent": 7.0, "tools": 250.0}, duration_ms=300.0),
]  # fmt: skip


def run(events: list[dict[str, object]]) -> list[tuple[str, dict[str, object]]]:
    mapper = RuntimeEventMapper()
    out = [pair for e in events for pair in mapper.feed(e)]
    return out + mapper.finish()


def test_a_tool_run_maps_type_by_type() -> None:
    out = run(CALCULATOR_RUN)
    assert [t for t, _ in out] == [
        "agent_start", "node_start", "message", "node_end", "tool_start", "tool_progress",
        "tool_end", "node_start", "token", "token", "done",
    ]  # fmt: skip
    by_type = {t: p for t, p in out}
    assert by_type["agent_start"] == {"model": "offline-rules"}
    assert by_type["tool_start"] == {"tool": "calculator", "call_id": "t1", "args": {"expression": "5+5"}}
    assert by_type["tool_progress"] == {
        "tool": "calculator",
        "call_id": "t1",
        "progress": 0.5,
        "message": "adding",
    }
    assert by_type["tool_end"] == {
        "tool": "calculator",
        "call_id": "t1",
        "result": "10",
        "status": "success",
        "duration_ms": 250.0,
    }
    assert by_type["message"]["tool_calls"][0]["name"] == "calculator"
    assert by_type["message"]["usage"] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert by_type["done"] == {
        "status": "complete",
        "output": "The answer is 10.",
        "usage": {"input_tokens": 20, "output_tokens": 9, "total_tokens": 29},
        "node_timings_ms": {"agent": 7.0, "tools": 250.0},
        "duration_ms": 300.0,
    }  # fmt: skip


def test_payloads_never_carry_runtime_envelope_fields_and_are_json() -> None:
    for type_, payload in run(CALCULATOR_RUN):
        assert type_ in ev.EVENT_TYPES
        assert not {"timestamp", "session_id", "type", "seq", "ts", "run_id"} & payload.keys()
        json.dumps(payload)


def test_never_emits_start() -> None:
    assert "start" not in [t for t, _ in run(CALCULATOR_RUN)]


def test_runtime_error_becomes_error_then_done_error() -> None:
    out = run(
        [rt("AGENT_START", model="m"), rt("ERROR", code="model_error", message="The model is unavailable.")]
    )
    assert out[1:] == [
        ("error", {"code": "model_error", "message": "The model is unavailable.", "retryable": True}),
        ("done", out[2][1]),
    ]
    assert out[2][1]["status"] == "error"
    assert set(out[2][1]) == {"status", "output", "usage", "node_timings_ms", "duration_ms"}


def test_sdk_failure_frame_becomes_a_safe_error() -> None:
    frame = {
        "error": "boom at /srv/secret.py line 3 arn:aws:x",
        "error_type": "RuntimeError",
        "message": "An error occurred during streaming",
    }
    out = run([rt("TOKEN", delta="a", message_id="m"), frame])
    assert [t for t, _ in out] == ["token", "error", "done"]
    error = out[1][1]
    assert error["code"] == "runtime_error"
    assert "secret" not in error["message"] and "arn" not in error["message"]
    assert out[2][1]["status"] == "error"


def test_stream_that_ends_without_terminal_is_upstream_incomplete() -> None:
    out = run([rt("AGENT_START", model="m"), rt("TOKEN", delta="a", message_id="m")])
    assert [t for t, _ in out][-2:] == ["error", "done"]
    assert out[-2][1]["code"] == "upstream_incomplete"
    assert out[-1][1]["status"] == "error"


def test_events_after_the_terminal_are_dropped_and_finish_adds_nothing() -> None:
    mapper = RuntimeEventMapper()
    assert [t for t, _ in mapper.feed(CALCULATOR_RUN[-1])] == ["done"]
    assert mapper.feed(rt("TOKEN", delta="late", message_id="m")) == []
    assert mapper.feed(rt("ERROR", code="x", message="y")) == []
    assert mapper.finish() == []
    assert mapper.fail("upstream_timeout", "late") == []


def test_fail_reports_an_upstream_break_once() -> None:
    mapper = RuntimeEventMapper()
    out = mapper.fail("upstream_timeout", "The agent stopped answering.")
    assert [t for t, _ in out] == ["error", "done"]
    assert out[0][1] == {
        "code": "upstream_timeout",
        "message": "The agent stopped answering.",
        "retryable": True,
    }
    assert mapper.finish() == []


def test_approval_then_interrupted_marker_without_done() -> None:
    out = run([
        rt("AGENT_START", model="m"),
        rt("APPROVAL_REQUIRED", approval_id="ap1", tool="save_note", call_id="c1", args={"text": "x"}, choices=["approve", "reject", "edit"]),
        rt("AGENT_END", output="", status="interrupted", usage={"input_tokens": 1, "output_tokens": 2}, node_timings_ms={}, duration_ms=5),
    ])  # fmt: skip
    assert [t for t, _ in out] == ["agent_start", "approval_required", INTERRUPTED]
    assert out[1][1] == {
        "approval_id": "ap1",
        "tool": "save_note",
        "call_id": "c1",
        "args": {"text": "x"},
        "choices": ["approve", "reject", "edit"],
    }
    marker = out[2][1]
    assert marker["approval_id"] == "ap1"
    assert marker["usage"] == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    assert "status" not in marker


def test_unknown_types_and_junk_are_dropped_with_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    mapper = RuntimeEventMapper()
    with caplog.at_level(logging.DEBUG, logger="bff.normalize"):
        assert mapper.feed({"type": "SOMETHING_NEW", "x": 1}) == []
        assert mapper.feed({"no_type": True}) == []
        assert mapper.feed({"type": 42}) == []
    assert "SOMETHING_NEW" in caplog.text
    assert mapper.terminated is None


def test_done_without_runtime_totals_uses_what_the_leg_saw() -> None:
    clock = iter([0.0, 1.5]).__next__
    mapper = RuntimeEventMapper(clock=clock)
    mapper.feed(rt("NODE_END", node="agent", duration_ms=2.0))
    mapper.feed(rt("NODE_END", node="agent", duration_ms=3.0))
    mapper.feed(
        rt(
            "LLM_RESPONSE",
            message={
                "id": "m",
                "content": "hi",
                "tool_calls": [],
                "usage": {"input_tokens": 4, "output_tokens": 1},
            },
        )
    )
    (done,) = mapper.feed({"type": "AGENT_END", "output": "hi"})
    assert done[1]["usage"] == {"input_tokens": 4, "output_tokens": 1, "total_tokens": 5}
    assert done[1]["node_timings_ms"] == {"agent": 5.0}
    assert done[1]["duration_ms"] == 1500.0


def test_tool_duration_falls_back_to_the_bff_clock_without_timestamps() -> None:
    clock = iter([0.0, 10.0, 10.4]).__next__
    mapper = RuntimeEventMapper(clock=clock)
    mapper.feed({"type": "TOOL_CALL", "tool": "t", "call_id": "c", "args": {}})
    ((_, end),) = mapper.feed({"type": "TOOL_RESULT", "tool": "t", "call_id": "c", "result": "r"})
    assert end["duration_ms"] == pytest.approx(400.0)
    assert end["status"] == "success"


_runtime_types = st.sampled_from(
    ["AGENT_START", "NODE_START", "NODE_END", "THINKING", "TOKEN", "TOOL_CALL", "TOOL_PROGRESS",
     "TOOL_RESULT", "LLM_RESPONSE", "AGENT_END", "ERROR", "HEARTBEAT", "APPROVAL_REQUIRED", "NEW"]
)  # fmt: skip
_junk = st.dictionaries(st.sampled_from(["delta", "node", "message", "call_id", "status", "usage", "output"]),
                        st.one_of(st.none(), st.text(max_size=5), st.integers(), st.floats(allow_nan=False)), max_size=4)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(stream=st.lists(st.tuples(_runtime_types, _junk), max_size=20))
def test_any_runtime_stream_ends_with_exactly_one_terminal_and_never_crashes(
    stream: list[tuple[str, dict[str, object]]],
) -> None:
    out = run([{"type": t, **fields} for t, fields in stream])
    types = [t for t, _ in out]
    terminals = [t for t in types if t in {"done", INTERRUPTED}]
    assert len(terminals) == 1 and types[-1] == terminals[0]
    if types[-1] == "done" and out[-1][1]["status"] == "error":
        assert types[-2] == "error"
    for _, payload in out:
        json.dumps(payload)
